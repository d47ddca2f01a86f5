"""Parse and check firmware profile files into `devices.profile.Profile` objects.

Every check fails with `ProfileError(file, line, field, reason)`: unknown keys, missing keys, types that
do not fit their table, counts that do not fit their type, overlapping registers, points inside a
forbidden range, rules naming unknown points, vectors that do not parse. A profile may `extends:`
another by id; the child inherits the base's points, groups, quirks, polling, identity, framing and
rules, and replaces any of them by name.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from devices.checked import Section
from devices.errors import ProfileError
from devices.profile import (
    ALARM_CLASSES,
    BIT_TABLES,
    REGISTER_TABLES,
    TABLES,
    AlarmSpec,
    BinaryFraming,
    Command,
    Condition,
    LineEvent,
    LineFraming,
    Point,
    Probe,
    Profile,
    Quirks,
    Rule,
    SerialSettings,
    Snapshot,
    Vector,
)
from devices.regex_guard import backtracking_risk
from devices.registers import NUMERIC_TYPES, TYPE_WORDS, string_words
from devices.write_check import WriteRefused, check_value
from devices.yaml_source import load_yaml

__all__ = ["default_profile_dir", "load_profile_dir", "load_profiles", "profile_files"]

_TOP_KEYS = ("id", "vendor", "model", "kind", "transport", "firmware", "abstract", "extends", "description",
             "identity", "polling", "quirks", "serial", "framing", "commands", "points", "groups", "rules",
             "vectors", "snapshot")
_POINT_KEYS = ("name", "table", "address", "type", "bit", "bits", "length", "byte_swap", "word_swap",
               "scale", "offset", "unit", "enum", "invalid", "range", "access", "poll", "deadband", "alarm",
               "frame", "command", "little_endian", "description")
_FRAME_TYPES = {"u8": 1, "i8": 1, "bool": 1, "bit": 1, "u16": 2, "i16": 2, "u32": 4, "i32": 4, "f32": 4}
_OPS = ("==", "!=", ">", ">=", "<", "<=")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_DEFAULT_POLLING = {"alarm": 1.0, "status": 10.0, "inventory": 3600.0}
# What a profile may describe (the console, readiness and tickets know each of them).
KINDS = ("smoke_detector", "heat_detector", "gas_detector", "sprinkler_monitor", "fire_panel", "fire_cabinet",
         "charging_box", "station_monitor", "camera", "power_meter", "water_pressure", "sounder")


LABELS_FILE = "labels.yaml"  # beside the profiles, not a profile: what people read for points (devices.labels)


def default_profile_dir() -> Path:
    """The shipped `firmware-profiles/`: beside the packages in a source checkout (or an editable install),
    else where a wheel puts them, under the environment's prefix."""
    beside = Path(__file__).resolve().parent.parent / "firmware-profiles"
    return beside if beside.is_dir() else Path(sys.prefix) / "firmware-profiles"


def profile_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*.yaml") if p.is_file() and p.name != LABELS_FILE))
        else:
            files.append(path)
    return files


def load_profile_dir(extra: Path | None = None) -> dict[str, Profile]:
    """The shipped profiles, plus those in `extra`: a site's own folder adds to the shipped set, and a
    profile there with a shipped profile's id replaces that one (a corrected copy); the rest stay."""
    shipped = profile_files([default_profile_dir()])
    if extra is None or extra.resolve() == default_profile_dir().resolve():
        return load_profiles(shipped)
    own = profile_files([extra])
    replaced = {_profile_id(path) for path in own} - {""}
    return load_profiles([path for path in shipped if _profile_id(path) not in replaced] + own)


def _profile_id(path: Path) -> str:
    data = load_yaml(path, ProfileError)
    return str(data.get("id", "")) if isinstance(data, dict) else ""


