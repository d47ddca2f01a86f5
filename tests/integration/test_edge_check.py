"""`firefleet edge --check`: what an installer runs on the Pi before starting the service."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import SITES


def run_check(site_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devices.cli", "edge", "--config", str(site_file), "--check"],
                          capture_output=True, text=True, timeout=60)


def test_a_good_site_file_is_described_bus_by_bus() -> None:
    done = run_check(SITES / "charging-shed.yaml")
    assert done.returncode == 0, done.stderr
    assert "site shed-xixi-01" in done.stdout and "7 devices" in done.stdout
    assert "sd2@12 hengan-sd100-fw2" in done.stdout


def test_a_bad_unit_id_is_refused_with_its_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "site.yaml"
    bad.write_text((SITES / "charging-shed.yaml").read_text().replace("unit: 11", "unit: 300"))
    done = run_check(bad)
    assert done.returncode != 0
    assert f"{bad}:18: [devices[1].unit] 300 is outside 1..247" in done.stderr
    assert "Traceback" not in done.stderr
