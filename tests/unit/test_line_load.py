"""An installer is told when a line's alarm points need more wire than it has (issue 18.1)."""

from __future__ import annotations

from pathlib import Path

from devices.profile_loader import load_profile_dir
from devices.site_config import load_site
from edge.line_load import line_loads

SHED = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "sites" / "charging-shed.yaml"


def test_the_example_sheds_line_is_overloaded_at_9600_baud_and_fits_at_115200(tmp_path: Path) -> None:
    profiles = load_profile_dir()
    (slow,) = line_loads(load_site(SHED, profiles), profiles)
    assert slow.bus.id == "rs485-1" and slow.fast_share > 1.0 and "OVERLOADED" in slow.describe()
    assert 0.5 < slow.cut_round_s < 0.7  # ten port frames and three smoke frames, with their pauses
    fast_site = tmp_path / "shed.yaml"
    fast_site.write_text(SHED.read_text().replace("baud: 9600, parity: N}", "baud: 115200, parity: N}"))
    (fast,) = line_loads(load_site(fast_site, profiles), profiles)
    assert fast.fast_share < 1.0 and "OVERLOADED" not in fast.describe()
    assert fast.cut_floor_s < slow.cut_floor_s / 2