def load_profiles(files: Iterable[Path]) -> dict[str, Profile]:
    """Load every file; resolve `extends`; return profiles by id (abstract bases included)."""
    raw: dict[str, tuple[Section, str]] = {}
    for path in files:
        data = load_yaml(path, ProfileError)
        top = Section(data, file=str(path), path="", error=ProfileError, line=1)
        top.only(*_TOP_KEYS)
        pid = top.str("id")
        if not _ID.match(pid):
            top.fail(f"id {pid!r} must be lower-case letters, digits and dashes", "id")
        if pid in raw:
            top.fail(f"profile id {pid!r} is already defined in {raw[pid][0].file}", "id")
        raw[pid] = (top, top.str("extends", ""))

    loaded: dict[str, Profile] = {}

    def resolve(pid: str, chain: tuple[str, ...]) -> Profile:
        if pid in loaded:
            return loaded[pid]
        top, base_id = raw[pid]
        base = None
        if base_id:
            if base_id in chain:
                top.fail(f"extends cycle: {' -> '.join((*chain, base_id))}", "extends")
            if base_id not in raw:
                top.fail(f"extends unknown profile {base_id!r}", "extends")
            base = resolve(base_id, (*chain, pid))
        loaded[pid] = _parse_profile(top, base)
        return loaded[pid]

    for pid in raw:
        resolve(pid, (pid,))
    return loaded


_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def _parse_profile(top: Section, base: Profile | None) -> Profile:
    abstract = top.bool("abstract", False)
    transport = top.choice("transport", ("modbus", "serial"), base.transport if base else "modbus")
    polling = dict(base.polling if base else _DEFAULT_POLLING)
    if top.has("polling"):
        sec = top.section("polling")
        for cls in sec.data:
            polling[str(cls)] = sec.duration(str(cls))
    quirks = _parse_quirks(top.section("quirks"), base.quirks if base else Quirks()) \
        if top.has("quirks") else (base.quirks if base else Quirks())
    serial = _parse_serial(top.section("serial")) if top.has("serial") else (base.serial if base else None)
    binary, lines = (base.binary, base.lines) if base else (None, None)
    if top.has("framing"):
        binary, lines = _parse_framing(top.section("framing"), top)
    if transport == "serial" and not abstract and binary is None and lines is None:
        top.fail("a serial profile needs a framing section")
    if transport == "modbus" and top.has("framing"):
        top.fail("framing is only for serial (non-Modbus) profiles", "framing")

    points: dict[str, Point] = {p.name: p for p in (base.points if base else ())}
    groups = dict(base.groups if base else {})
    defined: set[str] = set()  # names this file defines (it may replace its base's, not its own)

    def add(point: Point) -> None:
        if point.name in defined:
            raise ProfileError(f"point {point.name!r} is defined twice", file=top.file, line=point.line,
                               field=point.name)
        defined.add(point.name)
        points[point.name] = point
    for spec in top.sections("points", []):
        for point in _parse_point(spec, polling, binary, prefix="", base_address=0, instance=None):
            add(point)
    for gspec in top.sections("groups", []):
        gspec.only("name", "count", "base", "stride", "points")
        gname = gspec.str("name")
        if not _NAME.match(gname):
            gspec.fail(f"group name {gname!r} must be lower_snake_case", "name")
        count = gspec.int("count", lo=1, hi=256)
        start = gspec.int("base", 0, lo=0)
        stride = gspec.int("stride", lo=1)
        groups[gname] = count
        for n in range(1, count + 1):
            for spec in gspec.sections("points"):
                for point in _parse_point(spec, polling, binary, prefix=f"{gname}{n}.",
                                          base_address=start + (n - 1) * stride, instance=n):
                    add(point)
    point_list = tuple(points.values())
    _check_layout(top, point_list, quirks)

    firmware = base.firmware if base else ("", "")
    if top.has("firmware"):
        fw = top.section("firmware")
        fw.only("min", "max")
        firmware = (str(fw.raw("min")), str(fw.raw("max")))
    probe = base.probe if base else ()
    if top.has("identity"):
        ident = top.section("identity")
        ident.only("probe")
        probe = tuple(_parse_probe(p, points) for p in ident.sections("probe"))
    if not abstract and transport == "modbus" and not probe:
        top.fail("a Modbus profile needs identity.probe so a gateway can tell firmware versions apart")

    rules = {r.id: r for r in (base.rules if base else ())}
    own_rules: set[str] = set()
    for rspec in top.sections("rules", []):
        rule = _parse_rule(rspec, points, groups, quirks)
        if rule.id in own_rules:
            rspec.fail(f"rule id {rule.id!r} is used twice", "id")
        own_rules.add(rule.id)
        rules[rule.id] = rule
    vectors = tuple(_parse_vector(v, transport, binary) for v in top.sections("vectors", []))
    if not abstract and not vectors:
        top.fail("every profile must carry test vectors (raw data -> expected values)")
    for vec in vectors:
        unknown = [name for name in vec.expect if name not in points] if not vec.text else []
        if unknown:
            raise ProfileError(f"vector {vec.name!r} expects unknown point {unknown[0]!r}", file=top.file,
                               line=vec.line, field="vectors")

    if not abstract:
        for key in ("vendor", "model", "kind"):
            if not top.has(key) and not (base is not None and getattr(base, key)):
                top.fail(f"missing required key {key!r}")
    return Profile(
        id=top.str("id"), file=top.file, vendor=top.str("vendor", base.vendor if base else ""),
        model=top.str("model", base.model if base else ""),
        kind=top.choice("kind", KINDS, base.kind if base else "") if top.has("kind") or base else "",
        transport=transport, firmware=firmware, abstract=abstract, extends=top.str("extends", ""),
        description=top.str("description", ""), points=point_list, groups=groups, probe=probe,
        polling=polling, quirks=quirks, serial=serial, binary=binary, lines=lines,
        rules=tuple(rules.values()), vectors=vectors, snapshot=_parse_snapshot(top, base),
    )


