"""A configuration set as it travels in a `configure` command: its digest, computed the same way by the
collector that seals it and by the gateway that installs it. Pure.

The digest covers the site file's text (empty: the gateway keeps its own) and every profile file by
name, in name order, each length-prefixed so that no two different bundles share a byte stream.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

__all__ = ["bundle_digest"]


def bundle_digest(site: str, profiles: Mapping[str, str]) -> str:
    sha = hashlib.sha256(b"firefleet-config-1\n")
    for name, text in [("site", site), *sorted((f"profiles/{k}", v) for k, v in profiles.items())]:
        for part in (name.encode(), text.encode()):
            sha.update(len(part).to_bytes(8, "big"))
            sha.update(part)
    return sha.hexdigest()
