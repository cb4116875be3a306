"""The one place the compiler touches jaxlib's MLIR bindings (a JAX upgrade edits this file).

Everything else in :mod:`named.compiler.lowering` uses the names re-exported here.
"""

from __future__ import annotations

import threading

import numpy as np
from jaxlib.mlir import ir
from jaxlib.mlir._mlir_libs import _jax_mlir_ext
from jaxlib.mlir.dialects import chlo, func, sdy, stablehlo

__all__ = ["ir", "func", "stablehlo", "chlo", "sdy", "context", "element_type", "tensor_type", "dense", "module_text",
           "MLIRError", "name_scope_path", "name_location", "portable_artifact", "module_from_artifact",
           "stablehlo_version"]

MLIRError = ir.MLIRError

_local = threading.local()


def context() -> ir.Context:
    """A per-thread MLIR context with the StableHLO, CHLO and Shardy dialects loaded (made once)."""
    ctx = getattr(_local, "ctx", None)
    if ctx is None:
        ctx = ir.Context()
        registry = ir.DialectRegistry()
        _jax_mlir_ext.register_dialects(registry)
        ctx.append_dialect_registry(registry)
        ctx.load_all_available_dialects()
        stablehlo.register_dialect(ctx)
        sdy.register_dialect(ctx)
        chlo.register_dialect(ctx)
        _local.ctx = ctx
        _local.types = {}
    return ctx


def name_scope_path() -> str:
    """The current ``jax.named_scope`` path (``named.scope`` pushes onto the same stack), e.g.
    ``"block_3/attn"``; empty outside any scope. Reads jax's private name stack (pinned release)."""
    stack = _name_stack()
    return str(stack) if stack.stack else ""


try:
    from jax._src.source_info_util import current_name_stack as _name_stack
except ImportError:  # pragma: no cover - another jax: scopes are not recorded
    class _NoStack:
        stack = ()
    _name_stack = _NoStack


def name_location(name: str, child: ir.Location) -> ir.Location:
    """``loc("name"(child))``: XLA turns the name into the HLO op's ``op_name`` metadata."""
    return ir.Location.name(name, childLoc=child)


def portable_artifact(module: ir.Module, target: str | None = None) -> tuple[bytes, str]:
    """``module`` as a versioned, portable StableHLO artifact (MLIR bytecode in the VHLO dialect; Shardy
    attributes and ops kept) for StableHLO ``target`` (default: what runtimes 12 weeks old accept);
    returns ``(bytes, target)``. PJRT compiles the bytes directly."""
    with context():
        if target is None:
            target = stablehlo.get_version_from_compatibility_requirement(
                stablehlo.StablehloCompatibilityRequirement.WEEK_12)
        return stablehlo.serialize_portable_artifact(module, target, True), target


def module_from_artifact(data: bytes) -> ir.Module:
    """The StableHLO module of a portable artifact (raises ``MLIRError``/``ValueError`` if malformed)."""
    return stablehlo.deserialize_portable_artifact(context(), data)


def stablehlo_version() -> str:
    """The StableHLO version this jaxlib writes and reads (artifacts up to it are accepted)."""
    return stablehlo.get_current_version()


def module_text(module: ir.Module) -> str:
    """The module's text with its source locations (plain ``str(module)`` drops them, and XLA then
    attributes every HLO op to a line of that text instead of the user's file)."""
    return module.operation.get_asm(enable_debug_info=True)


def element_type(dtype: str) -> ir.Type:
    """The MLIR element type of an IR dtype name (call with the context active)."""
    cache = _local.types
    t = cache.get(dtype)
    if t is None:
        t = cache[dtype] = _make_element_type(dtype)
    return t


def _make_element_type(dtype: str) -> ir.Type:
    if dtype == "bool":
        return ir.IntegerType.get_signless(1)
    if dtype[0] == "i":
        return ir.IntegerType.get_signless(int(dtype[1:]))
    if dtype[0] == "u":
        return ir.IntegerType.get_unsigned(int(dtype[1:]))
    floats = {"bf16": ir.BF16Type.get, "f16": ir.F16Type.get, "f32": ir.F32Type.get, "f64": ir.F64Type.get}
    if dtype in floats:
        return floats[dtype]()
    if dtype == "c64":
        return ir.ComplexType.get(ir.F32Type.get())
    if dtype == "c128":
        return ir.ComplexType.get(ir.F64Type.get())
    raise TypeError(f"no MLIR type for dtype {dtype!r}")


def tensor_type(shape, dtype: str) -> ir.RankedTensorType:
    return ir.RankedTensorType.get(list(shape), element_type(dtype))


def dense(value: np.ndarray, dtype: str) -> ir.DenseElementsAttr:
    """A dense elements attribute holding ``value`` (any shape) as ``dtype``."""
    shape = list(np.shape(value))
    value = np.ascontiguousarray(value)  # note: makes 0-d arrays 1-d; `shape` keeps the real one
    if dtype == "bool":  # one byte per element: this jaxlib's bindings read bools unpacked (as jax does)
        return ir.DenseElementsAttr.get(value.astype(np.bool_), type=element_type("bool"), shape=shape)
    if dtype == "bf16":
        return ir.DenseElementsAttr.get(value.view(np.uint16), type=element_type("bf16"), shape=shape)
    return ir.DenseElementsAttr.get(value, type=element_type(dtype), shape=shape)