_SNAPSHOT_PATH = re.compile(r"^/[\x21-\x7e]*$")


def _parse_snapshot(top: Section, base: Profile | None) -> Snapshot | None:
    """`snapshot: {port, path}`: a camera's still picture over HTTP, `{channel}` in the path."""
    if not top.has("snapshot"):
        return base.snapshot if base else None
    sec = top.section("snapshot")
    sec.only("port", "path")
    path = sec.str("path")
    if not _SNAPSHOT_PATH.match(path) or path.replace("{channel}", "").count("{") or "}" in path.replace(
            "{channel}", ""):
        sec.fail(f"path {path!r} must start with / and hold no spaces or placeholders but {{channel}}", "path")
    kind = top.str("kind", base.kind if base else "")
    if kind != "camera":
        top.fail("only a camera profile has a snapshot source", "snapshot")
    return Snapshot(port=sec.int("port", 80, lo=1, hi=65535), path=path)


def _parse_quirks(sec: Section, base: Quirks) -> Quirks:
    sec.only("max_registers", "max_bits", "max_gap", "forbidden", "single_register_only",
             "inter_frame_pause", "timeout", "write_function")
    forbidden = base.forbidden
    if sec.has("forbidden"):
        ranges = []
        for item in sec.list("forbidden"):
            if (not isinstance(item, list) or len(item) != 2 or not all(isinstance(x, int) for x in item)
                    or item[0] > item[1]):
                sec.fail(f"forbidden ranges are [first, last] address pairs, got {item!r}", "forbidden")
            ranges.append((item[0], item[1]))
        forbidden = tuple(ranges)
    return Quirks(
        max_registers=sec.int("max_registers", base.max_registers, lo=1, hi=125),
        max_bits=sec.int("max_bits", base.max_bits, lo=1, hi=2000),
        max_gap=sec.int("max_gap", base.max_gap, lo=0, hi=125),
        forbidden=forbidden,
        single_register_only=sec.bool("single_register_only", base.single_register_only),
        inter_frame_pause_ms=round(sec.duration("inter_frame_pause", base.inter_frame_pause_ms / 1000) * 1000),
        timeout_ms=round(sec.duration("timeout", base.timeout_ms / 1000) * 1000),
        write_function=sec.choice("write_function", ("single", "multiple"), base.write_function),
    )


