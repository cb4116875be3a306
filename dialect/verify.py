"""Whole-function verification: SSA order, every op's type rule, and consistent shardings."""

from __future__ import annotations

from .core import Block, Function
from .errors import NamedError, VerifyError
from .types import TensorType


def verify_function(fn: Function, *, types: bool = True) -> None:
    """Raise :class:`VerifyError` (or the type rule's AxisError) if ``fn`` is not valid IR.

    ``types=False`` checks the structure only (SSA order, result ownership, shardings against the
    mesh) and trusts each op's stored result types: right for ops built by their constructors (which
    run the type rule) and not edited since, e.g. straight from the tracer or a built-in pass.
    """
    _verify_block(fn.body, set(), fn, types)


def _verify_block(block: Block, visible: set[int], fn: Function, types: bool = True) -> None:
    visible = set(visible)
    for a in block.args:
        _check_type(a.type, fn)
        visible.add(id(a))
    for op in block.ops:
        for i, v in enumerate(op.operands):
            if id(v) not in visible:
                raise VerifyError(f"{op.name}: operand #{i} ({v.type}) is not defined before its use", loc=op.loc)
        for region in op.regions:
            _verify_block(region, visible, fn, types)
        if types:
            op.verify()
        for r in op.results:
            if r.owner is not op:
                raise VerifyError(f"{op.name}: result is owned by another op", loc=op.loc)
            _check_type(r.type, fn)
            visible.add(id(r))
    for i, r in enumerate(block.results):
        if id(r) not in visible:
            raise VerifyError(f"result #{i} ({r.type}) is not defined in the function")


def _check_type(t: TensorType, fn: Function) -> None:
    if t.sharding is None:
        return
    if fn.mesh is None:
        raise VerifyError(f"value of type {t} is sharded but the function has no mesh")
    used: list[str] = []
    for axis, mesh_axes in zip(t.axes, t.sharding):
        for m in mesh_axes:
            if m not in fn.mesh.names:
                raise VerifyError(f"value of type {t}: unknown mesh axis {m!r}; the mesh is {fn.mesh}")
            if m in used:
                raise VerifyError(f"value of type {t}: mesh axis {m!r} splits two axes")
            used.append(m)
        size = 1
        for m in mesh_axes:
            size *= fn.mesh.shape[m]
        if axis.size % size:
            raise VerifyError(f"value of type {t}: axis {axis.name!r} of size {axis.size} is not divisible "
                              f"by {size}")


__all__ = ["verify_function", "NamedError"]
