"""Our RTU master (edge.rtu_link) against a slave made of the simulators' own codecs, through a fake port:
reads and writes of every table, exception replies, silence, noise and another unit's answer."""

from __future__ import annotations

import pytest

from devices.errors import DeviceTimeout, ExceptionReply, FrameError
from devices.modbus_frames import (
    Request,
    RtuRequestFramer,
    exception_pdu,
    read_bits_pdu,
    read_registers_pdu,
    rtu_frame,
    write_echo_pdu,
)
from edge.byte_link import FakeByteLink
from edge.rtu_link import RtuLink

pytestmark = pytest.mark.unit


class Slave:
    """Unit 7 with 100 holding/input registers (value = 1000 + address) and 16 coils; answers like a device."""

    def __init__(self) -> None:
        self.registers = {a: 1000 + a for a in range(100)}
        self.coils = [0] * 16
        self.reply: bytes | None = None  # a canned answer instead of the real one

    def __call__(self, data: bytes) -> bytes:
        framer = RtuRequestFramer()
        framer.feed(data)
        request = framer.next_request()
        assert isinstance(request, Request)
        if self.reply is not None:
            return self.reply
        if request.unit != 7:
            return b""
        fc = request.function
        if fc in (3, 4):
            if request.address + request.count > 100:
                return rtu_frame(7, exception_pdu(fc, 2))
            span = range(request.address, request.address + request.count)
            return rtu_frame(7, read_registers_pdu(fc, [self.registers[a] for a in span]))
        if fc in (1, 2):
            return rtu_frame(7, read_bits_pdu(fc, self.coils[request.address:request.address + request.count]))
        if fc in (5, 15):
            for i, bit in enumerate(request.values):
                self.coils[request.address + i] = bit
        else:
            for i, word in enumerate(request.values):
                self.registers[request.address + i] = word
        return rtu_frame(7, write_echo_pdu(request))


@pytest.fixture
async def link() -> tuple[RtuLink, Slave, FakeByteLink]:
    slave = Slave()
    port = FakeByteLink(slave)
    rtu = RtuLink(port, 115200)
    await rtu.connect()
    return rtu, slave, port


async def test_reads_and_writes_of_every_table(link: tuple[RtuLink, Slave, FakeByteLink]) -> None:
    rtu, _, port = link
    assert await rtu.read("holding_register", 10, 3, 7, 0.2) == [1010, 1011, 1012]
    assert await rtu.read("input_register", 0, 1, 7, 0.2) == [1000]
    await rtu.write("coil", 2, [1], 7, 0.2)
    await rtu.write("coil", 4, [1, 0, 1], 7, 0.2, "multiple")
    assert await rtu.read("coil", 0, 8, 7, 0.2) == [0, 0, 1, 0, 1, 0, 1, 0]
    await rtu.write("holding_register", 5, [0xBEEF], 7, 0.2)
    await rtu.write("holding_register", 6, [1, 2], 7, 0.2, "multiple")
    assert await rtu.read("holding_register", 5, 3, 7, 0.2) == [0xBEEF, 1, 2]
    assert port.written[0] == bytes.fromhex("07 03 00 0a 00 03") + port.written[0][-2:]  # FC3, address 10, 3


async def test_faults_become_our_errors(link: tuple[RtuLink, Slave, FakeByteLink]) -> None:
    rtu, slave, _ = link
    with pytest.raises(ExceptionReply) as refused:
        await rtu.read("holding_register", 99, 5, 7, 0.2)
    assert refused.value.code == 2
    with pytest.raises(DeviceTimeout):
        await rtu.read("holding_register", 0, 1, 9, 0.05)  # nobody is unit 9
    good = rtu_frame(7, read_registers_pdu(3, [1]))
    for canned in (good[:-1] + bytes([good[-1] ^ 0xFF]),  # bad CRC
                   rtu_frame(8, read_registers_pdu(3, [1])),  # another unit
                   b"\x00\xff\x13",  # noise, short
                   rtu_frame(7, read_registers_pdu(3, [1, 2]))):  # the wrong length
        slave.reply = canned
        with pytest.raises(FrameError):
            await rtu.read("holding_register", 0, 1, 7, 0.05)
    slave.reply = None
    assert await rtu.read("holding_register", 0, 1, 7, 0.2) == [1000]  # and the line goes on
