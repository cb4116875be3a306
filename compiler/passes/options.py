"""Pass pipelines as text: ``"canonicalize{max_constant_size=0},cse,dce"`` -> a list of passes.

The text is a comma-separated list of registered pass names (:data:`PASSES`), each optionally
followed by ``{option=value, ...}``. Options are the pass's dataclass fields; values are converted
to the field's annotated type: ``bool`` (true/false/1/0/yes/no/on/off), ``int``, ``float``, ``str``
(bare, or quoted ``"..."`` to hold commas or braces), ``tuple[T, ...]`` written ``[a, b]``, and
``T | None`` (``none``). Every fault is a :class:`ParseError` with a caret under it.
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from typing import Any

from named.dialect import NamedError, ParseError

from .base import PASSES, Pass

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_BARE = re.compile(r"[^,{}\[\]\"]+")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def parse_pipeline(text: str, registry: dict[str, type[Pass]] | None = None) -> list[Pass]:
    """The passes named by ``text``, constructed with their options.

    >>> [p.name for p in parse_pipeline("cse, dce")]
    ['cse', 'dce']
    >>> parse_pipeline("canonicalize{max_constant_size=0}")[0].max_constant_size
    0
    """
    return _Reader(text, PASSES if registry is None else registry).pipeline()


def pass_options(cls: type[Pass]) -> list[tuple[str, str, Any]]:
    """(name, type text, default) of each option of a pass class (``dataclasses.MISSING``: required)."""
    hints = _hints(cls)
    out = []
    for f in dataclasses.fields(cls) if dataclasses.is_dataclass(cls) else ():
        if not f.init:
            continue
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else dataclasses.MISSING)
        out.append((f.name, _type_text(hints.get(f.name, str)), default))
    return out


def _hints(cls) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # an annotation naming something not importable: fall back to the raw text
        return {f.name: f.type for f in dataclasses.fields(cls)}


def _type_text(t) -> str:
    return getattr(t, "__name__", None) if isinstance(t, type) else str(t).replace("typing.", "")


class _Reader:
    def __init__(self, text: str, registry: dict[str, type[Pass]]):
        self.text = text
        self.pos = 0
        self.registry = registry

    def fail(self, message: str, at: int | None = None):
        raise ParseError(f"pass pipeline: {message}", self.text, self.pos if at is None else at) from None

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            found = repr(self.peek()) if self.peek() else "the end"
            self.fail(f"expected {char!r}, found {found}")
        self.pos += 1

    def pipeline(self) -> list[Pass]:
        passes = []
        if not self.peek():
            return passes
        while True:
            passes.append(self.one_pass())
            if not self.peek():
                return passes
            self.expect(",")

    def one_pass(self) -> Pass:
        self.skip()
        start = self.pos
        m = _NAME.match(self.text, self.pos)
        if m is None:
            self.fail("expected a pass name")
        name = m.group()
        cls = self.registry.get(name)
        if cls is None:
            known = ", ".join(sorted(self.registry)) or "none"
            self.fail(f"unknown pass {name!r}; known passes: {known}", start)
        self.pos = m.end()
        options: dict[str, tuple[str | tuple, int]] = {}
        if self.peek() == "{":
            self.pos += 1
            while self.peek() != "}":
                self.skip()
                key_at = self.pos
                key = _NAME.match(self.text, self.pos)
                if key is None:
                    self.fail(f"expected an option name of pass {name!r}")
                self.pos = key.end()
                self.expect("=")
                self.skip()
                value_at = self.pos
                value = self.value()
                if key.group() in options:
                    self.fail(f"option {key.group()!r} of pass {name!r} is given twice", key_at)
                options[key.group()] = (value, value_at, key_at)
                if self.peek() != "}":
                    self.expect(",")
            self.pos += 1
        return self.build(cls, name, options, start)

    def value(self) -> str | tuple:
        char = self.peek()
        if char == '"':
            m = re.compile(r'"(\\.|[^"\\])*"').match(self.text, self.pos)
            if m is None:
                self.fail("unterminated string")
            self.pos = m.end()
            return json.loads(m.group())
        if char == "[":
            self.pos += 1
            items = []
            while self.peek() != "]":
                if not self.peek():
                    self.fail("expected ']'")
                items.append(self.value())
                if self.peek() != "]":
                    self.expect(",")
            self.pos += 1
            return tuple(items)
        m = _BARE.match(self.text, self.pos)
        if m is None or not m.group().strip():
            self.fail("expected an option value")
        self.pos = m.end()
        return m.group().strip()

    def build(self, cls: type[Pass], name: str, options: dict, at: int) -> Pass:
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init} if dataclasses.is_dataclass(cls) else {}
        hints = _hints(cls)
        kwargs = {}
        for key, (raw, value_at, key_at) in options.items():
            if key not in fields:
                known = ", ".join(fields) or "none"
                self.fail(f"pass {name!r} has no option {key!r}; its options: {known}", key_at)
            try:
                kwargs[key] = convert(raw, hints.get(key, str))
            except ValueError as e:
                self.fail(f"option {key!r} of pass {name!r}: {e}", value_at)
        try:
            return cls(**kwargs)
        except TypeError as e:
            missing = [f for f in fields if f not in kwargs and fields[f].default is dataclasses.MISSING
                       and fields[f].default_factory is dataclasses.MISSING]
            if missing:
                self.fail(f"pass {name!r} needs option(s) {', '.join(missing)}: write {name}{{{missing[0]}=...}}", at)
            self.fail(f"pass {name!r} cannot be made with these options: {e}", at)
        except (ValueError, AssertionError, NamedError) as e:  # a pass validating its options
            self.fail(f"pass {name!r} rejects these options: {e}", at)


def convert(raw: str | tuple, t) -> Any:
    """``raw`` option text (or a tuple of texts, from ``[a, b]``) as a value of type ``t``."""
    origin = typing.get_origin(t)
    if origin in (typing.Union, types.UnionType):
        members = typing.get_args(t)
        if type(None) in members and raw == "none":
            return None
        errors = []
        for member in members:
            if member is type(None):
                continue
            try:
                return convert(raw, member)
            except ValueError as e:
                errors.append(str(e))
        raise ValueError("; ".join(errors))
    if origin in (tuple, list):
        args = typing.get_args(t)
        item = args[0] if args else str
        items = raw if isinstance(raw, tuple) else (raw,)
        return tuple(convert(v, item) for v in items)
    if t is typing.Any:
        return raw
    if isinstance(raw, tuple):
        raise ValueError(f"expected one {_type_text(t)} value, got a list")
    if t is bool:
        low = raw.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError(f"expected true or false, got {raw!r}")
    if t is int:
        try:
            return int(raw, 0)
        except ValueError:
            raise ValueError(f"expected an integer, got {raw!r}") from None
    if t is float:
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"expected a number, got {raw!r}") from None
    if t is str:
        return raw
    raise ValueError(f"options of type {_type_text(t)} cannot be given as text")
