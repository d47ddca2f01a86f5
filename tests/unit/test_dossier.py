"""Site dossiers (一户一档) in the inventory: read from the example district, refused with file, line and
field when a field is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud.inventory import load_inventory
from cloud.site_overview import dossier_of
from devices.errors import SiteConfigError
from tests.conftest import ROOT

SITE = """sites:
  - id: st-1
    name: 一号站
    kind: micro_station
    street: 西溪街道
    gateway: gw-st-1
  - id: shed-1
    name: 一号棚
    kind: charging_shed
    street: 西溪街道
    gateway: gw-shed-1
    dossier:
      address: 西溪路 1 号
      contacts:
        - {name: 王建国, role: 物业值班, phone: "PHONE", hours: "HOURS"}
      water:
        - {kind: hydrant, where: 北门外}
      nearest_station: {site: STATION, distance_m: 850}
"""


def _write(tmp_path: Path, phone: str = "13800138000", hours: str = "20:00-08:00", station: str = "st-1") -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text(SITE.replace("PHONE", phone).replace("HOURS", hours).replace("STATION", station), "utf-8")
    return path


def test_a_dossier_is_read_and_its_nearest_station_named(tmp_path: Path) -> None:
    inventory = load_inventory(_write(tmp_path))
    shown = dossier_of(inventory, "shed-1")
    assert shown is not None
    assert shown["contacts"] == [{"name": "王建国", "role": "物业值班", "phone": "13800138000", "hours": "20:00-08:00"}]
    assert shown["nearest_station"] == {"site": "st-1", "distance_m": 850, "name": "一号站"}
    assert dossier_of(inventory, "st-1") is None
    example = load_inventory(ROOT / "deploy" / "examples" / "inventory.yaml")
    assert all(site.get("dossier") for site in example.values())  # the demo's sites have theirs


@pytest.mark.parametrize(("change", "field", "reason"), [
    ({"phone": "call me"}, "phone", "a phone is 5 to 20 digits"),
    ({"hours": "8-18"}, "hours", "duty hours are HH:MM-HH:MM"),
    ({"station": "shed-1"}, "site", "not a micro station"),
    ({"station": "nowhere"}, "site", "not a micro station"),
])
def test_a_wrong_field_is_refused_with_file_line_and_field(tmp_path: Path, change: dict[str, str], field: str,
                                                           reason: str) -> None:
    with pytest.raises(SiteConfigError) as refused:
        load_inventory(_write(tmp_path, **change))
    assert reason in str(refused.value) and field in str(refused.value.field)
    assert refused.value.file == str(tmp_path / "inventory.yaml") and refused.value.line
