"""Byte order is two flags, valid for 16, 32 and 64 bits: pinned by golden words, then round trips."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.registers import NUMERIC_TYPES, decode_value, encode_value

# 0x11223344 as a u32, and 1.5 as an f32 (0x3FC00000), in each of the four orders
GOLDEN_32 = {
    (False, False): [0x1122, 0x3344],
    (True, False): [0x2211, 0x4433],
    (False, True): [0x3344, 0x1122],
    (True, True): [0x4433, 0x2211],
}
GOLDEN_64 = {  # 0x0102030405060708 as a u64
    (False, False): [0x0102, 0x0304, 0x0506, 0x0708],
    (True, False): [0x0201, 0x0403, 0x0605, 0x0807],
    (False, True): [0x0708, 0x0506, 0x0304, 0x0102],
    (True, True): [0x0807, 0x0605, 0x0403, 0x0201],
}


@pytest.mark.parametrize(("byte_swap", "word_swap"), list(GOLDEN_32))
def test_u32_golden_words_in_every_order(byte_swap: bool, word_swap: bool) -> None:
    words = GOLDEN_32[(byte_swap, word_swap)]
    assert decode_value(words, "u32", byte_swap=byte_swap, word_swap=word_swap) == 0x11223344
    assert encode_value(0x11223344, "u32", byte_swap=byte_swap, word_swap=word_swap) == words


@pytest.mark.parametrize(("byte_swap", "word_swap"), list(GOLDEN_64))
def test_u64_golden_words_in_every_order(byte_swap: bool, word_swap: bool) -> None:
    words = GOLDEN_64[(byte_swap, word_swap)]
    assert decode_value(words, "u64", byte_swap=byte_swap, word_swap=word_swap) == 0x0102030405060708


def test_f32_and_i16_golden() -> None:
    assert decode_value([0x3FC0, 0x0000], "f32") == 1.5
    assert decode_value([0x0000, 0x3FC0], "f32", word_swap=True) == 1.5
    assert decode_value([0xC03F, 0x0000], "f32", byte_swap=True) == 1.5
    assert decode_value([0xFFEC], "i16") == -20
    assert decode_value([0xECFF], "i16", byte_swap=True) == -20
    assert decode_value([0x4142, 0x4300], "string") == "ABC"
    assert decode_value([0x4241, 0x0043], "string", byte_swap=True) == "ABC"


def test_value_that_does_not_fit_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit u16"):
        encode_value(70000, "u16")
    with pytest.raises(ValueError, match="does not fit i16"):
        encode_value(-40000, "i16")


_INT_RANGES = {"u16": (0, 2**16 - 1), "i16": (-(2**15), 2**15 - 1), "u32": (0, 2**32 - 1),
               "i32": (-(2**31), 2**31 - 1), "u64": (0, 2**64 - 1), "i64": (-(2**63), 2**63 - 1)}


@given(type_=st.sampled_from(sorted(_INT_RANGES)), data=st.data(), byte_swap=st.booleans(),
       word_swap=st.booleans())
def test_integers_round_trip_in_every_order(type_: str, data: st.DataObject, byte_swap: bool,
                                            word_swap: bool) -> None:
    lo, hi = _INT_RANGES[type_]
    value = data.draw(st.integers(lo, hi))
    words = encode_value(value, type_, byte_swap=byte_swap, word_swap=word_swap)
    assert len(words) == NUMERIC_TYPES[type_][1]
    assert all(0 <= w <= 0xFFFF for w in words)
    assert decode_value(words, type_, byte_swap=byte_swap, word_swap=word_swap) == value


@given(value=st.floats(allow_nan=False, width=32), byte_swap=st.booleans(), word_swap=st.booleans())
def test_f32_round_trips(value: float, byte_swap: bool, word_swap: bool) -> None:
    words = encode_value(value, "f32", byte_swap=byte_swap, word_swap=word_swap)
    assert decode_value(words, "f32", byte_swap=byte_swap, word_swap=word_swap) == value


@given(value=st.floats(allow_nan=True), byte_swap=st.booleans(), word_swap=st.booleans())
def test_f64_round_trips(value: float, byte_swap: bool, word_swap: bool) -> None:
    back = decode_value(encode_value(value, "f64", byte_swap=byte_swap, word_swap=word_swap), "f64",
                        byte_swap=byte_swap, word_swap=word_swap)
    assert back == value or (math.isnan(value) and math.isnan(float(back)))
