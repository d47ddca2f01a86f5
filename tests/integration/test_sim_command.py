"""`firefleet sim` as a user runs it: starts, says where everything is, plays scenarios, stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import ROOT, SITES


def firefleet(*args: str, **kw: object) -> subprocess.Popen[str]:
    proc: subprocess.Popen[str] = subprocess.Popen(  # type: ignore[call-overload]
        [sys.executable, "-m", "devices.cli", *args], cwd=ROOT, text=True, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, **kw)
    return proc


def wait_for(path: Path, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_sim_serves_prints_and_stops_cleanly(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("name: quick\nsteps:\n"
                        "  - {at: 0.2s, site: shed-xixi-01, device: box1, set: {port3.temperature: 71.5}}\n"
                        "  - {at: 0.2s, site: shed-xixi-01, device: sd3, fault: {kind: no_reply}}\n")
    proc = firefleet("sim", "--site", str(SITES / "charging-shed.yaml"), "--control-port", "0",
                     "--run-dir", str(tmp_path / "run"), "--scenario", str(scenario))
    try:
        wait_for(tmp_path / "run" / "served.json")
        served = json.loads((tmp_path / "run" / "served.json").read_text())
        buses = served["sites"]["shed-xixi-01"]
        assert Path(buses["rs485-1"]["path"]).is_symlink()
        assert buses["nvr"]["port"] > 0
        deadline = time.monotonic() + 10
        while True:
            box = httpx.get(f"{served['control']}/sites/shed-xixi-01/devices/box1").json()
            sd3 = httpx.get(f"{served['control']}/sites/shed-xixi-01/devices/sd3").json()
            if box["signals"]["port3.temperature"] == 71.5 and sd3["faults"]:
                break
            assert time.monotonic() < deadline, "scenario steps never applied"
            time.sleep(0.1)
        assert "port3.temperature" in box["held"] and sd3["faults"][0]["kind"] == "no_reply"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "firefleet simulators: 1 sites, 7 devices" in out
    assert "rs485-1" in out and "modbus_rtu" in out and "control API: http://127.0.0.1:" in out
    assert "Traceback" not in err
    assert not Path(buses["rs485-1"]["path"]).exists(), "the pty link is removed on exit"


def test_sim_refuses_a_bad_site_file_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "site.yaml"
    bad.write_text((SITES / "charging-shed.yaml").read_text().replace("unit: 12", "unit: 11"))
    proc = firefleet("sim", "--site", str(bad), "--control-port", "0", "--run-dir", str(tmp_path / "run"))
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert f"{bad}:19: [devices[2].unit] unit 11 on bus 'rs485-1' is already 'sd1'" in err
    assert "Traceback" not in err


def test_sim_says_when_its_control_port_is_taken(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = firefleet("sim", "--site", str(SITES / "fire-cabinets.yaml"), "--control-port", str(port),
                         "--run-dir", str(tmp_path / "run"), env={**os.environ})
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in err and "Traceback" not in err
