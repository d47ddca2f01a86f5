"""Simulated devices behave physically: charging tapers, plugs warm with power, holds are respected."""

from __future__ import annotations

import random

from devices.profile_loader import load_profile_dir
from devices.site_config import DeviceConfig
from simulators import physics
from simulators.device import ILLEGAL_ADDRESS, SimDevice
from tests.conftest import PROFILES

PROFILE_SET = load_profile_dir(PROFILES)


def charging_box() -> SimDevice:
    dev = SimDevice(DeviceConfig(id="box", profile="xingdian-cb10", bus="b", unit=1), PROFILE_SET["xingdian-cb10"],
                    "site")
    physics.seed_behaviour(dev, random.Random(1))
    return dev


def run(dev: SimDevice, seconds: int) -> None:
    rng = random.Random(2)
    for _ in range(seconds):
        physics.step(dev, 1.0, rng)


def test_current_tapers_as_the_battery_fills_and_the_port_reports_full() -> None:
    dev = charging_box()
    dev.signals["port1.relay"] = True
    dev.hidden["port1.soc"] = 50.0
    run(dev, 2)
    bulk = dev.value("port1.current")
    dev.hidden["port1.soc"] = 95.0
    run(dev, 2)
    tapered = dev.value("port1.current")
    assert 0 < tapered < bulk * 0.5
    dev.hidden["port1.soc"] = 99.95
    run(dev, 2)
    assert dev.value("port1.state") == "full"


def test_plug_temperature_follows_power_with_a_lag() -> None:
    dev = charging_box()
    dev.signals["port2.relay"] = True
    dev.hidden["port2.soc"] = 30.0
    run(dev, 30)
    warm = dev.value("port2.temperature")
    run(dev, 270)
    hotter = dev.value("port2.temperature")
    assert 18.0 < warm < hotter
    dev.signals["port2.relay"] = False
    run(dev, 300)
    assert dev.value("port2.temperature") < hotter - 5
    assert dev.value("port2.power") == 0 and dev.value("port2.state") == "idle"


def test_held_signals_are_left_alone_and_cutting_the_relay_stops_the_current() -> None:
    dev = charging_box()
    dev.set_signals({"port3.temperature": 71.5, "port3.relay": True}, hold=False)
    dev.set_signals({"port3.temperature": 71.5}, hold=True)
    run(dev, 10)
    assert dev.value("port3.temperature") == 71.5
    assert dev.write("coil", 2, [0]) is None  # the gateway cuts port 3
    run(dev, 2)
    assert dev.value("port3.relay") is False and dev.value("port3.current") == 0
    assert dev.value("port3.temperature") == 71.5
    dev.release(["port3.temperature"])
    run(dev, 5)
    assert dev.value("port3.temperature") < 71.5


def test_registers_reflect_signals_and_refuse_what_the_device_refuses() -> None:
    dev = charging_box()
    dev.set_signals({"port1.temperature": -3.4, "port1.state": "fault"})
    words = dev.read("holding_register", 0x100, 10)
    assert isinstance(words, list)
    assert words[0] == 3 and words[6] == 0xFFDE  # fault, -3.4 C as i16 * 10
    assert dev.read("holding_register", 0x1F0, 0x20) == ILLEGAL_ADDRESS  # crosses the reserved 0x200..
    assert dev.write("holding_register", 0x100, [1]) == ILLEGAL_ADDRESS  # state is read-only
    assert dev.write("holding_register", 0x109, [250]) is None  # current limit is writable
    assert dev.value("port1.current_limit") == 2.5


def test_the_lid_smoke_sensor_of_the_serial_box_cuts_every_port() -> None:
    dev = SimDevice(DeviceConfig(id="box2", profile="lvneng-ln20s", bus="s", unit=1), PROFILE_SET["lvneng-ln20s"],
                    "site")
    physics.seed_behaviour(dev, random.Random(3))
    dev.set_signals({f"port{n}.relay": True for n in range(1, 21)})
    dev.set_signals({"lid_smoke": True}, hold=True)
    run(dev, 1)
    assert not any(dev.value(f"port{n}.relay") for n in range(1, 21))


def test_a_released_alarm_signal_returns_to_normal() -> None:
    """Issue 10.14, reproduced on the old main: after "the district returns to normal" sd1 still reported
    smoke, so its fire could never be closed and the next round raised no new fire."""
    detector = SimDevice(DeviceConfig(id="sd1", profile="hengan-sd100-fw1", bus="b", unit=11),
                         PROFILE_SET["hengan-sd100-fw1"], "s1")
    detector.set_signals({"smoke_alarm": True, "battery": 40}, hold=True)
    run(detector, 3)
    assert detector.value("smoke_alarm") is True
    detector.release()
    run(detector, 1)
    assert detector.value("smoke_alarm") is False  # its alarm's normal
    assert detector.value("battery") != 40  # back to what it was before it was held
