"""What an agent wheel says it is, read from its metadata (the collector when it is uploaded, the gateway
when it has fetched it). Pure."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

__all__ = ["wheel_version"]

METADATA_MOST = 1024 * 1024


def wheel_version(wheel: bytes | Path) -> str:
    """The version a firefleet wheel's metadata names; ValueError when it is not a firefleet wheel."""
    try:
        with zipfile.ZipFile(io.BytesIO(wheel) if isinstance(wheel, bytes) else wheel) as z:
            name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
            if z.getinfo(name).file_size > METADATA_MOST:  # what it says it unpacks to: no zip bomb is read
                raise ValueError(f"its METADATA unpacks to over {METADATA_MOST} bytes")
            fields = dict(line.split(": ", 1) for line in z.read(name).decode().splitlines()
                          if ": " in line and not line.startswith(" "))
    except (OSError, zipfile.BadZipFile, StopIteration, UnicodeDecodeError, KeyError):
        raise ValueError("not a wheel (a zip with a .dist-info/METADATA)") from None
    version = fields.get("Version", "")
    if fields.get("Name", "").lower() != "firefleet" or not re.fullmatch(r"[0-9A-Za-z.+-]{1,40}", version):
        raise ValueError(f"not a firefleet wheel ({fields.get('Name')} {version})")
    return version
