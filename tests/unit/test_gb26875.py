"""The GB/T 26875.3-2011 codec (devices/gb26875.py): golden frames worked by hand from the standard's field
tables, byte by byte; a frame from another implementation's tests; round trips of every object type used;
splits at every offset; junk before; and the errors a receiver must deny."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.gb26875 import (
    CMD_CONFIRM,
    CMD_CONTROL,
    CMD_DENY,
    CMD_SEND,
    STATE_FIRE,
    STATE_NORMAL,
    AnalogValue,
    BadFrame,
    ClockSync,
    ComponentState,
    DeviceOperation,
    DeviceState,
    DutyCheck,
    Frame,
    Framer,
    Gb26875Error,
    ReadRequest,
    SystemState,
    decode_app,
    encode_app,
    encode_description,
    encode_frame,
)

AT = datetime(2026, 12, 7, 3, 25, 9)
DEVICE = 0x0000_C0A8_0A01  # the site's transmission device (6 bytes)
CENTRE = 0x0000_0000_0001  # the monitoring centre

# A smoke detector's fire, sent by the transmission device to the centre (command 2), worked by hand:
FIRE_FRAME = bytes.fromhex(
    "4040"          # start '@@'
    "0700"          # serial 7, low byte first (the sender numbers its sends)
    "0100"          # version: major 1 (byte 5), user version 0 (byte 6)
    "091903070c1a"  # time tag: 09 s, 25 min, 03 h, day 7, month 12, year 26 (2026)
    "010aa8c00000"  # source: 0x0000C0A80A01, low byte first
    "010000000000"  # destination: the centre, 1
    "3000"          # application data length 48 = 2 + 46 (one component-state object)
    "02"            # command 2: send data
    # application data
    "02"            # type 2: component state
    "01"            # one object
    "01"            # system type 1: fire alarm system
    "01"            # system address 1
    "2a"            # component type 42: point photoelectric smoke detector
    "05000100"      # component address: zone 1 (high word), position 5 (low word): 0x00010005 low byte first
    "0300"          # state word 0x0003: bit 0 normal operation, bit 1 fire
    "b1b1b2e0d1ccb8d0"  # "北侧烟感" in GB 18030 (8 bytes) ...
    + "00" * 23 +   # ... padded with NUL to 31 bytes
    "091903070c1a"  # the state's time tag
    "a3"            # checksum: bytes 3..27 and the application data sum to 2211; 2211 mod 256 = 163 = 0xa3
    "2323")         # end '##'

# The centre confirms it: the same serial, addresses swapped, command 3, no application data.
CONFIRM_FRAME = bytes.fromhex(
    "4040" "0700" "0100" "0a1903070c1a" "010000000000" "010aa8c00000" "0000" "03"
    "d2"            # checksum: 7 + 1 + (10+25+3+7+12+26) + 1 + (1+10+168+192) + 3 = 466; 466 mod 256 = 0xd2
    "2323")


def test_a_component_fire_encodes_byte_for_byte_as_worked_by_hand() -> None:
    fire = ComponentState(system_type=1, system_address=1, component_type=42, component_address=(1 << 16) | 5,
                          state=STATE_NORMAL | STATE_FIRE, description="北侧烟感", time=AT)
    data = encode_app([fire])
    frame = Frame(serial=7, command=CMD_SEND, source=DEVICE, destination=CENTRE, time=AT, data=data)
    assert encode_frame(frame) == FIRE_FRAME
    assert decode_app(data).objects == (fire,)
    confirm = Frame(7, CMD_CONFIRM, CENTRE, DEVICE, AT.replace(second=10))
    assert encode_frame(confirm) == CONFIRM_FRAME


def test_a_frame_from_another_implementation_decodes_with_its_checksum() -> None:
    """dgiot's GB/T 26875.3 decoder test frame (github.com/dgiot/dgiot, dgiot_gb26875_decoder:test/0): a
    component state whose description is GB 18030, checksum 0x68; decoded and encoded again unchanged."""
    theirs = bytes([0x40, 0x40, 0x00, 0x00, 0x01, 0x01, 0x18, 0x0d, 0x11, 0x16, 0x0a, 0x14, 0, 0, 0, 0, 0, 0,
                    0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 0x30, 0x00, 0x02, 0x02, 0x01, 0x01, 0x03, 0x00, 0xd9,
                    0x00, 0x06, 0x00, 0x02, 0x00, 0xa3, 0xc1, 0xc7, 0xf8, 0xa3, 0xb1, 0xb2, 0xe3, 0xdf, 0xc8,
                    0xb2, 0xb8, 0xd7, 0xdf, 0xc0, 0xc8] + [0] * 15 + [0x30, 0x12, 0x13, 0x01, 0x08, 0x14, 0x68,
                                                                      0x23, 0x23])
    framer = Framer()
    framer.feed(theirs)
    frame = framer.next()
    assert isinstance(frame, Frame) and frame.version == (1, 1) and frame.time == datetime(2020, 10, 22, 17, 13, 24)
    (state,) = decode_app(frame.data).objects
    assert isinstance(state, ComponentState)
    assert (state.system_address, state.state, state.description) == (3, STATE_FIRE, "Ａ区１层呷哺走廊")
    assert encode_frame(frame) == theirs


EVERY_TYPE = [
    [SystemState(1, 1, 0x0003, AT)],
    [ComponentState(12, 1, 96, 0x00020001, 0x0013, "1号水流指示器", AT),
     ComponentState(12, 1, 97, 0x00020002, 0x0011, "信号阀", AT)],
    [AnalogValue(1, 1, 18, 7, 3, 655, AT), AnalogValue(12, 1, 99, 3, 4, -1, AT)],  # 65.5 C; -0.1 MPa
    [DeviceState(0x21, AT)],  # normal, channel to the centre failed
    [DeviceOperation(0x20, 3, AT)],  # the answer to a duty check, operator 3
    [ClockSync(AT)],
    [DutyCheck(10)],
    [ReadRequest(61, bytes((1, 1)))],
]


@pytest.mark.parametrize("objects", EVERY_TYPE, ids=lambda o: type(o[0]).__name__)
def test_every_object_type_round_trips_and_every_split_of_its_frame_gives_it_once(objects: list[Any]) -> None:
    frame = Frame(65535, CMD_CONTROL if isinstance(objects[0], ClockSync | DutyCheck) else CMD_SEND, DEVICE,
                  CENTRE, AT, encode_app(objects), (1, 9))
    wire = encode_frame(frame)
    assert decode_app(frame.data).objects == tuple(objects)
    for cut in range(len(wire) + 1):
        framer = Framer()
        framer.feed(b"\x00\x40junk#" + wire[:cut])
        first = framer.next()
        framer.feed(wire[cut:])
        got = first or framer.next()
        assert got == frame, cut
        assert framer.next() is None


def test_bad_checksum_length_command_and_end_are_reported_with_the_serial_to_deny() -> None:
    cases = {
        FIRE_FRAME[:-3] + b"\xa4" + FIRE_FRAME[-2:]: "checksum 0xa4, the bytes sum to 0xa3",
        FIRE_FRAME[:26] + b"\x09" + FIRE_FRAME[27:-3] + bytes((0xa3 + 7,)) + FIRE_FRAME[-2:]: "command 9",
        FIRE_FRAME[:-2] + b"#!": "no '##'",
        FIRE_FRAME[:24] + b"\x01\x08" + FIRE_FRAME[26:]: "over 1024",
    }
    for wire, says in cases.items():
        framer = Framer()
        framer.feed(wire + CONFIRM_FRAME)
        bad = framer.next()
        assert isinstance(bad, BadFrame) and says in bad.reason, bad
        assert bad.serial == 7 and bad.source == DEVICE  # what a deny (command 6) answers to
        rest = [f for f in iter(framer.next, None) if isinstance(f, Frame)]
        assert [f.command for f in rest] == [CMD_CONFIRM]  # and the next frame still comes through
    deny = encode_frame(Frame(7, CMD_DENY, CENTRE, DEVICE, AT))
    assert deny[26] == CMD_DENY and deny[24:26] == b"\x00\x00"


def test_application_data_that_does_not_add_up_is_refused() -> None:
    good = encode_app([DeviceState(1, AT)])
    for data, says in ((good[:-1], "bytes for 1 objects"), (b"\x63\x01" + good[2:], "type 99"),
                       (b"\x02", "at least"), (good[:1] + b"\x00" + good[2:], "bytes for 0 objects")):
        with pytest.raises(Gb26875Error, match=says):
            decode_app(data)
    with pytest.raises(Gb26875Error, match="one type"):
        encode_app([DeviceState(1, AT), ClockSync(AT)])
    with pytest.raises(Gb26875Error, match="over 1024"):
        encode_app([ComponentState(1, 1, 42, n, 1, "x", AT) for n in range(23)])


@given(st.text(max_size=40))
def test_a_description_fits_31_bytes_at_a_whole_character(text: str) -> None:
    raw = encode_description(text)
    assert len(raw) == 31
    kept = raw.rstrip(b"\x00").decode("gb18030")
    assert text.startswith(kept.rstrip("\x00")) or "\x00" in text
