"""What a gateway believes from the cloud: only what the collector's key signed, for it, in time, once."""

from __future__ import annotations

from pathlib import Path

import msgpack
import pytest

from devices.downlink_auth import DownlinkRefused, Signer, Verifier, generate_keys, load_public_keys

NOW = 1_800_000_000.0


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Signer, Verifier]:
    key, pub = generate_keys(tmp_path)
    return Signer.from_file(key), Verifier(load_public_keys([pub]), "gw1")


def test_a_signed_command_for_this_gateway_opens_once(pair: tuple[Signer, Verifier]) -> None:
    signer, verifier = pair
    sealed = signer.seal("command", "gw1", {"id": "c1", "action": "rebirth"}, now=NOW)
    assert verifier.open("command", sealed, wall=NOW + 1) == {"id": "c1", "action": "rebirth"}
    with pytest.raises(DownlinkRefused, match="replayed"):
        verifier.open("command", sealed, wall=NOW + 2)


@pytest.mark.parametrize(("make", "reason"), [
    (lambda s: msgpack.packb({"id": "c1", "action": "write"}), "unsigned"),
    (lambda s: b"\xc1garbage", "not msgpack"),
    (lambda s: s.seal("command", "gw2", {"id": "c1"}, now=NOW), "meant for gateway 'gw2'"),
    (lambda s: s.seal("ack", "gw1", {"ids": ["o:1"]}, now=NOW), "'ack' message on the command topic"),
    (lambda s: s.seal("command", "gw1", {"id": "c1"}, now=NOW - 301), "expired"),
])
def test_what_is_not_signed_for_this_gateway_now_is_refused(pair: tuple[Signer, Verifier], make: object,
                                                            reason: str) -> None:
    signer, verifier = pair
    with pytest.raises(DownlinkRefused, match=reason):
        verifier.open("command", make(signer), wall=NOW)  # type: ignore[operator]


def test_a_forged_signature_or_another_key_is_refused(pair: tuple[Signer, Verifier], tmp_path: Path) -> None:
    signer, verifier = pair
    sealed = msgpack.unpackb(signer.seal("ack", "gw1", {"ids": ["o:1"]}, now=NOW))
    inner = msgpack.unpackb(sealed["signed"])
    inner["body"]["ids"] = ["o:1", "o:2", "o:3"]  # an attacker widens a real ack
    tampered = msgpack.packb({**sealed, "signed": msgpack.packb(inner)})
    with pytest.raises(DownlinkRefused, match="bad signature"):
        verifier.open("ack", tampered, wall=NOW)
    other_key, _ = generate_keys(tmp_path / "other")
    with pytest.raises(DownlinkRefused, match="unknown key"):
        verifier.open("ack", Signer.from_file(other_key).seal("ack", "gw1", {"ids": []}, now=NOW), wall=NOW)


def test_the_collector_state_renews_never_goes_back_and_survives_redelivery(pair: tuple[Signer, Verifier]) -> None:
    signer, verifier = pair
    old_offline = signer.seal("state", "*", {"online": False}, ttl=86400, now=NOW)
    online = signer.seal("state", "*", {"online": True}, ttl=100, now=NOW + 10)
    assert verifier.open("state", online, wall=NOW + 11) == {"online": True}
    assert verifier.open("state", online, wall=NOW + 12) == {"online": True}  # retained, delivered again
    with pytest.raises(DownlinkRefused, match="older collector state"):
        verifier.open("state", old_offline, wall=NOW + 13)  # an attacker replays a captured will
    assert not verifier.state_expired(wall=NOW + 100)
    assert verifier.state_expired(wall=NOW + 111)  # not renewed: the collector counts as gone
    with pytest.raises(DownlinkRefused, match="meant for gateway"):
        verifier.open("state", signer.seal("state", "gw1", {"online": True}, now=NOW + 20), wall=NOW + 20)


def test_an_untrusted_clock_measures_expiry_on_the_collectors_clock(pair: tuple[Signer, Verifier]) -> None:
    signer, verifier = pair
    command = signer.seal("command", "gw1", {"id": "c1"}, now=NOW - 400)  # expired by the collector's clock
    booted_in_1970 = 86_400.0
    verifier.open("state", signer.seal("state", "*", {"online": True}, now=NOW), wall=booted_in_1970,
                  trusted=False, mono=50.0)
    with pytest.raises(DownlinkRefused, match="expired"):
        verifier.open("command", command, wall=booted_in_1970, trusted=False, mono=60.0)
    fresh = signer.seal("command", "gw1", {"id": "c2"}, now=NOW + 5)
    assert verifier.open("command", fresh, wall=booted_in_1970, trusted=False, mono=60.0) == {"id": "c2"}
