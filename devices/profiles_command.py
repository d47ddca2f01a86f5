"""`firefleet profiles check [PATH ...]`: validate profile files and run their test vectors."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from devices.errors import ProfileError
from devices.profile_loader import default_profile_dir, load_profiles, profile_files
from devices.vectors import run_vectors

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("profiles", help="check and list firmware profiles")
    psub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = psub.add_parser("check", help="validate profiles and run their test vectors")
    check.add_argument("paths", nargs="*", type=Path, help="files or folders (default: firmware-profiles/)")
    check.set_defaults(run=check_command)


def check_command(args: argparse.Namespace) -> int:
    paths = args.paths or [default_profile_dir()]
    files = profile_files(paths)
    if not files:
        print(f"error: no profile files (*.yaml) under {', '.join(map(str, paths))}", file=sys.stderr)
        return 2
    try:
        profiles = load_profiles(files)
    except ProfileError as exc:
        print(f"error: {exc.describe()}", file=sys.stderr)
        return 1
    failures = 0
    for profile in sorted(profiles.values(), key=lambda p: p.id):
        if profile.abstract:
            print(f"  base  {profile.id:34} {len(profile.points):4} points  {profile.file}")
            continue
        problems = run_vectors(profile)
        failures += len(problems)
        status = "ok  " if not problems else "FAIL"
        print(f"  {status}  {profile.id:34} {len(profile.points):4} points  {len(profile.vectors):2} vectors  "
              f"{profile.vendor} {profile.model} fw {profile.firmware[0]}-{profile.firmware[1]}")
        for line in problems:
            print(f"error: {line}", file=sys.stderr)
    usable = sum(1 for p in profiles.values() if not p.abstract)
    print(f"{usable} profiles ({len(profiles) - usable} bases) checked, "
          f"{sum(len(p.vectors) for p in profiles.values())} vectors, {failures} failures")
    return 1 if failures else 0