def _parse_serial(sec: Section) -> SerialSettings:
    sec.only("baud", "parity", "data_bits", "stop_bits")
    return SerialSettings(
        baud=sec.choice("baud", (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200), 9600),
        parity=sec.choice("parity", ("N", "E", "O"), "N"),
        data_bits=sec.choice("data_bits", (7, 8), 8),
        stop_bits=sec.choice("stop_bits", (1, 2), 1),
    )


def _parse_framing(sec: Section, top: Section) -> tuple[BinaryFraming | None, LineFraming | None]:
    kind = sec.choice("kind", ("binary", "ascii_lines"))
    if kind == "binary":
        sec.only("kind", "header", "address", "checksum", "max_payload")
        header = sec.list("header")
        if not header or not all(isinstance(b, int) and 0 <= b <= 255 for b in header):
            sec.fail("header is a list of byte values", "header")
        commands: dict[str, Command] = {}
        if top.has("commands"):
            csec = top.section("commands")
            for name in csec.data:
                cmd = csec.section(str(name))
                cmd.only("code", "reply", "payload")
                payload = cmd.list("payload", [])
                if not all(p in ("instance", "value") for p in payload):
                    cmd.fail("payload lists byte fields: instance, value", "payload")
                commands[str(name)] = Command(str(name), cmd.int("code", lo=0, hi=255),
                                              cmd.int("reply", lo=0, hi=255), tuple(payload))
        return BinaryFraming(header=bytes(header), checksum=sec.choice("checksum", ("sum8", "xor", "crc16-modbus")),
                             has_address=sec.bool("address", True),
                             max_payload=sec.int("max_payload", 255, lo=1, hi=255),
                             commands=commands), None
    sec.only("kind", "terminator", "max_line", "events")
    events = []
    for ev in sec.sections("events"):
        ev.only("name", "class", "condition", "match", "format")
        risk = backtracking_risk(ev.str("match"))
        if risk:
            ev.fail(f"{risk}: write the pattern without nested repetition", "match")
        try:
            pattern = re.compile(ev.str("match"))
        except (re.error, RecursionError, OverflowError) as exc:
            ev.fail(f"bad regular expression: {exc}", "match")
        fields = {name: ("int" if "d}" in _field_spec(ev.str("format"), name) else "str")
                  for name in pattern.groupindex}
        events.append(LineEvent(name=ev.str("name"), cls=ev.choice("class", ALARM_CLASSES),
                                condition=ev.choice("condition", ("active", "cleared")), match=pattern,
                                format=ev.str("format"), fields=fields))
    terminator = sec.str("terminator", "\r\n").encode("latin-1")
    return None, LineFraming(terminator=terminator, max_line=sec.int("max_line", 256, lo=16, hi=4096),
                             events=tuple(events))


def _field_spec(fmt: str, name: str) -> str:
    match = re.search(r"\{" + re.escape(name) + r"(:[^}]*)?\}", fmt)
    return (match.group(1) or "") + "}" if match else ""


