"""YAML with line numbers: the one module that imports the YAML parser.

Profiles and site files are read into plain dicts and lists, but every mapping remembers the line of
each of its keys, so that a checker can say `file:line [field] reason`. Duplicate keys, which YAML
silently folds, are refused here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from devices.errors import ConfigError

__all__ = ["Located", "load_yaml", "load_yaml_text"]


class Located(dict[str, Any]):
    """A mapping that knows its own line and the line of each key (1-based)."""

    line: int
    key_lines: dict[str, int]

    def line_of(self, key: object) -> int:
        return self.key_lines.get(str(key), self.line)


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's parser where PyYAML was built with it (about 10x faster: a city's inventory is MBs)."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Located:
    loader.flatten_mapping(node)
    result = Located()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int)):
            raise ConfigError(f"mapping key must be text or a number, not {key!r}",
                              line=key_node.start_mark.line + 1)
        if key in result:
            raise ConfigError(f"duplicate key {key!r}", line=key_node.start_mark.line + 1, field=str(key))
        # Keys stay as YAML typed them (register numbers are ints); lines are found by str(key) too.
        result[key] = loader.construct_object(value_node, deep=True)  # type: ignore[index]
        result.key_lines[str(key)] = key_node.start_mark.line + 1
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


MAX_BYTES = 2 * 1024 * 1024  # a profile or a site file is a few kB; refuse what cannot be one
MAX_DEPTH = 64  # profiles and site files nest a handful of levels; deeper is an attack on the parser
_ODD_BREAKS = {"\x85": "U+0085", "\u2028": "U+2028", "\u2029": "U+2029"}


def load_yaml_text(text: str, file: str, error: type[ConfigError] = ConfigError, *,
                   max_bytes: int = MAX_BYTES) -> Any:
    """Parse YAML text; syntax errors and duplicate keys become `error` with file and line."""
    if len(text) > max_bytes:
        raise error(f"{len(text)} characters: too large for a configuration file", file=file)
    for char, name in _ODD_BREAKS.items():
        at = text.find(char)
        if at >= 0:
            # YAML counts these as line breaks and editors do not: every line number after it would be wrong
            raise error(f"a {name} line separator: use plain newlines", file=file, line=text.count("\n", 0, at) + 1)
    depth = _nesting(text)
    if depth > MAX_DEPTH:
        raise error(f"nested more than {MAX_DEPTH} levels deep", file=file)
    try:
        return yaml.load(text, Loader=_Loader)
    except ConfigError as exc:
        raise error(exc.reason, file=file, line=exc.line, field=exc.field) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise error(f"YAML syntax: {exc.problem or exc.context}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise error(f"YAML: {exc}", file=file) from None
    except RecursionError:
        raise error("nested too deep to read", file=file) from None


def _nesting(text: str) -> int:
    """How deep YAML's collections nest, measured on the token stream (no objects are built)."""
    depth = deepest = 0
    try:
        for token in yaml.scan(text, Loader=_Loader):
            if isinstance(token, (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken,
                                  yaml.FlowMappingStartToken, yaml.FlowSequenceStartToken)):
                depth += 1
                deepest = max(deepest, depth)
                if deepest > MAX_DEPTH:
                    return deepest  # enough: do not scan the rest (flow nesting scans in quadratic time)
            elif isinstance(token, (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)):
                depth -= 1
    except yaml.YAMLError:
        return deepest  # the parser says what is wrong with it, with its line
    return deepest


def load_yaml(path: Path, error: type[ConfigError] = ConfigError, *, max_bytes: int = MAX_BYTES) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror}", file=str(path)) from None
    except UnicodeDecodeError:
        raise error("not UTF-8 text", file=str(path)) from None
    return load_yaml_text(text, str(path), error, max_bytes=max_bytes)
