"""The gateway's configuration sets on disk, and the one operation that changes them (`configure`).

    data/config/sets/<digest>/site.yaml, profiles/*.yaml    a set, written whole before it is used
    data/config/current -> sets/<digest>                      the set the agent runs (absent: the
                                                              installer's --config and --profiles)
    data/config/operation.json                                the operation: prepare, apply, verify,
                                                              successful | failed | rolled_back

Every change of `current` and of the operation record is a rename after an fsync, so a power cut
leaves either the old or the new one. The set the agent ran before an operation is the last good one;
an agent that starts and finds an operation still in `apply` or `verify` (it was killed, or the power
went, before the new set was proven) goes back to that set and reports the operation rolled back; one
still in `prepare` had switched nothing and is reported failed.

The installer's files stay the base: if they changed on the gateway since a set was installed (someone
edited the site file on the ladder), the edit wins over the installed set, and the agent says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from devices.config_bundle import bundle_digest
from devices.contract import ConfigBundle
from devices.errors import ProfileError, SiteConfigError
from devices.profile import Profile
from devices.profile_loader import load_profile_dir, profile_files
from devices.site_config import SiteConfig, load_site
from edge.update_guard import fsync_dir, relink, write_json

__all__ = ["ConfigSets", "Operation", "OperationRolledBack", "PrepareRefused", "load_set"]

UNFINISHED = ("apply", "verify")


class PrepareRefused(ValueError):
    """A bundle that is not installed: its checksum, or the checker's message (file:line [field] reason)."""


class OperationRolledBack(Exception):
    """An operation applied and then undone: the reason is what verify found (the command's answer)."""


def load_set(site: Path, profiles: Path | None) -> tuple[SiteConfig, dict[str, Profile]]:
    """The installers' checker (`firefleet edge --check`): profiles, then the site file against them."""
    loaded = load_profile_dir(profiles)
    return load_site(site, loaded), loaded


@dataclass
class Operation:
    command: str
    state: str  # prepare, apply, verify, successful, failed, rolled_back
    target: str  # the set being installed (a digest)
    previous: str = ""  # the last good set ("" the installer's files)
    reason: str = ""
    started: float = field(default_factory=time.time)
    reported: bool = True  # False: a state reached while no agent ran to report it (recovery at start)


