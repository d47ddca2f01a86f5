"""What the rollout tests change: the smoke detector profile for firmware 1.x, narrowed to firmware 1.0-1.15
(as a vendor does when 1.16 moved its registers), and a detector that runs 1.18 and so no longer fits."""

from __future__ import annotations

from devices.config_bundle import bundle_digest
from devices.contract import ConfigBundle
from tests.conftest import ROOT

PROFILE = "hengan-sd100-fw1.yaml"
NEWER_FIRMWARE = 0x0112  # 1.18: the new profile stops at 1.15


def narrowed_profile() -> str:
    text = (ROOT / "firmware-profiles" / PROFILE).read_text()
    narrowed = text.replace('max: "1.255"', 'max: "1.15"').replace("max: 0x01FF", "max: 0x010F")
    assert narrowed != text
    return narrowed


def bundle(site: str = "", profiles: dict[str, str] | None = None, verify_s: float = 20.0) -> ConfigBundle:
    profiles = {PROFILE: narrowed_profile()} if profiles is None else profiles
    return ConfigBundle(sha256=bundle_digest(site, profiles), site=site, profiles=profiles, verify_s=verify_s)
