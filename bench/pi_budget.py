"""A Raspberry Pi's budget on this machine, for the edge benches: a CPU quota and a slow disk.

CPU: the agent's process is put in a cgroup (v1 `cpu` controller, which this machine's kernel exposes
writable; cgroup v2's `cpu.max` where that is what there is) with a quota of PI_CPU_PERCENT of one core,
refilled every 10 ms so that it behaves like a slower core rather than a fast one that stalls every 100 ms.
`systemd-run --scope -p CPUQuota=` is not used: there is no systemd here to run scopes. A Raspberry Pi 4
core is several times slower than this x86 core on our CPU-bound work (../shared/LIBRARIES.md), so a
quarter of one core stands for one Pi core; that factor is an assumption, not a measurement on a Pi.

Disk: an SD card makes fsync slow (tens of ms). A small LD_PRELOAD shim, compiled here with `cc`, makes
every fsync and fdatasync of the agent's process wait SD_FSYNC_MS first; SQLite's commits (the outbox at
synchronous=FULL) go through them. dm-delay would need device-mapper, which this sandbox has not.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BUDGETS", "Budget", "applied"]

PI_CPU_PERCENT = 25.0
PERIOD_US = 10_000
SD_FSYNC_MS = 25.0

_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>
static void sd_card(void) {
    static long us = -1;
    if (us < 0) { const char *e = getenv("FF_FSYNC_DELAY_US"); us = e ? atol(e) : 0; }
    if (us > 0) { struct timespec t = {us / 1000000, (us % 1000000) * 1000}; nanosleep(&t, 0); }
}
int fsync(int fd) { static int (*real)(int); if (!real) real = dlsym(RTLD_NEXT, "fsync"); sd_card(); return real(fd); }
int fdatasync(int fd) {
    static int (*real)(int); if (!real) real = dlsym(RTLD_NEXT, "fdatasync"); sd_card(); return real(fd);
}
"""


@dataclass(frozen=True)
class Budget:
    name: str
    cpu_percent: float | None = None  # of one core
    fsync_ms: float | None = None

    def describe(self) -> str:
        parts = []
        if self.cpu_percent is not None:
            parts.append(f"CPU quota {self.cpu_percent:.0f} % of one core ({PERIOD_US // 1000} ms periods)")
        if self.fsync_ms is not None:
            parts.append(f"every fsync +{self.fsync_ms:.0f} ms")
        return f"{self.name}: " + (", ".join(parts) or "no limits")


BUDGETS = {
    "x86": Budget("x86 core, local disk"),
    "pi": Budget("Pi-class core", PI_CPU_PERCENT),
    "pi-sd": Budget("Pi-class core, SD-card fsync", PI_CPU_PERCENT, SD_FSYNC_MS),
}


@dataclass
class Applied:
    """How to start a process under a budget: extra environment and a hook that runs in the child."""

    env: dict[str, str]
    preexec: Callable[[], None] | None


@contextlib.contextmanager
def applied(budget: Budget, folder: Path) -> Iterator[Applied]:
    env = dict(os.environ)
    if budget.fsync_ms is not None:
        env["LD_PRELOAD"] = str(_shim(folder))
        env["FF_FSYNC_DELAY_US"] = str(int(budget.fsync_ms * 1000))
    if budget.cpu_percent is None:
        yield Applied(env, None)
        return
    procs = _cgroup(folder.name, budget.cpu_percent)

    def join() -> None:  # runs in the child, before it becomes the agent
        procs.write_text(str(os.getpid()))

    try:
        yield Applied(env, join)
    finally:
        _remove(procs.parent)


def _shim(folder: Path) -> Path:
    cc = shutil.which("cc")
    if cc is None:
        raise SystemExit("the slow-disk mode needs a C compiler (cc) to build its fsync shim")
    source, library = folder / "slow_fsync.c", folder / "slow_fsync.so"
    if not library.exists():
        source.write_text(_SHIM)
        subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", str(library), str(source), "-ldl"], check=True)
    return library


def _cgroup(name: str, percent: float) -> Path:
    v1 = Path("/sys/fs/cgroup/cpu")
    if (v1 / "cpu.cfs_quota_us").exists():
        group = v1 / f"firefleet-bench-{name}"
        group.mkdir(exist_ok=True)
        (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
        (group / "cpu.cfs_quota_us").write_text(str(int(PERIOD_US * percent / 100)))
        return group / "cgroup.procs"
    v2 = Path("/sys/fs/cgroup")
    if (v2 / "cgroup.controllers").exists() and "cpu" in (v2 / "cgroup.controllers").read_text().split():
        group = v2 / f"firefleet-bench-{name}"
        group.mkdir(exist_ok=True)
        (group / "cpu.max").write_text(f"{int(PERIOD_US * percent / 100)} {PERIOD_US}")
        return group / "cgroup.procs"
    raise SystemExit("no writable cgroup cpu controller here: the Pi-class CPU mode cannot run")


def _remove(group: Path) -> None:
    root = group.parent / "cgroup.procs"
    with contextlib.suppress(OSError):
        for pid in (group / "cgroup.procs").read_text().split():
            with contextlib.suppress(OSError):
                root.write_text(pid)
        group.rmdir()
