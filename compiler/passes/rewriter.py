"""Pattern rewriting: local rewrites dispatched on the op class, applied greedily to a fixpoint.

A :class:`RewritePattern` names the op classes it looks at (``op_types``; base classes such as
``UnaryOp`` match every subclass) and implements ``match_and_rewrite(op, rewriter)``: inspect the op
(its operands' producers are ``value.owner``) and, when it applies, ask the :class:`PatternRewriter`
to ``create`` new ops (inserted just before the matched op) and to ``replace_op`` or ``erase_op``.
A pattern that does not apply simply returns.

    class ExpMinusOne(RewritePattern):
        op_types = (Sub,)
        def match_and_rewrite(self, op, rewriter):
            exp, one = (v.owner for v in op.operands)
            if isinstance(exp, Exp) and is_full(one, 1):
                rewriter.replace_op(op, rewriter.create(Expm1, exp.operands))

:class:`RewritePass` turns a list of patterns into a pass; :func:`apply_patterns` runs them on a
function directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Sequence

from named.dialect import Block, Full, Function, NamedError, Op, Value, VerifyError

from .base import Pass
from .dce import eliminate_dead_code


class RewritePattern:
    """One local rewrite. Subclasses set ``op_types`` and implement :meth:`match_and_rewrite`."""

    op_types: ClassVar[tuple[type[Op], ...]] = (Op,)

    def match_and_rewrite(self, op: Op, rewriter: "PatternRewriter") -> None:
        raise NotImplementedError(f"{type(self).__name__} does not implement match_and_rewrite()")

    def __repr__(self) -> str:
        return type(self).__name__


class PatternRewriter:
    """What a pattern may do to the IR while it is matched against one op (``rewriter.op``).

    Replacing keeps SSA order valid when the new values are the matched op's operands, values
    defined before it, or results of ops made with :meth:`create` (which go just before it).
    """

    def __init__(self):
        self.op: Op | None = None
        self.pattern: RewritePattern | None = None
        self.changed = False
        self._inserted: list[Op] = []
        # id(old value) -> (old, new); the old value is kept alive so its id is never reused
        self._replaced: dict[int, tuple[Value, Value]] = {}
        self._erased: dict[int, tuple[Op, RewritePattern | None]] = {}  # id -> (op, who erased it)

    # -- the pattern-facing API ------------------------------------------------------------------------
    def create(self, op_cls: type[Op], operands: Sequence[Value], attrs: Mapping[str, Any] | None = None,
               *, regions: Sequence[Block] = (), loc=None) -> Op:
        """A new ``op_cls`` op (result types from its type rule), inserted before the matched op; it
        carries the matched op's location unless ``loc`` is given."""
        try:
            new = op_cls([self.resolve(v) for v in operands], attrs, None, regions,
                         loc if loc is not None else self.op.loc)
        except NamedError as e:
            raise VerifyError(f"pattern {self.pattern!r} made an invalid {op_cls.name}: {e.message}",
                              loc=self.op.loc) from None
        self._inserted.append(new)
        self.changed = True
        return new

    def replace_op(self, op: Op, new: "Op | Value | Sequence[Value]") -> None:
        """Replace every use of ``op``'s results by ``new`` (an op's results, or values) and erase it."""
        values = list(new.results) if isinstance(new, Op) else [new] if isinstance(new, Value) else list(new)
        if len(values) != len(op.results):
            raise VerifyError(f"pattern {self.pattern!r} replaced {op.name}'s {len(op.results)} result(s) "
                              f"with {len(values)} value(s)", loc=op.loc)
        for old, value in zip(op.results, values):
            value = self.resolve(value)
            if value.type.unsharded() != old.type.unsharded():
                raise VerifyError(f"pattern {self.pattern!r} replaced a result of {op.name} of type "
                                  f"{old.type.unsharded()} with a value of type {value.type.unsharded()}",
                                  loc=op.loc)
            if value.type.sharding is None and old.type.sharding is not None and value.owner in self._inserted:
                value.type = old.type  # a fresh value takes over the sharding of the one it replaces
            if value is not old:
                self._replaced[id(old)] = (old, value)
        self.erase_op(op)

    def erase_op(self, op: Op) -> None:
        """Remove ``op``; its results must no longer be used (checked when the sweep ends)."""
        self._erased[id(op)] = (op, self.pattern)
        self.changed = True

    def resolve(self, value: Value) -> Value:
        """``value`` after the replacements made so far."""
        seen = 0
        while id(value) in self._replaced:
            value = self._replaced[id(value)][1]
            seen += 1
            if seen > 10_000:
                raise VerifyError(f"pattern {self.pattern!r} made a cycle of replacements")
        return value

    # -- the driver ------------------------------------------------------------------------------------
    def sweep(self, fn: Function, table: "_Dispatch") -> bool:
        """Offer every op of ``fn`` (regions first) to its patterns once; True if anything changed."""
        self.changed = False
        self._sweep_block(fn.body, table)
        if self.changed:
            self._finish(fn.body)
        self._replaced.clear()
        self._erased.clear()
        return self.changed

    def _sweep_block(self, block: Block, table: "_Dispatch") -> None:
        kept: list[Op] = []
        erased, replaced, patterns_for = self._erased, self._replaced, table.patterns_for
        for op in block.ops:
            if id(op) in erased:
                continue
            if replaced:
                for v in op.operands:
                    if id(v) in replaced:
                        op.operands = tuple(self.resolve(v) for v in op.operands)
                        break
            for region in op.regions:
                self._sweep_block(region, table)
            for pattern in patterns_for(type(op)):
                self.op, self.pattern, self._inserted = op, pattern, []
                try:
                    pattern.match_and_rewrite(op, self)
                finally:
                    kept.extend(self._inserted)
                    self._inserted = []
                if id(op) in self._erased:
                    break
            if id(op) not in self._erased:
                kept.append(op)
        block.ops = kept
        block.results = [self.resolve(v) for v in block.results]
        self.op = self.pattern = None

    def _finish(self, block: Block) -> None:
        # A pattern may have replaced an op other than the matched one; update uses seen earlier.
        block.ops = [op for op in block.ops if id(op) not in self._erased]
        for op in block.ops:
            op.operands = tuple(self.resolve(v) for v in op.operands)
            for i, v in enumerate(op.operands):
                if v.owner is not None and id(v.owner) in self._erased:
                    erased, pattern = self._erased[id(v.owner)]
                    raise VerifyError(f"pattern {pattern!r} erased {erased.name}, but it is still used by "
                                      f"{op.name} (operand #{i})", loc=erased.loc)
            for region in op.regions:
                self._finish(region)
        block.results = [self.resolve(v) for v in block.results]