def _parse_point(spec: Section, polling: dict[str, float], binary: BinaryFraming | None, *, prefix: str,
                 base_address: int, instance: int | None) -> list[Point]:
    spec.only(*_POINT_KEYS)
    name = spec.str("name")
    if not _NAME.match(name):
        spec.fail(f"point name {name!r} must be lower_snake_case", "name")
    is_frame = spec.has("frame")
    table = "frame" if is_frame else spec.choice("table", TABLES)
    if is_frame:
        if binary is None:
            spec.fail("frame points need a binary framing", "frame")
        frame = spec.str("frame")
        if frame not in binary.commands:
            spec.fail(f"unknown command {frame!r}", "frame")
    address = base_address + spec.int("address", lo=0, hi=65535)
    default_type = "bool" if table in BIT_TABLES else ("u8" if is_frame else "u16")
    type_ = spec.raw("type", default_type)
    allowed = (("bool",) if table in BIT_TABLES else tuple(_FRAME_TYPES) if is_frame
               else (*NUMERIC_TYPES, "bit", "string"))
    if type_ not in allowed:
        spec.fail(f"type {type_!r} does not fit table {table!r} (allowed: {', '.join(allowed)})", "type")
    length = spec.int("length", 0, lo=1, hi=246) if type_ == "string" else 0
    if type_ == "string" and not length:
        spec.fail("a string needs length (bytes)", "length")
    if is_frame:
        width = _FRAME_TYPES[type_]
    elif table in BIT_TABLES:
        width = 1
    else:
        width = string_words(length) if type_ == "string" else TYPE_WORDS.get(type_, 1)
    if address + width > 65536:
        spec.fail(f"address {address} + {width} registers runs past 65535", "address")
    access = spec.choice("access", ("r", "rw", "w"), "r")
    poll = spec.str("poll", "status")
    if poll not in polling:
        spec.fail(f"poll class {poll!r} is not in polling ({', '.join(polling)})", "poll")
    enum = None
    if spec.has("enum"):
        esec = spec.section("enum")
        enum = {}
        for key, label in esec.data.items():
            if not isinstance(key, int) or not isinstance(label, str):
                esec.fail(f"enum maps raw numbers to names, got {key!r}: {label!r}", str(key))
            enum[key] = label
    invalid = spec.list("invalid", [])
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in invalid):
        spec.fail("invalid lists raw sentinel values (whole numbers)", "invalid")
    raw_bits = 8 * width if is_frame else 16 * (TYPE_WORDS.get(type_, 1))
    for sentinel in invalid:
        if not -(1 << (raw_bits - 1)) <= sentinel < (1 << raw_bits):
            spec.fail(f"sentinel {sentinel} does not fit {type_}", "invalid")
    valid_range = None
    if spec.has("range"):
        rng = spec.list("range")
        if len(rng) != 2 or not all(isinstance(x, (int, float)) for x in rng) or rng[0] > rng[1]:
            spec.fail("range is [low, high]", "range")
        valid_range = (float(rng[0]), float(rng[1]))
    common: dict[str, Any] = {
        "table": table, "address": address, "line": spec.line,
        "scale": float(spec.number("scale", 1.0)), "offset": float(spec.number("offset", 0.0)),
        "unit": spec.str("unit", ""), "enum": enum, "invalid": frozenset(invalid), "valid_range": valid_range,
        "writable": access != "r", "readable": access != "w", "poll": poll,
        "deadband": float(spec.number("deadband", 0.0)),
        "byte_swap": spec.bool("byte_swap", False), "word_swap": spec.bool("word_swap", False),
        "frame": spec.str("frame", ""), "command": spec.str("command", ""), "instance": instance,
        "description": spec.str("description", ""),
    }
    if is_frame:
        common["byte_swap"] = spec.bool("little_endian", False)
        if common["command"] and common["command"] not in binary.commands:  # type: ignore[union-attr]
            spec.fail(f"unknown command {common['command']!r}", "command")
    if spec.has("bits"):
        if type_ not in ("u16", "u8"):
            spec.fail("bits fields need a u16 register (or u8 frame byte)", "bits")
        bsec = spec.section("bits")
        out = []
        for bit, bit_def in bsec.data.items():
            if not isinstance(bit, int) or not 0 <= bit < raw_bits:
                bsec.fail(f"bit number {bit!r} is outside 0..{raw_bits - 1}", str(bit))
            bspec = Section(bit_def if isinstance(bit_def, dict) else {"name": bit_def}, file=spec.file,
                            path=f"{bsec.path}.{bit}", error=ProfileError, line=bsec.line_of(str(bit)))
            bspec.only("name", "alarm", "description", "poll")
            bname = bspec.str("name")
            if not _NAME.match(bname):
                bspec.fail(f"bit name {bname!r} must be lower_snake_case", "name")
            fields = {**common, "scale": 1.0, "offset": 0.0, "enum": None, "invalid": frozenset(),
                      "valid_range": None, "description": bspec.str("description", "")}
            if bspec.has("poll"):
                fields["poll"] = bspec.choice("poll", tuple(polling))
            out.append(Point(name=prefix + bname, type="bit", width=width, bit=bit, **fields,
                             alarm=_parse_alarm(bspec.section("alarm")) if bspec.has("alarm") else None))
        return out
    bit = None
    if type_ == "bit":
        bit = spec.int("bit", lo=0, hi=raw_bits - 1)
    alarm = _parse_alarm(spec.section("alarm")) if spec.has("alarm") else None
    return [Point(name=prefix + name, type=type_, width=width, bit=bit, length=length, alarm=alarm, **common)]


