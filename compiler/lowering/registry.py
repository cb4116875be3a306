"""Lowering registry and driver: named IR -> StableHLO (with Shardy attributes) via jaxlib's MLIR.

A lowering rule is a function ``rule(ctx, *operands) -> ir.Value | Sequence[ir.Value]`` registered for
an op class with :func:`register_lowering`. ``ctx`` (a :class:`LoweringContext`) carries the op, its
operand and result types (named types, with shardings once partitioned) and helpers that build MLIR.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from named.dialect import Block, Function, Location, Op, TensorType, VerifyError

from .aliasing import alias_plan
from .mlir import MLIRError, context, func, ir, name_location, sdy, stablehlo, tensor_type

LoweringRule = Callable[..., "ir.Value | Sequence[ir.Value]"]
RULES: dict[type[Op], LoweringRule] = {}


def register_lowering(op_cls: type[Op], rule: LoweringRule | None = None, *, override: bool = False):
    """Register ``rule`` as the lowering of ``op_cls``; usable as a decorator.

    Registering a second rule for the same op class is an error unless ``override=True`` (which is
    how users replace a built-in lowering).
    """
    def decorate(rule: LoweringRule) -> LoweringRule:
        if op_cls in RULES and not override:
            raise ValueError(f"{op_cls.__name__} ({op_cls.name}) already has a lowering rule; "
                             f"pass override=True to replace it")
        RULES[op_cls] = rule
        return rule
    return decorate(rule) if rule is not None else decorate


@dataclass(frozen=True, slots=True)
class LoweringContext:
    """What a lowering rule may know: the op, its named operand/result types, and the function."""

    op: Op
    in_types: tuple[TensorType, ...]
    out_types: tuple[TensorType, ...]
    function: Function

    @property
    def out_type(self) -> TensorType:
        return self.out_types[0]

    def ir_type(self, t: TensorType) -> ir.RankedTensorType:
        return tensor_type(t.shape, t.dtype)

    def lower_region(self, block: Block, args: Sequence[ir.Value]) -> list[ir.Value]:
        """Emit ``block``'s ops at the current insertion point with ``args`` bound to its arguments."""
        env = dict(zip(map(id, block.args), args))
        _emit_block(block, env, self.function)
        return [env[id(v)] for v in block.results]


def sharding_attr(t: TensorType, mesh_name: str = "mesh") -> "ir.Attribute":
    """The ``#sdy.sharding`` of a partitioned value type (closed dimensions: exactly as mapped)."""
    dims = [sdy.DimensionShardingAttr.get([sdy.AxisRefAttr.get(m) for m in mesh_axes], True)
            for mesh_axes in (t.sharding or ((),) * len(t.axes))]
    return sdy.TensorShardingAttr.get(mesh_name, dims)


def lower_function(fn: Function, *, constrain_intermediates: bool = True,
                   donated: Sequence[bool] | None = None) -> "ir.Module":
    """Lower a checked (and, with a mesh, partitioned) function to a verified StableHLO module.

    ``donated`` (one bool per argument) marks arguments whose buffers the program may reuse
    (input/output aliasing, see :mod:`.aliasing`)."""
    with context(), ir.Location.unknown():
        module = ir.Module.create()
        module.operation.attributes["sym_name"] = ir.StringAttr.get(_module_name(fn.name))
        with ir.InsertionPoint(module.body):
            if fn.mesh is not None:
                # As jax.jit emits them: whoever compiles this text learns the partition count from it.
                i32 = ir.IntegerType.get_signless(32)
                module.operation.attributes["mhlo.num_replicas"] = ir.IntegerAttr.get(i32, 1)
                module.operation.attributes["mhlo.num_partitions"] = ir.IntegerAttr.get(i32, fn.mesh.size)
                sdy.MeshOp("mesh", sdy.MeshAttr.get([sdy.MeshAxisAttr.get(n, s) for n, s in fn.mesh.axes]))
            arg_types = [tensor_type(a.type.shape, a.type.dtype) for a in fn.args]
            result_types = [tensor_type(r.type.shape, r.type.dtype) for r in fn.results]
            main = func.FuncOp("main", ir.FunctionType.get(arg_types, result_types))
            main.attributes["sym_visibility"] = ir.StringAttr.get("public")
            arg_attrs = [{} for _ in fn.args]
            if fn.mesh is not None:
                for attrs, a in zip(arg_attrs, fn.args):
                    attrs["sdy.sharding"] = sharding_attr(a.type)
            if donated is not None and any(donated):
                i32 = ir.IntegerType.get_signless(32)
                for attrs, use in zip(arg_attrs, alias_plan(fn, donated)):
                    if use is True:
                        attrs["jax.buffer_donor"] = ir.BoolAttr.get(True)
                    elif use is not None:
                        attrs["tf.aliasing_output"] = ir.IntegerAttr.get(i32, use)
            if any(arg_attrs):
                main.arg_attrs = ir.ArrayAttr.get([ir.DictAttr.get(a) for a in arg_attrs])
            if fn.mesh is not None:
                main.result_attrs = ir.ArrayAttr.get(
                    [ir.DictAttr.get({"sdy.sharding": sharding_attr(r.type)}) for r in fn.results])
            entry = main.add_entry_block()
            with ir.InsertionPoint(entry):
                env = dict(zip(map(id, fn.args), entry.arguments))
                _emit_block(fn.body, env, fn, constrain=constrain_intermediates and fn.mesh is not None)
                func.ReturnOp([env[id(r)] for r in fn.results])
        try:
            module.operation.verify()
        except MLIRError as e:
            raise VerifyError(f"the lowered StableHLO does not verify:\n{e}") from None
    return module