class ConfigSets:
    def __init__(self, data_dir: Path, base_site: Path, base_profiles: Path | None) -> None:
        self.root = data_dir / "config"
        self.base_site = base_site
        self.base_profiles = base_profiles
        (self.root / "sets").mkdir(parents=True, exist_ok=True)

    # -- what runs -------------------------------------------------------------------------------------
    def current(self) -> str:
        """The name of the set in use ("" the installer's files)."""
        link = self.root / "current"
        return os.readlink(link).rpartition("/")[2] if link.is_symlink() else ""

    def paths(self, name: str | None = None) -> tuple[Path, Path | None]:
        name = self.current() if name is None else name
        if not name:
            return self.base_site, self.base_profiles
        folder = self.root / "sets" / name
        return folder / "site.yaml", folder / "profiles"

    def base_digest(self) -> str:
        """Of the installer's files: recorded with an installed set, compared at every start."""
        sha = hashlib.sha256()
        for path in [self.base_site, *profile_files([self.base_profiles] if self.base_profiles else [])]:
            with contextlib.suppress(OSError):
                sha.update(path.read_bytes())
        return sha.hexdigest()

    def start(self) -> tuple[Operation | None, str]:
        """At every start: finish what a killed agent left (back to the last good set), and drop the installed
        set if the installer's files changed since. Returns the operation to report and a note for the log."""
        op = self.operation()
        note = ""
        if op is not None and op.state == "prepare":  # stopped before anything was switched: nothing to undo
            op.state, op.reason, op.reported = "failed", "the agent stopped while preparing: send it again", False
            self._save(op)
        if op is not None and op.state in UNFINISHED:
            self._point(op.previous)
            op.state, op.reason = "rolled_back", (f"the agent stopped during {op.state}: back on the last good set "
                                                  f"({op.previous or 'the installed files'})")
            op.reported = False
            self._save(op)
        name = self.current()
        if name and self._read_meta(name).get("base") != self.base_digest():
            self._point("")
            note = (f"the site file or profiles given to the agent changed since set {name[:12]} was installed: "
                    "running the given files")
        return (op if op is not None and not op.reported else None), note

    def use_given(self) -> None:
        """Run the installer's files from now on (the installed set does not load)."""
        self._point("")

    # -- the operation ---------------------------------------------------------------------------------
    def operation(self) -> Operation | None:
        try:
            return Operation(**json.loads((self.root / "operation.json").read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def prepare(self, command: str, bundle: ConfigBundle) -> tuple[str, SiteConfig, dict[str, Profile]]:
        """Check the bundle's digest, write the new set beside the current one, and check it as an installer's
        `--check` would. The running set is not touched. PrepareRefused with the reason otherwise."""
        if bundle_digest(bundle.site, bundle.profiles) != bundle.sha256:
            raise PrepareRefused("checksum mismatch: the bundle is not the one the collector sealed")
        name = bundle.sha256
        if name == self.current():  # already running it: nothing to write (and nothing to remove)
            return (name, *load_set(*self.paths()))
        self._save(Operation(command, "prepare", bundle.sha256, previous=self.current()))
        site_now, profiles_now = self.paths()
        staging = self.root / "sets" / f".{name}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "profiles").mkdir(parents=True)
        if profiles_now is not None:
            for path in profile_files([profiles_now]):
                shutil.copyfile(path, staging / "profiles" / path.name)
        for file_name, text in bundle.profiles.items():
            (staging / "profiles" / file_name).write_text(text, encoding="utf-8")
        (staging / "site.yaml").write_text(bundle.site or site_now.read_text(encoding="utf-8"), encoding="utf-8")
        (staging / "meta.json").write_text(json.dumps({"base": self.base_digest(), "command": command}))
        try:
            load_set(staging / "site.yaml", staging / "profiles")
        except (SiteConfigError, ProfileError) as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise PrepareRefused(str(exc).replace(f"{staging}/", "")) from None
        _sync_tree(staging)
        final = self.root / "sets" / name
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)
        fsync_dir(final.parent)
        site, profiles = load_set(final / "site.yaml", final / "profiles")  # as it will run, from where it stays
        return name, site, profiles

    def apply(self, command: str, name: str) -> str:
        """Record `apply` (with the last good set), then switch `current`: returns the previous set."""
        previous = self.current()
        self._save(Operation(command, "apply", name, previous=previous))
        self._point(name)
        return previous

    def step(self, state: str, reason: str = "") -> None:
        op = self.operation()
        if op is None:
            return
        op.state, op.reason = state, reason
        if state == "rolled_back":
            self._point(op.previous)
        self._save(op)
        if state == "successful":
            self._prune(keep={op.target, op.previous})

    def refused(self, command: str, name: str, reason: str) -> None:
        self._save(Operation(command, "failed", name, previous=self.current(), reason=reason))

    def reported(self) -> None:
        op = self.operation()
        if op is not None and not op.reported:
            op.reported = True
            self._save(op)

    # -- files -----------------------------------------------------------------------------------------
    def _point(self, name: str) -> None:
        if name:
            relink(self.root / "current", f"sets/{name}")
            return
        with contextlib.suppress(FileNotFoundError):
            (self.root / "current").unlink()
        fsync_dir(self.root)

    def _save(self, op: Operation) -> None:
        write_json(self.root / "operation.json", asdict(op))

    def _read_meta(self, name: str) -> Mapping[str, str]:
        try:
            meta: dict[str, str] = json.loads((self.root / "sets" / name / "meta.json").read_text())
            return meta
        except (OSError, ValueError):
            return {}

    def _prune(self, keep: set[str]) -> None:
        for folder in (self.root / "sets").iterdir():
            if folder.name not in keep:
                shutil.rmtree(folder, ignore_errors=True)


def _sync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
    for path in [folder, *[p for p in folder.rglob("*") if p.is_dir()]]:
        fsync_dir(path)
