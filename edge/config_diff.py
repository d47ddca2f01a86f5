"""Which buses a new configuration changes: those whose line, devices, devices' profiles (with the
sibling profiles their identity may reveal) or cut inputs differ. Pure.

A bus that did not change keeps its worker, its open line and its poll schedule through an apply
(edge.agent.EdgeAgent.apply_config); only the changed ones are stopped and started again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from devices.profile import Profile
from devices.site_config import SiteConfig
from edge.polled_device import candidates_for

__all__ = ["bus_fingerprints", "changed_buses"]


def bus_fingerprints(site: SiteConfig, profiles: Mapping[str, Profile],
                     cut: Mapping[str, frozenset[str]]) -> dict[str, str]:
    """Per bus with devices, a text that differs when anything its worker is built from differs (the
    line numbers and file names of the files do not count)."""
    out: dict[str, str] = {}
    for bus in site.buses:
        devices = site.devices_on(bus.id)
        if not devices:
            continue
        parts = [repr(dataclasses.replace(bus, line=0))]
        for dev in devices:
            candidates = candidates_for(profiles[dev.profile], profiles)
            parts.append(repr(dataclasses.replace(dev, line=0)))
            parts.extend(repr(dataclasses.replace(p, file="")) for p in candidates)
            parts.append(repr(sorted(cut.get(dev.id, frozenset()))))
        out[bus.id] = "\n".join(parts)
    return out


def changed_buses(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    return sorted(b for b in before.keys() | after.keys() if before.get(b) != after.get(b))
