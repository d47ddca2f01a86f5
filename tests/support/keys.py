"""One collector signing key pair for a test run, as `firefleet keys generate` makes it."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from devices.downlink_auth import Signer, TrustedKeys, generate_keys, load_public_keys

__all__ = ["public_key", "signer", "signing_key", "trusted_keys"]


@functools.cache
def _pair() -> tuple[Path, Path]:
    return generate_keys(Path(tempfile.mkdtemp(prefix="ff-test-keys-")))


def signing_key() -> Path:
    """The collector's private key file (give it to `firefleet cloud --signing-key`)."""
    return _pair()[0]


def public_key() -> Path:
    """The gateways' copy (`firefleet edge --collector-key`)."""
    return _pair()[1]


def trusted_keys() -> TrustedKeys:
    return load_public_keys([public_key()])


def signer() -> Signer:
    return Signer.from_file(signing_key())
