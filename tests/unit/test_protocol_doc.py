"""docs/protocol.md says what devices/contract.py checks: every record type's fields, the birth's, the
heartbeat health's, and the topics with their QoS (issue 12: they had drifted apart)."""

from __future__ import annotations

import re

import msgspec

from devices.contract import Alarm, Birth, BirthDevice, CommandState, Event, Health, Place, Reading
from devices.protocol import DOWNLINK_KINDS, UPLINK_KINDS
from tests.conftest import ROOT

DOC = (ROOT / "docs" / "protocol.md").read_text()
COMMON = {"id", "historical", "type", "site", "t", "mono", "trusted", "clk"}


def wire_names(struct: type[msgspec.Struct]) -> set[str]:
    return {f.encode_name for f in msgspec.structs.fields(struct)}


def test_every_record_type_documents_exactly_its_fields() -> None:
    common = set(re.findall(r"`(\w+)`", DOC.split("Common fields:", 1)[1].split("\n", 1)[0]))
    assert common == COMMON
    rows = dict(re.findall(r"^\| `(\w+)` \| (.+) \|$", DOC.split("## Records", 1)[1].split("## Birth", 1)[0], re.M))
    structs: dict[str, type[msgspec.Struct]] = {"alarm": Alarm, "event": Event, "command": CommandState,
                                                "reading": Reading}
    for tag, struct in structs.items():
        documented = {name for name in re.findall(r"`(\w+)`", rows[tag]) if "/" not in name}
        assert documented == wire_names(struct) - COMMON, tag


def test_the_birth_and_the_heartbeat_health_document_exactly_their_fields() -> None:
    birth = DOC.split("## Birth", 1)[1].split("`place` is", 1)[0]
    top, _, devices = birth.partition("devices: [{")
    place = re.search(r"place: \{([^}]*)\}", top)
    assert place is not None
    top_names = set(re.findall(r"\b(\w+)\b", re.sub(r"place: \{[^}]*\}|\([^)]*\)|\[[^\]]*\]", "place", top)))
    assert top_names - {"key"} == wire_names(Birth) - {"devices"}
    assert set(re.findall(r"\w+", place.group(1))) == wire_names(Place)
    assert set(re.findall(r"\b(\w+)\b", re.sub(r"\([^)]*\)", "", devices))) == wire_names(BirthDevice)
    health = DOC.split("## Heartbeat health", 1)[1].split("##", 1)[0]
    names = set(re.findall(r"[{,]\s*(\w+)", health.replace("\n", " ")))
    assert names - {"lane", "bus", "records", "bytes", "requests", "timeouts", "exceptions", "frame_errors",
                    "link_errors", "writes"} == wire_names(Health) - {"light"}


def test_the_topic_table_lists_every_kind_with_qos_1() -> None:
    rows = re.findall(r"^\| `ff/v1/\{site\}/\{gateway\}/(\w+)` \| [^|]+ \| (\d) \|", DOC, re.M)
    assert {kind for kind, _ in rows} == set(UPLINK_KINDS) | set(DOWNLINK_KINDS)
    assert {qos for _, qos in rows} == {"1"}  # the agent and the collector publish everything at QoS 1