def _module_name(name: str) -> str:
    """The HLO module's name: the user's function name, made a valid symbol (profiles and XLA dumps
    are labelled with it)."""
    clean = "".join(c if c.isalnum() or c in "_.$" else "_" for c in name or "main")
    return clean if clean and not clean[0].isdigit() else f"m_{clean}"


def _op_location(fn_name: str, op_name: str, loc: Location) -> "ir.Location":
    """The MLIR location of an op: ``loc("<function>/<scope>/<op>"("file":line:1))``. XLA keeps the
    name as the HLO op's ``op_name`` metadata (profiles and dumps group time by it) and the file:line
    as its source."""
    short = op_name.split(".", 1)[-1]
    path = "/".join(p for p in (fn_name, loc.scope, short) if p)
    return name_location(path, ir.Location.file(loc.file, loc.line, 1))


def _emit_block(block: Block, env: dict, fn: Function, constrain: bool = False) -> None:
    locations: dict[tuple[Location, str], ir.Location] = {}
    for op in block.ops:
        rule = RULES.get(type(op))
        if rule is None:
            raise VerifyError(f"no lowering rule for {op.name} ({type(op).__name__}); "
                              f"register one with @named.compiler.register_lowering", loc=op.loc)
        ctx = LoweringContext(op, tuple(v.type for v in op.operands), tuple(r.type for r in op.results), fn)
        loc = ir.Location.unknown()
        if op.loc is not None and 0 <= op.loc.line < 2 ** 31:  # MLIR keeps lines as 32-bit
            loc = locations.get((op.loc, op.name))
            if loc is None:
                loc = locations[(op.loc, op.name)] = _op_location(fn.name, op.name, op.loc)
        with loc:
            try:
                out = rule(ctx, *(env[id(v)] for v in op.operands))
            except MLIRError as e:
                raise VerifyError(f"lowering {op.name} failed: {e}", loc=op.loc) from None
            if isinstance(out, (ir.Value, ir.OpResult)) or not isinstance(out, Sequence):
                out = (out,)
            if len(out) != len(op.results):
                raise VerifyError(f"the lowering of {op.name} returned {len(out)} value(s) for "
                                  f"{len(op.results)} result(s)", loc=op.loc)
            for r, v in zip(op.results, out):
                if constrain and r.type.sharding is not None and r.type.axes:
                    attr = sharding_attr(r.type)
                    if not _constrained_to(v, attr):
                        v = sdy.sharding_constraint(v, attr)
                env[id(r)] = v


def _constrained_to(v, attr) -> bool:
    # A value a rule already pinned (named.sharding_constraint, or an identity rule passing on its
    # operand) needs no second, identical constraint.
    owner = v.owner if isinstance(v, ir.OpResult) else None
    return owner is not None and owner.name == "sdy.sharding_constraint" and owner.attributes["sharding"] == attr
