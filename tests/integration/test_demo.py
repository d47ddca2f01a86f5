"""`firefleet demo --headless` end to end: embedded broker, six simulated sites, six edge agents, the
collector; it exits 0 only when every scenario alarm (including one replayed after a link cut) arrived."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.support.mosquitto import free_port


def test_the_headless_demo_delivers_every_scenario_alarm(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "devices.cli", "demo", "--headless", "--duration", "100",
                             "--port", str(free_port()), "--run-dir", str(tmp_path / "demo")],
                            cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    out = result.stdout
    assert "every scenario alarm reached the collector" in out
    for line in ("port overheat, cut locally", "every port of the shed cut", "cabinet door open (replayed)",
                 "detector offline"):
        assert f"ok   {line}" in out
    # the garage detector, and the cabinet group's gateway that was cut off for 30 s (the demo gives
    # tickets after 30 s offline; it is back, so its ticket waits for review)
    assert "maintenance tickets open: 2 (cabinets-cuiyuan-01 gateway_offline, sd-garage offline)" in out
    assert "readiness station-wenxin-01: 85.7 %" in out  # vehicle 2 low and the garage detector gone
    assert "Traceback" not in result.stderr
    # issue 16: a corrected detector profile rolled out to both charging sheds, the canary first
    assert "to the charging sheds: completed, successful 2" in out
    # The status loop looks every 10 s on one session: one login in the audit trail, not two per look.
    with sqlite3.connect(tmp_path / "demo" / "cloud.sqlite") as db:
        logins = db.execute("SELECT COUNT(*) FROM audit WHERE action = 'login' AND who = 'duty'").fetchone()[0]
    assert logins == 1, f"{logins} logins by the demo's status loop"
