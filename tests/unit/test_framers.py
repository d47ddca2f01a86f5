"""Framers over bytes: every sample split at every offset, junk in front, and random bytes never raise."""

from __future__ import annotations

import struct

from hypothesis import example, given
from hypothesis import strategies as st

from devices.checksums import crc16_modbus
from devices.modbus_frames import Request, RtuRequestFramer, TcpRequestFramer, rtu_frame, tcp_frame
from devices.profile_loader import load_profile_dir
from devices.serial_frames import BinaryFramer, LineFramer, encode_binary, parse_line_event
from tests.conftest import PROFILES

PROFILE_SET = load_profile_dir(PROFILES)
_LN20, _PANEL = PROFILE_SET["lvneng-ln20s"].binary, PROFILE_SET["beida-jbqb-rs232"].lines
assert _LN20 is not None and _PANEL is not None
LN20, PANEL = _LN20, _PANEL
assert LN20 is not None and PANEL is not None

READ = rtu_frame(11, bytes.fromhex("0400000006"))          # read 6 input registers of unit 11
WRITE = rtu_frame(1, bytes.fromhex("0F000000 0A 02 FB 01".replace(" ", "")))  # write 10 coils


def test_crc16_modbus_known_value() -> None:
    # the classic example: 01 03 00 00 00 0A -> CRC C5CD, sent CD C5
    assert crc16_modbus(bytes.fromhex("01030000000A")) == 0xCDC5
    assert rtu_frame(1, bytes.fromhex("030000000A"))[-2:] == bytes.fromhex("C5CD")


def drain_rtu(framer: RtuRequestFramer) -> list[object]:
    out: list[object] = []
    while (item := framer.next_request()) is not None:
        out.append(item)
    return out


def test_rtu_requests_split_at_every_offset_with_junk_in_front() -> None:
    stream = b"\x00\xff\x13\x37" + READ + WRITE
    for cut in range(len(stream) + 1):
        framer = RtuRequestFramer()
        got = []
        framer.feed(stream[:cut])
        got += drain_rtu(framer)
        framer.feed(stream[cut:])
        got += drain_rtu(framer)
        assert got == [Request(11, 4, 0, 6, (), 0, bytes.fromhex("0400000006")),
                       Request(1, 15, 0, 10, (1, 1, 0, 1, 1, 1, 1, 1, 1, 0), 0, bytes.fromhex("0F0000000A02FB01"))]
        assert framer.garbage_bytes == 4


def test_rtu_frame_with_a_bad_crc_is_hunted_past() -> None:
    framer = RtuRequestFramer()
    bad = READ[:-1] + bytes((READ[-1] ^ 1,))
    framer.feed(bad + READ)
    assert [r.unit for r in drain_rtu(framer)] == [11]  # type: ignore[attr-defined]
    assert framer.garbage_bytes == len(bad)


def test_tcp_requests_split_anywhere() -> None:
    stream = tcp_frame(7, 1, bytes.fromhex("0300000002")) + tcp_frame(8, 1, bytes.fromhex("06000A0001"))
    for cut in range(len(stream) + 1):
        framer = TcpRequestFramer()
        got = []
        for part in (stream[:cut], stream[cut:]):
            framer.feed(part)
            while (item := framer.next_request()) is not None:
                got.append(item)
        assert [(r.transaction, r.function, r.values) for r in got] == [(7, 3, ()), (8, 6, (1,))]  # type: ignore[union-attr]


def test_binary_frames_split_anywhere_with_junk_and_a_broken_frame_in_front() -> None:
    status = encode_binary(LN20, 0x01, b"", address=1)
    relay = encode_binary(LN20, 0x02, bytes((3, 0)), address=1)
    broken = relay[:-1] + bytes((relay[-1] ^ 0xFF,))
    stream = b"\xa5\x00junk\xa5" + broken + status + relay
    for cut in range(len(stream) + 1):
        framer = BinaryFramer(LN20)
        got = []
        for part in (stream[:cut], stream[cut:]):
            framer.feed(part)
            while (frame := framer.next_frame()) is not None:
                got.append((frame.address, frame.command, frame.payload))
        assert got == [(1, 0x01, b""), (1, 0x02, bytes((3, 0)))]


def test_panel_lines_split_anywhere_and_parse_into_events() -> None:
    text = (b"==== EVENT LOG ====\r\n2026-03-14 21:07:33 FIRE     L01 Z012 A034 3F east\r\n"
            b"2026-03-14 21:15:10 RESTORE  L01 Z012 A034 \r\n")
    for cut in range(len(text) + 1):
        framer = LineFramer(PANEL)
        lines = []
        for part in (text[:cut], text[cut:]):
            framer.feed(part)
            while (line := framer.next_line()) is not None:
                lines.append(line)
        assert len(lines) == 3
    events = [parse_line_event(PANEL, line) for line in lines]
    assert events[0] is None
    fire, fields = events[1]  # type: ignore[misc]
    assert (fire.cls, fire.condition, fields["zone"], fields["address"]) == ("fire", "active", 12, 34)
    assert events[2][0].condition == "cleared"  # type: ignore[index]


def test_over_long_lines_are_dropped_and_counted() -> None:
    framer = LineFramer(PANEL)
    framer.feed(b"x" * 500 + b"\r\nOK line\r\n")
    assert framer.next_line() == "OK line"
    assert framer.garbage_bytes == 502


@given(st.lists(st.binary(max_size=64), max_size=20))
def test_framers_never_raise_on_random_bytes(chunks: list[bytes]) -> None:
    rtu, tcp, binary, lines = RtuRequestFramer(), TcpRequestFramer(), BinaryFramer(LN20), LineFramer(PANEL)
    for chunk in chunks:
        rtu.feed(chunk)
        tcp.feed(chunk)
        binary.feed(chunk)
        lines.feed(chunk)
        while rtu.next_request() is not None:
            pass
        while tcp.next_request() is not None:
            pass
        while binary.next_frame() is not None:
            pass
        while (line := lines.next_line()) is not None:
            parse_line_event(PANEL, line)


@given(junk=st.binary(max_size=40), unit=st.integers(1, 247), address=st.integers(0, 65535),
       count=st.integers(1, 125))
@example(junk=b"\x01\x10\x00\x00\x00\x01\xff", unit=1, address=0, count=1)  # noise claiming a long write
def test_a_good_rtu_request_is_found_after_any_junk(junk: bytes, unit: int, address: int, count: int) -> None:
    framer = RtuRequestFramer()
    framer.feed(junk + rtu_frame(unit, struct.pack(">BHH", 3, address, count)))
    found = drain_rtu(framer)
    assert Request(unit, 3, address, count, (), 0, struct.pack(">BHH", 3, address, count)) in found


@given(junk=st.binary(max_size=40), payload=st.binary(max_size=200))
def test_a_good_binary_frame_is_found_after_any_junk(junk: bytes, payload: bytes) -> None:
    framer = BinaryFramer(LN20)
    framer.feed(junk + encode_binary(LN20, 0x81, payload, address=1))
    frames = []
    while (frame := framer.next_frame()) is not None:
        frames.append(frame)
    assert any(f.command == 0x81 and f.payload == payload for f in frames)
