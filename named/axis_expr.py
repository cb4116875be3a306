"""Parser shared by the ``rearrange`` and ``einsum`` expression languages (grammar: axis_expr.lark).

An expression parses into :class:`Side` objects whose items are :class:`Name`, :class:`Group` or
:class:`Dots` (``...``), each remembering its character span so that later semantic checks can put a
caret under the fault. Every failure is a :class:`~named.ParseError` (or an :class:`~named.AxisError`
for sizes) quoting the expression.

>>> from named.axis_expr import parse_rearrange
>>> lhs, rhs = parse_rearrange("b (h w) -> b h w")
>>> [type(i).__name__ for i in lhs.items]
['Name', 'Group']
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Union

import lark

from named.compiler import user_location
from named.dialect import AxisError, ParseError
from named.dialect.errors import caret_excerpt

__all__ = ["Name", "Group", "Dots", "Side", "Item", "parse_rearrange", "parse_einsum", "fail"]


@dataclass(frozen=True, slots=True)
class Name:
    """An identifier (``b`` or a quoted ``"my axis"``) at ``text[start:end]``."""

    text: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Group:
    """``(name: a b)`` (``name`` set) or ``(a b)`` (anonymous) at ``text[start:end]``."""

    name: Name | None
    parts: tuple[Name, ...]
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Dots:
    """An ellipsis ``...``."""

    start: int
    end: int


Item = Union[Name, Group, Dots]


@dataclass(frozen=True, slots=True)
class Side:
    """One side of an expression: its items, whether it is ordered (no braces), and its span."""

    items: tuple[Item, ...]
    ordered: bool
    start: int
    end: int

    @property
    def ellipses(self) -> tuple[Dots, ...]:
        return tuple(i for i in self.items if isinstance(i, Dots))


def fail(what: str, message: str, text: str, pos: int | None, error=ParseError):
    """Raise ``error`` (ParseError or AxisError) for ``text`` with a caret under ``pos``."""
    full = f"{what}: {message}"
    if pos is None:
        raise error(f"{full}\n    {text}", loc=user_location()).with_traceback(None)
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1)
    if error is ParseError:
        raise ParseError(full, text, column, line, loc=user_location()).with_traceback(None)
    raise error(f"{full}\n{caret_excerpt(text, column, line)}", loc=user_location()).with_traceback(None)


@lru_cache(maxsize=1)
def _parser() -> lark.Lark:
    grammar = (Path(__file__).parent / "axis_expr.lark").read_text()
    return lark.Lark(grammar, parser="lalr", start=["start_rearrange", "start_einsum"],
                     propagate_positions=True, maybe_placeholders=False)


def parse_rearrange(text: str) -> tuple[Side, Side]:
    """Parse ``"lhs -> rhs"`` of :func:`named.rearrange` into its two sides."""
    lhs, arrow, rhs = _parse(text, "start_rearrange", "rearrange").children
    return _side(lhs, text, arrow.start_pos, "rearrange"), _side(rhs, text, len(text), "rearrange")


def parse_einsum(text: str) -> tuple[tuple[Side, ...], Side]:
    """Parse ``"op, op, ... -> out"`` of :func:`named.einsum` into its operand sides and output side."""
    operands, arrow, rhs = _parse(text, "start_einsum", "einsum").children
    sides = tuple(_side(c, text, arrow.start_pos, "einsum") for c in operands.children)
    return sides, _side(rhs, text, len(text), "einsum")


def _parse(text: str, start: str, what: str) -> lark.Tree:
    if not isinstance(text, str):
        raise TypeError(f"{what} needs an expression string, got {type(text).__name__}")
    try:
        return _parser().parse(text, start=start)
    except lark.exceptions.UnexpectedInput as e:
        fail(what, _describe(e, text), text, _error_pos(e, text))


def _error_pos(e: lark.exceptions.UnexpectedInput, text: str) -> int:
    if isinstance(e, lark.exceptions.UnexpectedToken) and e.token.type != "$END":
        return e.token.start_pos
    pos = getattr(e, "pos_in_stream", None)
    if isinstance(e, lark.exceptions.UnexpectedEOF) or pos is None or pos < 0 or \
            (isinstance(e, lark.exceptions.UnexpectedToken) and e.token.type == "$END"):
        return len(text)
    return pos


_TERMINALS = {"IDENT": "an axis name", "STRING": "an axis name", "ARROW": "'->'", "ELLIPSIS": "'...'",
              "LPAR": "'('", "RPAR": "')'", "LBRACE": "'{'", "RBRACE": "'}'", "COLON": "':'", "COMMA": "','"}


def _expected(names) -> str:
    words = sorted({_TERMINALS.get(n, n.lower()) for n in names if n != "$END"})
    if not words:
        return "the end of the expression"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _describe(e: lark.exceptions.UnexpectedInput, text: str) -> str:
    if isinstance(e, lark.exceptions.UnexpectedCharacters):
        char = e.char
        if char.isdigit():
            return f"unexpected {char!r}: axis names cannot start with a digit (sizes go in keyword arguments)"
        if char in "\"'":
            return "unterminated quoted axis name"
        if char == "-":
            return "unexpected '-': the arrow is '->'"
        if char == ".":
            return "unexpected '.': an ellipsis is '...'"
        return f"unexpected character {char!r}"
    if isinstance(e, lark.exceptions.UnexpectedToken):
        tok = e.token
        expected = _expected(e.expected)
        if tok.type == "$END":
            return f"unexpected end of expression; expected {expected}"
        if tok.type == "LPAR" and "RPAR" in e.expected:
            return "groups cannot be nested: '(' inside '( ... )'"
        if tok.type in ("LBRACE", "RBRACE") and "RPAR" in e.expected:
            return f"unexpected {tok.value!r} inside '( ... )'"
        if tok.type == "ARROW" and "RPAR" in e.expected:
            return "unbalanced parentheses: '(' is not closed before '->'"
        if tok.type == "ARROW" and "RBRACE" in e.expected:
            return "unbalanced braces: '{' is not closed before '->'"
        if tok.type == "RPAR":
            return "unbalanced parentheses: ')' without '('"
        if tok.type == "ARROW":
            return "unexpected '->': an expression has exactly one arrow"
        return f"unexpected {tok.value!r}; expected {expected}"
    return f"unexpected end of expression; expected {_expected(getattr(e, 'expected', ()) or ())}"


def _name(tok: lark.Tree, text: str, what: str) -> Name:
    (t,) = tok.children
    value = t.value
    if t.type == "STRING":
        body = value[1:-1]
        out, i = [], 0
        while i < len(body):  # a backslash escapes the next character
            if body[i] == "\\" and i + 1 < len(body):
                i += 1
            out.append(body[i])
            i += 1
        value = "".join(out)
        if not value:
            fail(what, "an axis name cannot be empty", text, t.start_pos)
    return Name(value, t.start_pos, t.end_pos)


def _item(node, text: str, what: str) -> Item:
    if isinstance(node, lark.Token):  # ELLIPSIS
        return Dots(node.start_pos, node.end_pos)
    if node.data == "name":
        return _name(node, text, what)
    children = [c for c in node.children if isinstance(c, lark.Tree)]
    lpar, rpar = node.children[0], node.children[-1]
    if node.data == "named_group":
        head, *parts = children
        return Group(_name(head, text, what), tuple(_name(p, text, what) for p in parts), lpar.start_pos, rpar.end_pos)
    return Group(None, tuple(_name(p, text, what) for p in children), lpar.start_pos, rpar.end_pos)


def _side(node, text: str, default_pos: int, what: str) -> Side:
    if isinstance(node, lark.Tree) and node.data == "unordered":
        lbrace, *body, rbrace = node.children
        items = tuple(_item(c, text, what) for c in body)
        return Side(items, False, lbrace.start_pos, rbrace.end_pos)
    if isinstance(node, lark.Tree) and node.data in ("r_ordered", "e_ordered"):
        items = tuple(_item(c, text, what) for c in node.children if c is not None)
    else:  # a single item that lark inlined
        items = (_item(node, text, what),)
    if not items:
        return Side((), True, default_pos, default_pos)
    return Side(items, True, items[0].start, items[-1].end)
