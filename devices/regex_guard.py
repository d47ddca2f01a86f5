"""Refuse regular expressions that can take exponential time (catastrophic backtracking). Pure.

A profile's ASCII-line events are matched with Python's `re`, which has no time limit: a pattern such as
`(a+)+` or `(\\w|\\d)*x` on a line of a few dozen characters can hold the CPU for minutes, and on an edge
agent that is the alarm path. The shape that does it is a repetition that contains another repetition or
an alternation (so one text can be split between them in exponentially many ways). Such patterns are
refused at load; the patterns a fire panel's printout needs never need them.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

# Python 3.11+ keeps the pattern parser in re._parser (sre_parse is its deprecated alias); it is the only
# way to look at a pattern's structure without writing a parser of our own.
_parser: Any = importlib.import_module("re._parser")

__all__ = ["backtracking_risk"]

_REPEATS = {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"}
_SMALL = 16


def backtracking_risk(pattern: str) -> str:
    """Why `pattern` may backtrack exponentially, or "" when it is safe (or not a valid pattern)."""
    try:
        parsed = _parser.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return ""
    return _scan(list(parsed), inside_repeat=False)


def _scan(items: list[Any], *, inside_repeat: bool) -> str:
    for op, arg in items:
        name = str(op)
        if name in _REPEATS:
            _low, high, body = arg
            if inside_repeat and high > 1:
                return "a repetition inside a repetition (like (a+)+) can take exponential time"
            # a small fixed count ({3}) multiplies the work by a constant; an open one ({2,}, +, *) does not
            found = _scan(list(body), inside_repeat=inside_repeat or high > _SMALL)
            if found:
                return found
        elif name == "BRANCH":
            if inside_repeat:
                return "an alternation inside a repetition (like (a|aa)*) can take exponential time"
            for branch in arg[1]:
                found = _scan(list(branch), inside_repeat=inside_repeat)
                if found:
                    return found
        elif name in ("SUBPATTERN", "ASSERT", "ASSERT_NOT"):
            body = arg[-1]
            found = _scan(list(body), inside_repeat=inside_repeat)
            if found:
                return found
    return ""