def _parse_alarm(sec: Section) -> AlarmSpec:
    sec.only("class", "severity", "normal", "text")
    return AlarmSpec(cls=sec.choice("class", ALARM_CLASSES), severity=sec.int("severity", 2, lo=1, hi=5),
                     normal=sec.raw("normal", False), text=sec.str("text", ""))


def _check_layout(top: Section, points: tuple[Point, ...], quirks: Quirks) -> None:
    """No two points may share a register (bit points may share one if their bits differ)."""
    by_table: dict[str, list[Point]] = {}
    for p in points:
        key = f"frame:{p.frame}" if p.table == "frame" else p.table
        by_table.setdefault(key, []).append(p)
        if p.table in REGISTER_TABLES and p.width > quirks.max_registers:
            raise ProfileError(f"point {p.name!r} needs {p.width} registers, more than max_registers "
                               f"{quirks.max_registers} allows in one read", file=top.file, line=p.line, field=p.name)
        if p.table in REGISTER_TABLES or p.table in BIT_TABLES:
            for first, last in quirks.forbidden:
                if p.address <= last and p.end - 1 >= first:
                    raise ProfileError(f"point {p.name!r} at {p.address} lies in forbidden range {first}..{last}",
                                       file=top.file, line=p.line, field=p.name)
    for table, pts in by_table.items():
        pts.sort(key=lambda p: (p.address, p.bit or 0))
        reach = pts[0]  # of the points so far, the one that ends last
        for b in pts[1:]:
            if b.address < reach.end and not _bits_share(reach, b):
                raise ProfileError(
                    f"point {b.name!r} ({table} {b.address}..{b.end - 1}) overlaps {reach.name!r} "
                    f"({reach.address}..{reach.end - 1})", file=top.file, line=b.line, field=b.name)
            if b.end > reach.end:
                reach = b


def _bits_share(a: Point, b: Point) -> bool:
    """Two bit points may share one register (or frame byte) when their bits differ."""
    return a.type == b.type == "bit" and a.address == b.address and a.width == b.width and a.bit != b.bit


def _parse_probe(sec: Section, points: dict[str, Point]) -> Probe:
    sec.only("point", "equals", "min", "max")
    name = sec.str("point")
    if name not in points:
        sec.fail(f"probe names unknown point {name!r}", "point")
    if not (sec.has("equals") or sec.has("min") or sec.has("max")):
        sec.fail("a probe needs equals, or min and/or max")
    point = points[name]
    equals = sec.raw("equals", None)
    numeric = point.type not in ("string",) and point.enum is None
    if equals is not None and numeric and (isinstance(equals, bool) or not isinstance(equals, (int, float))):
        sec.fail(f"{name} is a number: equals {equals!r} in quotes would never match (write it unquoted, "
                 "e.g. equals: 0x4E54)", "equals")
    return Probe(point=name, equals=sec.raw("equals", None), min=sec.number("min", None),
                 max=sec.number("max", None))


def _parse_condition(sec: Section, key: str, names: set[str], unreadable: frozenset[str] = frozenset()) -> Condition:
    cond = sec.section(key)
    cond.only("point", "op", "value")
    name = cond.str("point")
    if name not in names:
        cond.fail(f"unknown point {name!r}", "point")
    if name in unreadable:
        cond.fail(f"{name!r} is write-only (access: w): it is never read, so a rule on it could never hold",
                  "point")
    return Condition(point=name, op=cond.choice("op", _OPS), value=cond.raw("value"))


