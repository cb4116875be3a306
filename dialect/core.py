"""The IR core: SSA values, ops, blocks and functions.

An op is one small class: a ``name`` (``"named.add"``), the attribute names it takes, and a type rule
(:meth:`Op.type_rule`) that computes result types from operand types and attributes, raising
:class:`AxisError` when axes disagree. The tracer, the checker and the parser all call that one rule.
Programs are flat SSA: an op's operands are :class:`Value` objects made by earlier ops or block
arguments; names such as ``%3`` are only given when printing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Iterator, Mapping, Sequence

import numpy as np

from .errors import NamedError, VerifyError
from .types import Mesh, TensorType


@dataclass(frozen=True, slots=True)
class Location:
    """Where in the user's source an op was made, and the scope path it was made in (``"block_3/attn"``
    from ``named.scope`` / ``jax.named_scope``; empty outside any scope)."""

    file: str
    line: int
    scope: str = ""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class Value:
    """An SSA value: the result of an op (``owner`` is the op) or a block argument (``owner`` is None)."""

    __slots__ = ("type", "owner", "index")

    def __init__(self, type: TensorType, owner: "Op | None" = None, index: int = 0):
        self.type = type
        self.owner = owner
        self.index = index

    def __repr__(self) -> str:
        return f"<Value {self.type}>"


OPS: dict[str, type["Op"]] = {}
"""Every op class by its IR name; the parser looks ops up here."""


class Op:
    """Base class of every IR op.

    Subclasses set ``name`` and ``attributes`` (the attribute names, in print order) and implement
    :meth:`type_rule`. ``num_operands`` is an int, or None for a variadic op. Attribute values are
    plain Python data: bool, int, float, str, None, tuples of those, or numpy arrays (constants).
    """

    name: ClassVar[str] = ""
    attributes: ClassVar[tuple[str, ...]] = ()
    num_operands: ClassVar[int | None] = None
    num_regions: ClassVar[int] = 0

    __slots__ = ("operands", "attrs", "results", "regions", "loc")

    def __init_subclass__(cls, register: bool = True, **kwargs):
        super().__init_subclass__(**kwargs)
        if register and cls.name:
            if cls.name in OPS and OPS[cls.name] is not cls:
                raise ValueError(f"op {cls.name!r} is already defined by {OPS[cls.name].__qualname__}")
            OPS[cls.name] = cls

    def __init__(self, operands: Sequence[Value], attrs: Mapping[str, Any] | None = None,
                 result_types: Sequence[TensorType] | None = None, regions: Sequence["Block"] = (),
                 loc: Location | None = None):
        self.operands = tuple(operands)
        self.attrs = dict(attrs or {})
        self.regions = tuple(regions)
        self.loc = loc
        if result_types is None:
            result_types = self.infer()
        self.results = tuple(Value(t, self, i) for i, t in enumerate(result_types))

    # -- the type rule -----------------------------------------------------------------------------
    @classmethod
    def type_rule(cls, operand_types: tuple[TensorType, ...], attrs: Mapping[str, Any],
                  regions: tuple["Block", ...] = ()) -> tuple[TensorType, ...]:
        """Result types for these operand types and attributes; raise AxisError/VerifyError if invalid."""
        raise NotImplementedError(f"{cls.__name__} has no type rule")

    def infer(self) -> tuple[TensorType, ...]:
        if self.num_operands is not None and len(self.operands) != self.num_operands:
            raise VerifyError(f"{self.name} takes {self.num_operands} operand(s), got {len(self.operands)}")
        if len(self.attrs) == len(self.attributes) and all(a in self.attrs for a in self.attributes):
            return tuple(self.type_rule(tuple(v.type.unsharded() for v in self.operands), self.attrs, self.regions))
        unknown = set(self.attrs) - set(self.attributes)
        if unknown:
            raise VerifyError(f"{self.name} has no attribute(s) {sorted(unknown)}; it takes {list(self.attributes)}")
        missing = set(self.attributes) - set(self.attrs)
        if missing:
            raise VerifyError(f"{self.name} is missing attribute(s) {sorted(missing)}")
        types = tuple(v.type.unsharded() for v in self.operands)
        return tuple(self.type_rule(types, self.attrs, self.regions))

    def verify(self) -> None:
        """Check that the stored result types are what the type rule computes (shardings aside)."""
        if len(self.regions) != self.num_regions:
            raise VerifyError(f"{self.name} takes {self.num_regions} region(s), got {len(self.regions)}")
        try:
            expected = self.infer()
        except NamedError as e:
            raise e.with_location(self.loc)
        got = tuple(r.type.unsharded() for r in self.results)
        if expected != got:
            raise VerifyError(
                f"{self.name}: result type(s) {', '.join(map(str, got))} differ from the type rule's "
                f"{', '.join(map(str, expected))}", loc=self.loc)

    # -- conveniences ------------------------------------------------------------------------------
    @property
    def result(self) -> Value:
        if len(self.results) != 1:
            raise VerifyError(f"{self.name} has {len(self.results)} results, not one")
        return self.results[0]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class Block:
    """A list of ops with arguments and the values it yields (the body of a function or region)."""

    __slots__ = ("args", "ops", "results")

    def __init__(self, args: Sequence[Value] = (), ops: Sequence[Op] = (), results: Sequence[Value] = ()):
        self.args = list(args)
        self.ops = list(ops)
        self.results = list(results)

    def walk(self) -> Iterator[Op]:
        """Every op in this block and, depth-first, in the regions of its ops."""
        for op in self.ops:
            yield op
            for region in op.regions:
                yield from region.walk()


class Function:
    """A named-IR function: a body block, plus the mesh it is partitioned over (None: one device)."""

    __slots__ = ("name", "body", "mesh")

    def __init__(self, name: str, body: Block, mesh: Mesh | None = None):
        self.name = name
        self.body = body
        self.mesh = mesh

    @property
    def args(self) -> list[Value]:
        return self.body.args

    @property
    def ops(self) -> list[Op]:
        return self.body.ops

    @property
    def results(self) -> list[Value]:
        return self.body.results

    @property
    def arg_types(self) -> tuple[TensorType, ...]:
        return tuple(a.type for a in self.body.args)

    @property
    def result_types(self) -> tuple[TensorType, ...]:
        return tuple(r.type for r in self.body.results)

    def walk(self) -> Iterator[Op]:
        return self.body.walk()

    def __str__(self) -> str:
        from .printer import print_function
        return print_function(self)


def attr_key(value: Any) -> Any:
    """A hashable, exact stand-in for an attribute value (numpy arrays by dtype, shape and bytes)."""
    if isinstance(value, np.ndarray):
        return ("ndarray", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, float):
        return ("float", value.hex()) if value == value else ("float", "nan")
    if isinstance(value, tuple):
        return tuple(attr_key(v) for v in value)
    return value


def attrs_equal(a: Any, b: Any) -> bool:
    return attr_key(a) == attr_key(b)
