"""Coalescing points into requests under each device's quirks, and one-pass block decoding."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from devices.decode import BlockDecoder, ReadBlock, decode_point, encode_point, plan_reads
from devices.profile import Point, Quirks
from devices.profile_loader import load_profile_dir
from tests.conftest import PROFILES

PROFILE_SET = load_profile_dir(PROFILES)


def reg(name: str, address: int, type_: str = "u16", width: int = 1, **kw: object) -> Point:
    return Point(name=name, table="holding_register", address=address, type=type_, width=width, **kw)  # type: ignore[arg-type]


def spans(blocks: list[ReadBlock]) -> list[tuple[int, int]]:
    return [(b.start, b.count) for b in blocks]


def test_neighbours_merge_only_across_small_gaps() -> None:
    points = [reg("a", 0), reg("b", 1), reg("c", 4), reg("d", 20, "u32", 2)]
    assert spans(plan_reads(points, Quirks(max_gap=0))) == [(0, 2), (4, 1), (20, 2)]
    assert spans(plan_reads(points, Quirks(max_gap=2))) == [(0, 5), (20, 2)]
    assert spans(plan_reads(points, Quirks(max_gap=20))) == [(0, 22)]


def test_requests_respect_max_registers_and_forbidden_ranges() -> None:
    points = [reg(f"p{i}", i * 10) for i in range(10)]
    blocks = plan_reads(points, Quirks(max_gap=10, max_registers=25))
    assert all(b.count <= 25 for b in blocks)
    assert sorted(p.name for b in blocks for p in b.points) == sorted(p.name for p in points)
    guarded = plan_reads([reg("a", 0), reg("b", 8)], Quirks(max_gap=10, forbidden=((3, 4),)))
    assert spans(guarded) == [(0, 1), (8, 1)]


def test_a_hole_over_the_devices_other_points_is_read_across_when_cheaper_than_a_frame() -> None:
    """Issue 18: a box's port temperatures, 16 registers apart, each cost a frame (tens of ms at 9600 baud)
    although the registers between them exist (the ports' other points): only unmapped registers count
    against max_gap, and a hole is read across while it costs fewer characters than a frame (20)."""
    wanted = [reg("t1", 0, width=2), reg("t2", 9, width=2)]  # a hole of 7 registers, max_gap 2
    others = [reg("v1", 2), reg("e1", 3, "u32", 2), reg("m1", 5), reg("r1", 6), reg("l1", 7)]  # 2..7 mapped, 8 not
    assert spans(plan_reads(wanted, Quirks(max_gap=2))) == [(0, 2), (9, 2)]
    assert spans(plan_reads(wanted, Quirks(max_gap=2), others)) == [(0, 11)]
    assert spans(plan_reads(wanted, Quirks(max_gap=0), others)) == [(0, 2), (9, 2)]  # register 8 is unmapped
    far = [reg("t1", 0), reg("t2", 11)]  # a hole of 10 registers = 20 characters: a frame costs no more
    assert spans(plan_reads(far, Quirks(max_gap=2), [reg(f"x{a}", a) for a in range(1, 11)])) == [(0, 1), (11, 1)]
    guarded = plan_reads(wanted, Quirks(max_gap=2, forbidden=((4, 4),)), others)
    assert spans(guarded) == [(0, 2), (9, 2)]


def test_single_register_only_reads_each_point_alone_but_shares_bit_registers() -> None:
    points = [reg("a", 0), reg("b", 1), reg("x", 5, "bit", bit=0), reg("y", 5, "bit", bit=3)]
    assert spans(plan_reads(points, Quirks(max_gap=10, single_register_only=True))) == [(0, 1), (1, 1), (5, 1)]


def test_the_charging_box_is_read_in_few_requests_that_avoid_its_reserved_range() -> None:
    profile = PROFILE_SET["xingdian-cb10"]
    blocks = plan_reads(profile.points, profile.quirks)
    for b in blocks:
        assert b.count <= profile.quirks.max_registers
        assert not (b.start <= 0x2FF and b.start + b.count - 1 >= 0x200)
    assert len([b for b in blocks if b.table == "holding_register"]) <= 5  # 10 ports of 10 regs + identity
    assert len(plan_reads(profile.points, replace(profile.quirks, max_gap=0))) > len(blocks)


@given(st.data())
def test_block_decoder_agrees_with_per_point_decoding(data: st.DataObject) -> None:
    profile = PROFILE_SET[data.draw(st.sampled_from(
        ["xingdian-cb10", "hengan-sd100-fw1", "hengan-sd100-fw2", "weizhan-em8", "aquaguard-sm200"]))]
    for block in plan_reads(profile.points, profile.quirks):
        top = 1 if block.table in ("coil", "discrete_input") else 0xFFFF
        words = data.draw(st.lists(st.integers(0, top), min_size=block.count, max_size=block.count))
        fast = BlockDecoder(block).decode(words)
        for p in block.points:
            i = p.address - block.start
            assert fast[p.name] == decode_point(p, words[i:i + p.width]) or (
                fast[p.name] != fast[p.name])  # NaN from random float words


@given(st.lists(st.integers(0, 0xFFFF), min_size=100, max_size=100))
def test_block_decoder_agrees_for_every_type_and_byte_order(words: list[int]) -> None:
    points, address = [], 0
    for type_, width in [("u16", 1), ("i16", 1), ("u32", 2), ("i32", 2), ("f32", 2), ("u64", 4), ("f64", 4)]:
        for byte_swap in (False, True):
            for word_swap in (False, True):
                points.append(reg(f"{type_}_{byte_swap}_{word_swap}", address, type_, width,
                                  byte_swap=byte_swap, word_swap=word_swap, scale=0.5 if type_ == "i16" else 1.0))
                address += width
    points = [p for p in points if p.address + p.width <= len(words)]
    block = plan_reads(points, Quirks(max_registers=125))[0]
    fast = BlockDecoder(block).decode(words[:block.count])
    for p in points:
        expected = decode_point(p, words[p.address:p.address + p.width])
        assert fast[p.name] == expected or (expected != expected and fast[p.name] != fast[p.name]), p.name


def test_engineering_values_round_trip_through_registers() -> None:
    profile = PROFILE_SET["xingdian-cb10"]
    for name, value in [("port3.temperature", 68.3), ("port3.energy", 1310.71), ("port3.state", "fault"),
                        ("port3.current", 1.85), ("input_power", 69516), ("port3.relay", True)]:
        point = profile.point(name)
        assert decode_point(point, encode_point(point, value)) == value
    assert decode_point(profile.point("port4.temperature"), encode_point(profile.point("port4.temperature"),
                                                                          None)) is None