class _Dispatch:
    """Patterns by op class, following the class hierarchy (a pattern on a base class matches its
    subclasses); looked up once per class."""

    def __init__(self, patterns: Sequence[RewritePattern]):
        self.patterns = list(patterns)
        for p in self.patterns:
            if not isinstance(p, RewritePattern):
                raise TypeError(f"{p!r} is not a RewritePattern")
        self._cache: dict[type, list[RewritePattern]] = {}

    def patterns_for(self, cls: type[Op]) -> list[RewritePattern]:
        found = self._cache.get(cls)
        if found is None:
            found = self._cache[cls] = [p for p in self.patterns if issubclass(cls, _types(p))]
        return found


def _types(pattern: RewritePattern) -> tuple[type, ...]:
    types = pattern.op_types
    return types if isinstance(types, tuple) else (types,)


def apply_patterns(fn: Function, patterns: Sequence[RewritePattern], *, max_sweeps: int = 10) -> bool:
    """Apply ``patterns`` to ``fn`` in place until nothing changes (at most ``max_sweeps`` sweeps).

    Returns True if the function changed. Ops left without uses are not removed here (see
    :class:`RewritePass`, which removes them).
    """
    table = _Dispatch(patterns)
    rewriter = PatternRewriter()
    changed = False
    for _ in range(max_sweeps):
        if not rewriter.sweep(fn, table):
            break
        changed = True
    return changed


@dataclass(frozen=True)
class RewritePass(Pass):
    """A pass made of rewrite patterns: override :meth:`patterns`; the ops the rewrites leave
    unused are removed afterwards (set ``erase_dead_ops = False`` to keep them).

    >>> from named.dialect import Neg, parse
    >>> class DoubleNegation(RewritePattern):
    ...     op_types = (Neg,)
    ...     def match_and_rewrite(self, op, rewriter):
    ...         inner = op.operands[0].owner
    ...         if isinstance(inner, Neg):
    ...             rewriter.replace_op(op, inner.operands[0])
    >>> @dataclass(frozen=True)
    ... class NoDoubleNegation(RewritePass):
    ...     name = "no-double-negation-example"
    ...     def patterns(self):
    ...         return [DoubleNegation()]
    >>> fn = parse('''func @f(%0: f32[a=2]) -> (f32[a=2]) {
    ...   %1 = named.neg %0 : f32[a=2]
    ...   %2 = named.neg %1 : f32[a=2]
    ...   return %2
    ... }''')
    >>> print(NoDoubleNegation().run(fn), end="")
    func @f(%0: f32[a=2]) -> (f32[a=2]) {
      return %0
    }
    """

    erase_dead_ops: ClassVar[bool] = True
    max_sweeps: ClassVar[int] = 10

    def patterns(self) -> Sequence[RewritePattern]:
        raise NotImplementedError(f"{type(self).__name__} does not list its patterns()")

    def run(self, fn: Function) -> Function:
        if apply_patterns(fn, self.patterns(), max_sweeps=self.max_sweeps) and self.erase_dead_ops:
            eliminate_dead_code(fn.body)
        return fn


def full_value(value: Value):
    """The fill value if ``value`` is made by ``named.full``, else None (a helper for patterns)."""
    op = value.owner
    return op.attrs["value"] if isinstance(op, Full) else None


__all__ = ["RewritePattern", "PatternRewriter", "RewritePass", "apply_patterns", "full_value"]
