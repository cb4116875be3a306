"""Rematerialization: ``named.checkpoint`` (a region op), ``named.checkpoint_name`` and
``named.optimization_barrier``, plus the save policies they name.

``named.checkpoint`` runs its region once; it only matters to reverse-mode autodiff, which saves the
values the ``policy`` allows and recomputes the rest in the backward pass. A policy is a predicate
over one op of the region: "may this op's results be kept for the backward pass?". Policies are
named, so they print as a string attribute and parse back::

    %2 = named.checkpoint %0, %1 {policy = "save_only_these_names(attn)", prevent_cse = true}
        : (f32[embed=8], f32[embed=8]) ({^(%3: f32[embed=8], %4: f32[embed=8]):
          %5 = named.mul %3, %4 : f32[embed=8]
          %6 = named.checkpoint_name %5 {name = "attn"} : f32[embed=8]
          yield %6
        })

``named.checkpoint_name`` is the identity that tags a value for ``save_only_these_names``;
``named.optimization_barrier`` is the identity XLA may not look through (the backward pass puts it
on the inputs of a recomputation so that XLA cannot merge the recomputation back into the forward).
"""

from __future__ import annotations

import re
from typing import Callable

from ..core import Op
from ..errors import VerifyError
from .control import _check_args, _types, check_closed

__all__ = ["Checkpoint", "CheckpointName", "OptimizationBarrier", "SavePolicy", "POLICY_NAMES",
           "parse_policy"]


class SavePolicy:
    """A named predicate over IR ops: ``policy.saveable(op)`` says whether ``op``'s results may be kept
    for the backward pass (anything else is recomputed). ``str(policy)`` is its IR text.

    >>> parse_policy("save_only_these_names(a, b)").names
    ('a', 'b')
    """

    __slots__ = ("name", "names", "_test")

    def __init__(self, name: str, test: Callable[["SavePolicy", Op], bool], names: tuple[str, ...] = ()):
        self.name = name
        self.names = tuple(names)
        self._test = test

    def saveable(self, op: Op) -> bool:
        return bool(self._test(self, op))

    def __call__(self, op: Op) -> bool:
        return self.saveable(op)

    def __str__(self) -> str:
        return f"{self.name}({', '.join(self.names)})" if self.name in _NAMED else self.name

    def __repr__(self) -> str:
        return f"<SavePolicy {self}>"

    def __eq__(self, other) -> bool:
        return isinstance(other, SavePolicy) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))


def _is_dot(op: Op) -> bool:
    return op.name == "named.dot"


def _no_batch_dims(op: Op) -> bool:
    if not _is_dot(op):
        return False
    a, b = (v.type for v in op.operands)
    contract = set(op.attrs["contract"])
    return not (set(a.names) & set(b.names)) - contract


def _tag(op: Op) -> str | None:
    return op.attrs["name"] if op.name == "named.checkpoint_name" else None


_SIMPLE: dict[str, Callable[[SavePolicy, Op], bool]] = {
    "nothing_saveable": lambda p, op: False,
    "everything_saveable": lambda p, op: True,
    "dots_saveable": lambda p, op: _is_dot(op),
    "checkpoint_dots": lambda p, op: _is_dot(op),
    "dots_with_no_batch_dims_saveable": lambda p, op: _no_batch_dims(op),
    "checkpoint_dots_with_no_batch_dims": lambda p, op: _no_batch_dims(op),
}
_NAMED: dict[str, Callable[[SavePolicy, Op], bool]] = {
    "save_only_these_names": lambda p, op: _tag(op) in p.names,
    "save_any_names_but_these": lambda p, op: _tag(op) is not None and _tag(op) not in p.names,
    "save_anything_except_these_names": lambda p, op: _tag(op) not in p.names,
}
POLICY_NAMES = tuple(_SIMPLE) + tuple(_NAMED)
_TEXT = re.compile(r"^\s*([A-Za-z_]\w*)\s*(?:\((.*)\))?\s*$", re.S)


def parse_policy(text: str) -> SavePolicy:
    """The policy an IR attribute names, e.g. ``"dots_saveable"`` or ``"save_only_these_names(a, b)"``.

    Raises VerifyError for an unknown name (listing the known ones).
    """
    m = _TEXT.match(text) if isinstance(text, str) else None
    name, args = (m.group(1), m.group(2)) if m else (None, None)
    if name in _SIMPLE and args is None:
        return SavePolicy(name, _SIMPLE[name])
    if name in _NAMED:
        names = tuple(n.strip() for n in (args or "").split(",") if n.strip())
        for n in names:
            if not re.fullmatch(r"[^\s(),]+", n):
                raise VerifyError(f"checkpoint policy {text!r}: {n!r} is not a valid checkpoint name")
        return SavePolicy(name, _NAMED[name], names)
    raise VerifyError(f"unknown checkpoint policy {text!r}; the policies are {', '.join(POLICY_NAMES)} "
                      f"(the last three take names: save_only_these_names(a, b))")


class Checkpoint(Op):
    """``named.checkpoint``: run the region on the operands and yield its results.

    Forward, this is just the region. Reverse-mode autodiff keeps only the region values that
    ``policy`` (a :class:`SavePolicy` by name) allows and recomputes the others in the backward pass,
    behind an optimization barrier when ``prevent_cse``.
    """

    name = "named.checkpoint"
    attributes = ("policy", "prevent_cse")
    num_regions = 1

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        parse_policy(attrs["policy"])
        if not isinstance(attrs["prevent_cse"], bool):
            raise VerifyError(f"{cls.name}: 'prevent_cse' must be true or false, got {attrs['prevent_cse']!r}")
        if len(regions) != 1:
            raise VerifyError(f"{cls.name} takes 1 region, got {len(regions)}")
        (body,) = regions
        _check_args(cls.name, body, tuple(operand_types), "region")
        check_closed(cls.name, body)
        return _types(body.results)


class CheckpointName(Op):
    """``named.checkpoint_name %x {name = "attn"}``: the identity, tagging ``%x`` for name-based policies."""

    name = "named.checkpoint_name"
    attributes = ("name",)
    num_operands = 1

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        tag = attrs["name"]
        if not isinstance(tag, str) or not re.fullmatch(r"[^\s(),]+", tag):
            raise VerifyError(f"{cls.name}: 'name' must be a non-empty string without spaces, commas or "
                              f"parentheses, got {tag!r}")
        return tuple(operand_types)


class OptimizationBarrier(Op):
    """``named.optimization_barrier %a, %b``: the identity on every operand, opaque to XLA's
    optimizations (values computed from its results are not merged with values computed before it)."""

    name = "named.optimization_barrier"
    num_operands = None

    @classmethod
    def type_rule(cls, operand_types, attrs, regions=()):
        return tuple(operand_types)


REMAT_OPS = {"checkpoint": Checkpoint, "checkpoint_name": CheckpointName,
             "optimization_barrier": OptimizationBarrier}
