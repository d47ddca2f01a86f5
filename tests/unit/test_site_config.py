"""Site files: the examples load against the shipped profiles; mistakes are refused with line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.errors import SiteConfigError
from devices.profile_loader import load_profile_dir
from devices.site_config import load_site
from tests.conftest import PROFILES, SITES

PROFILE_SET = load_profile_dir(PROFILES)
SHED = (SITES / "charging-shed.yaml").read_text()


def test_example_sites_load() -> None:
    shed = load_site(SITES / "charging-shed.yaml", PROFILE_SET)
    assert shed.kind == "charging_shed" and shed.street == "西溪街道"
    assert {b.type for b in shed.buses} == {"modbus_rtu", "modbus_tcp", "serial"}
    assert {d.profile for d in shed.devices} >= {"xingdian-cb10", "lvneng-ln20s", "hengan-sd100-fw1",
                                                  "aquaguard-sm200", "shishi-nvr8"}
    assert [d.id for d in shed.devices_on("rs485-1")] == ["box1", "sd1", "sd2", "sd3", "spr1"]
    station = load_site(SITES / "micro-station.yaml", PROFILE_SET)
    assert station.indicator == ("sd-garage", "sounder")
    cabinets = load_site(SITES / "fire-cabinets.yaml", PROFILE_SET)
    assert sum(d.profile == "anbao-fc300" for d in cabinets.devices) == 4


@pytest.mark.parametrize(("old", "new", "reason", "line"), [
    ("unit: 11, groups: [shed, smoke]}", "unit: 1, groups: [shed, smoke]}",
     "unit 1 on bus 'rs485-1' is already 'box1'", 18),
    ("bus: nvr, unit: 1}", "bus: lan, unit: 1}", "unknown bus 'lan'", 24),
    ("profile: aquaguard-sm200", "profile: aquaguard-sm300", "unknown firmware profile 'aquaguard-sm300'", 21),
    ("profile: shishi-nvr8, bus: nvr", "profile: lvneng-ln20s, bus: nvr",
     "speaks serial, but bus 'nvr' is modbus_tcp", 24),
    ("kind: charging_shed", "kind: carport", "'carport' is not one of", 6),
    ("baud: 9600, parity: N}", "baud: 9601, parity: N}", "9601 is not one of", 12),
    ("  location: {lat: 30.2741, lon: 120.1296}", "  location: {lat: 130.2741, lon: 120.1296}",
     "not a place on Earth", 8),
])
def test_site_mistakes_are_refused(tmp_path: Path, old: str, new: str, reason: str, line: int) -> None:
    assert old in SHED
    path = tmp_path / "site.yaml"
    path.write_text(SHED.replace(old, new, 1))
    with pytest.raises(SiteConfigError) as info:
        load_site(path, PROFILE_SET)
    assert reason in info.value.reason
    assert info.value.file == str(path) and info.value.line == line


def test_initial_values_must_name_real_points(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(SHED.replace("groups: [shed, smoke]}", "groups: [shed, smoke], initial: {smoke: true}}", 1))
    with pytest.raises(SiteConfigError, match="initial value for unknown point 'smoke'"):
        load_site(path, PROFILE_SET)
