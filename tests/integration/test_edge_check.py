"""`firefleet edge --check`: what an installer runs on the Pi before starting the service."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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


SHED = (SITES / "charging-shed.yaml").read_text()


@pytest.mark.parametrize(("old", "new", "reason"), [
    # Issue 11.9: each of these was 'ok' on the old main, and would not protect the site.
    ("{group: shed, point: relay, value: false}", "{group: shed, point: relais, value: false}",
     "matches nothing writable"),
    ("{group: shed, point: relay, value: false}", "{group: shed, point: relay, value: {a: [1, 2]}}",
     "true or false"),
    ("{rule: port-overheat-cut, device: box1, for: 3s}", "{rule: port-overheet-cut, device: box1, for: 3s}",
     "no rule 'port-overheet-cut'"),
    ("{rule: port-overheat-cut, device: box1, for: 3s}", "{rule: port-overheat-cut, for: 3s}",
     "either a device or a group"),
    ("{rule: port-overheat-cut, device: box1, for: 3s}",
     "{rule: port-overheat-cut, device: box1, for: 99999999999999999999999999d}", "longer than 30 days"),
    ("  id: gw-shed-xixi-01\n", "  id: gw-shed-xixi-01\n  indicator: {device: sd2, point: lamp}\n",
     "no writable point 'lamp'"),
])
def test_a_site_file_that_would_not_protect_the_site_is_refused(tmp_path: Path, old: str, new: str,
                                                                reason: str) -> None:
    assert old in SHED
    bad = tmp_path / "site.yaml"
    bad.write_text(SHED.replace(old, new, 1))
    done = run_check(bad)
    assert done.returncode != 0 and reason in done.stderr, done.stderr
    assert f"{bad}:" in done.stderr and "Traceback" not in done.stderr