def _parse_rule(sec: Section, points: dict[str, Point], groups: dict[str, int], quirks: Quirks) -> Rule:
    sec.only("id", "each", "when", "for", "clear", "raise", "actions", "latch", "text")
    each = sec.str("each", "")
    if each and each not in groups:
        sec.fail(f"unknown group {each!r}", "each")
    # Within `each: port` a rule names the group's points without the instance (temperature, relay).
    names = ({p.name.split(".", 1)[1] for p in points.values() if p.name.startswith(f"{each}1.")}
             if each else set(points))
    raise_sec = sec.section("raise")
    raise_sec.only("class", "severity")
    actions = []
    for act in sec.sections("actions", []):
        act.only("write", "value")
        target = act.str("write")
        if target not in names:
            act.fail(f"action writes unknown point {target!r}", "write")
        full = f"{each}1.{target}" if each else target
        if not points[full].writable:
            act.fail(f"action writes read-only point {target!r}", "write")
        try:
            check_value(points[full], act.raw("value"), quirks.write_function)
        except WriteRefused as exc:
            act.fail(f"action value: {exc}", "value")
        actions.append((target, act.raw("value")))
    prefix = f"{each}1." if each else ""
    unreadable = frozenset(n for n in names if not points[prefix + n].readable)
    zh, en = _alarm_text(sec)
    return Rule(id=sec.str("id"), each=each, when=_parse_condition(sec, "when", names, unreadable),
                sustain_s=sec.duration("for", 0.0), text=zh, text_en=en,
                clear=_parse_condition(sec, "clear", names, unreadable) if sec.has("clear") else None,
                raise_class=raise_sec.choice("class", ALARM_CLASSES),
                severity=raise_sec.int("severity", 2, lo=1, hi=5), actions=tuple(actions),
                latch=sec.bool("latch", False), line=sec.line)


def _alarm_text(sec: Section) -> tuple[str, str]:
    """A rule's alarm text: `text: 端口过热` or `text: {zh: 端口过热, en: port overheating}`."""
    if not sec.has("text"):
        return "", ""
    raw = sec.raw("text")
    if isinstance(raw, str):
        return raw[:200], ""
    text = sec.section("text")
    text.only("zh", "en")
    return text.str("zh", "")[:200], text.str("en", "")[:200]


def _parse_vector(sec: Section, transport: str, binary: BinaryFraming | None) -> Vector:
    sec.only("name", "raw", "frame", "line", "expect")
    expect_sec = sec.section("expect")
    name = sec.str("name")
    if sec.has("frame"):
        try:
            frame = bytes.fromhex(sec.str("frame"))
        except ValueError:
            sec.fail("frame is hex bytes, e.g. 'A5 5A 01 81 00 ...'", "frame")
        return Vector(name=name, line=sec.line, frame=frame, expect=dict(expect_sec.data))
    if sec.has("line"):
        return Vector(name=name, line=sec.line, text=sec.str("line"), expect=dict(expect_sec.data))
    raw_sec = sec.section("raw")
    raw: dict[str, dict[int, list[int]]] = {}
    for table in raw_sec.data:
        if table not in TABLES:
            raw_sec.fail(f"unknown table {table!r}", str(table))
        bsec = raw_sec.section(str(table))
        raw[str(table)] = {}
        for start, words in bsec.data.items():
            limit = 1 if table in BIT_TABLES else 0xFFFF
            if (not isinstance(start, int) or not isinstance(words, list)
                    or not all(isinstance(w, int) and 0 <= w <= limit for w in words)):
                bsec.fail(f"raw blocks are start address -> list of values 0..{limit}", str(start))
            raw[str(table)][start] = words
    return Vector(name=name, line=sec.line, raw=raw, expect=dict(expect_sec.data))
