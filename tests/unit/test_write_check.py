"""Every write is checked against the device's profile before it leaves the collector and again at the agent.
Issue 10.1, reproduced on the old main: FC16 to the read-only `energy` of a single-register-write box, a
relay switched on by `7`, and a threshold written far outside its range were all sent and 'successful'."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from devices.profile import Point
from devices.profile_loader import load_profile_dir
from devices.write_check import WriteRefused, check_write

PROFILES = load_profile_dir()
BOX = PROFILES["xingdian-cb10"]


@pytest.mark.parametrize(("point", "value", "reason"), [
    ("port1.energy", 1, "read-only"),
    ("port1.relay", 7, "takes true or false"),
    ("port1.relay", "false", "takes true or false"),
    ("port1.relay", None, "takes true or false"),
    ("port1.current_limit", "3", "takes a number"),
    ("port1.current_limit", float("nan"), "takes a number"),
    ("port1.current_limit", 3.555, "steps of 0.01"),
    ("port99.relay", False, "no point"),
])
def test_unsafe_writes_are_refused_with_a_reason(point: str, value: Any, reason: str) -> None:
    with pytest.raises(WriteRefused, match=reason):
        check_write(BOX, point, value)


def test_a_value_outside_the_points_range_is_refused() -> None:
    threshold = Point(name="threshold", table="holding_register", address=9, type="u16", width=1,
                      valid_range=(30.0, 1000.0), writable=True)
    profile = replace(BOX, points=(*BOX.points, threshold))
    with pytest.raises(WriteRefused, match=r"must lie in 30\.\.1000"):
        check_write(profile, "threshold", 5000)
    assert check_write(profile, "threshold", 600) is threshold


def test_a_wide_value_on_a_single_register_device_is_refused() -> None:
    wide = Point(name="limit32", table="holding_register", address=20, type="u32", width=2, writable=True)
    with pytest.raises(WriteRefused, match="writes one register at a time"):
        check_write(replace(BOX, points=(*BOX.points, wide)), "limit32", 5)


def test_good_writes_pass() -> None:
    assert check_write(BOX, "port3.relay", False).name == "port3.relay"
    assert check_write(BOX, "port3.current_limit", 3.5).name == "port3.current_limit"
    assert check_write(PROFILES["hengan-sd100-fw2"], "sounder", True).table == "coil"
    assert check_write(PROFILES["lvneng-ln20s"], "port1.relay", True).command


def test_every_error_we_raise_on_purpose_is_in_the_one_tree() -> None:
    from cloud.alarm_lifecycle import Refused
    from cloud.auth import LoginRefused
    from devices.contract import ContractError
    from devices.downlink_auth import DownlinkRefused
    from devices.errors import ActionRefused, FirefleetError, MessageError
    from devices.protocol import ProtocolError
    from devices.write_check import WriteRefused
    from edge.interlocks import InterlockRefused

    peer: tuple[type[Exception], ...] = (ProtocolError, ContractError, DownlinkRefused)
    ours: tuple[type[Exception], ...] = (WriteRefused, InterlockRefused, Refused, LoginRefused)
    assert all(issubclass(e, MessageError) and issubclass(e, ValueError) for e in peer)
    assert all(issubclass(e, ActionRefused) and issubclass(e, FirefleetError) for e in ours)
