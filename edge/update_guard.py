"""The agent update's state on the gateway, and the guard that runs before every start of the agent.

Standard library only: the systemd unit runs this file with the system's python before each start
(ExecStartPre), so it works whichever agent version is installed, or broken.

    /opt/firefleet/current -> agents/0.1.1      the environment the unit starts (ExecStart=.../current/bin/firefleet)
    /opt/firefleet/agents/0.1.1/                 one virtual environment per installed version
    /var/lib/firefleet/update.json               the update under way: verify, successful, rolled_back

While an update is in `verify`, every start is counted. The new agent marks it successful once it is
healthy (edge.updates); if it fails to start MAX_STARTS times, or the deadline passes first, the guard
points `current` back at the version before and marks the update rolled back; the agent that then starts
reports it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["MAX_STARTS", "fsync_dir", "guard", "point", "read_state", "relink", "write_json", "write_state"]

STATE_FILE = "update.json"
MAX_STARTS = 3


def read_state(data_dir: Path) -> dict[str, Any] | None:
    try:
        state = json.loads((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def write_state(data_dir: Path, state: dict[str, Any]) -> None:
    write_json(data_dir / STATE_FILE, state)


def point(root: Path, target: str) -> None:
    """Switch root/current to `target` (a path) in one rename."""
    relink(root / "current", target)


# Durable small files, here because this file must stand alone (edge.config_sets uses them too): a power
# cut leaves the old version or the new one, never a torn one.
def write_json(path: Path, value: object) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        json.dump(value, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def relink(link: Path, target: str) -> None:
    """Point the symlink `link` at `target` in one rename."""
    tmp = link.with_name(f".{link.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(target)
    os.replace(tmp, link)
    fsync_dir(link.parent)


def guard(data_dir: Path, root: Path, now: float | None = None) -> str:
    """Count this start of an update in verify; switch back when the new agent keeps failing or is late.
    Returns what it did, for the journal ("" nothing)."""
    state = read_state(data_dir)
    if state is None or state.get("state") != "verify":
        return ""
    now = time.time() if now is None else now
    state["starts"] = int(state.get("starts", 0)) + 1
    late = now > float(state.get("deadline", 0))
    if state["starts"] > MAX_STARTS or late:
        point(root, str(state["previous"]))
        why = "did not report healthy in time" if late else f"did not start ({MAX_STARTS} tries)"
        state.update(state="rolled_back", reported=False,
                     reason=f"agent {state.get('version')} {why}: back on {Path(str(state['previous'])).name}")
        write_state(data_dir, state)
        return str(state["reason"])
    write_state(data_dir, state)
    return f"update to {state.get('version')}: start {state['starts']} of at most {MAX_STARTS}"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def main(argv: list[str]) -> int:
    """update_guard.py DATA_DIR ROOT: never fails the start (a guard that breaks must not stop the agent)."""
    if len(argv) != 3:
        print("usage: update_guard.py DATA_DIR ROOT", file=sys.stderr)
        return 0
    try:
        said = guard(Path(argv[1]), Path(argv[2]))
    except Exception as exc:  # the agent starts whatever happens here
        said = f"update guard failed: {type(exc).__name__}: {exc}"
    if said:
        print(said, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
