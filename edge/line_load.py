"""What a Modbus RTU line's poll plan asks of its wire, from the profiles alone (no I/O).

`firefleet edge --check` prints it for the installer, and bench/interlock_latency.py prints it as the
floor under its measurements: when the fastest classes of a line's devices need more than the wire carries
(a 10-port box's ports at 9600 baud, with its 10 ms pause after every frame), no schedule keeps their
periods; the cut inputs are read first (edge.polled_device.CUT) and the rest come late.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from devices.profile import Profile
from devices.site_config import BusConfig, SiteConfig
from devices.wire_time import exchange_seconds, write_seconds
from edge.polled_device import CUT, PolledDevice
from edge.rules import build_instances, cut_inputs

__all__ = ["LineLoad", "line_loads"]


@dataclass(frozen=True)
class LineLoad:
    bus: BusConfig
    fast_share: float  # of the wire, for CUT and each device's fastest class at their periods
    cut_round_s: float  # wire time to read every cut input of the line once
    cut_write_s: float  # the longest single write of a device with cut inputs

    @property
    def cut_floor_s(self) -> float:
        """A heat that starts just after its port was read waits at least this long for its cut."""
        return self.cut_round_s + self.cut_write_s

    def describe(self) -> str:
        text = f"alarm points need {100 * self.fast_share:.0f} % of the wire at {self.bus.baud} baud; "
        if self.cut_round_s:
            text += (f"cut inputs read every {1000 * self.cut_round_s:.0f} ms at best, a cut within "
                     f"{1000 * self.cut_floor_s:.0f} ms at worst")
        else:
            text += "no interlock cuts on this line"
        if self.fast_share > 1:
            text += (" -- OVERLOADED: alarm points will be read late; move devices to another line or raise "
                     "the baud rate")
        return text


def line_loads(site: SiteConfig, profiles: Mapping[str, Profile]) -> list[LineLoad]:
    cut = cut_inputs(build_instances(site, profiles))
    out = []
    for bus in site.buses:
        if bus.type != "modbus_rtu" or not site.devices_on(bus.id):
            continue
        share = round_s = write_s = 0.0
        for dev in site.devices_on(bus.id):
            profile = profiles[dev.profile]
            polled = PolledDevice(dev, profile, [profile], urgent=cut.get(dev.id, frozenset()))
            pause = profile.quirks.inter_frame_pause_ms
            fastest = next((c for c in polled.plan if c != CUT), None)
            for cls, blocks in polled.plan.items():
                seconds = sum(exchange_seconds(b.table, b.count, bus.baud, pause) for b, _ in blocks)
                if cls == CUT:
                    round_s += seconds
                    write_s = max(write_s, write_seconds(bus.baud, pause))
                if cls in (CUT, fastest):
                    share += seconds / polled.periods[cls]
        out.append(LineLoad(bus, share, round_s, write_s))
    return out
