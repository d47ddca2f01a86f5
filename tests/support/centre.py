"""The example district's GB/T 26875.3 mapping pointed at a monitoring-centre simulator on this machine."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import ROOT

__all__ = ["centre_mapping"]

EXAMPLE = ROOT / "deploy" / "examples" / "gb26875.yaml"


def centre_mapping(path: Path, port: int) -> Path:
    """deploy/examples/gb26875.yaml with its centre at 127.0.0.1:`port`, written to `path` (for `--uitd`)."""
    mapping = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    mapping["centre"].update(host="127.0.0.1", port=port)
    path.write_text(yaml.safe_dump(mapping, allow_unicode=True), encoding="utf-8")
    return path
