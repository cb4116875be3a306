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
           "MLIRError", "EmbedError", "embed_module", "call_function", "function_signature",
           "name_scope_path", "name_location", "portable_artifact", "module_from_artifact", "stablehlo_version"]

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
    floats = {"bf16": ir.BF16Type.get, "f16": ir.F16Type.get, "f32": ir.F32Type.get, "f64": ir.F64Type.get,
              "f8e4m3fn": ir.Float8E4M3FNType.get, "f8e5m2": ir.Float8E5M2Type.get}
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
    if dtype in ("f8e4m3fn", "f8e5m2"):  # like bf16: the bindings take the raw bytes
        return ir.DenseElementsAttr.get(value.view(np.uint8), type=element_type(dtype), shape=shape)
    return ir.DenseElementsAttr.get(value, type=element_type(dtype), shape=shape)


# ------------------------------------------------------------------------------- foreign modules
class EmbedError(ValueError):
    """A foreign StableHLO module cannot be embedded (it does not parse, or its mesh disagrees)."""


def _enclosing_module() -> ir.Operation:
    op = ir.InsertionPoint.current.block.owner
    while op is not None and op.name != "builtin.module":
        op = op.parent
    if op is None:
        raise EmbedError("no enclosing module to embed a foreign function into")
    return op.operation if hasattr(op, "operation") else op


def _symbol_name(op) -> str:
    return ir.StringAttr(op.attributes["sym_name"]).value


def embed_module(text: str, prefix: str) -> "func.FuncOp":
    """Copy the functions of the StableHLO module ``text`` (as ``jax.jit(f).lower(...).as_text()``
    prints it) into the module being built, as private functions named ``{prefix}_{name}``, and
    return the copy of its ``@main``; a second call with the same ``prefix`` returns the first copy.

    Symbols are renamed so that several embedded modules never clash. A ``sdy.mesh`` of the foreign
    module is replaced by the module's own mesh of the same axes and sizes; a mesh the module lacks
    raises :class:`EmbedError` (a partitioned program must be partitioned over the same mesh).
    Call with the insertion point inside the module being built.
    """
    module_op = _enclosing_module()
    table = ir.SymbolTable(module_op)
    main_name = f"{prefix}_main"
    if main_name in table:
        return table[main_name].operation.opview
    try:
        foreign = ir.Module.parse(text)
    except MLIRError as e:
        raise EmbedError(f"the carried StableHLO does not parse: {e}") from None
    our_meshes = {str(op.attributes["mesh"]): _symbol_name(op)
                  for op in module_op.regions[0].blocks[0].operations if op.operation.name == "sdy.mesh"}
    foreign_op = foreign.operation
    renames = []
    for op in list(foreign.body.operations):
        op = op.operation
        name = _symbol_name(op) if "sym_name" in op.attributes else None
        if op.name == "sdy.mesh":
            mesh = str(op.attributes["mesh"])
            if mesh not in our_meshes:
                have = ", ".join(our_meshes) or "none (the program is not partitioned)"
                raise EmbedError(f"the jax function uses the device mesh {mesh}, but the program's mesh is "
                                 f"{have}; compile the named program over the same mesh")
            renames.append((name, our_meshes[mesh]))
            op.erase()
        elif name is not None:
            renames.append((name, f"{prefix}_{name}"))
    for old, new in renames:  # first to placeholders, so that a rename never captures another symbol
        ir.SymbolTable.replace_all_symbol_uses(old, f"__embed_{old}", foreign_op)
    for old, new in renames:
        ir.SymbolTable.replace_all_symbol_uses(f"__embed_{old}", new, foreign_op)
    body = module_op.regions[0].blocks[0]
    main = None
    for op in list(foreign.body.operations):
        op = op.operation
        old = _symbol_name(op)
        ir.SymbolTable.set_symbol_name(op, f"{prefix}_{old}")
        if op.name == "func.func":
            ir.SymbolTable.set_visibility(op, "private")
        op.detach_from_parent()
        ir.InsertionPoint(body).insert(op)
        if old == "main":
            main = op
    if main is None:
        raise EmbedError("the carried StableHLO has no @main function")
    return main.opview


def call_function(callee: "func.FuncOp", operands) -> list:
    """``func.call`` of ``callee`` on ``operands`` at the current insertion point; its results."""
    ftype = ir.FunctionType(ir.TypeAttr(callee.attributes["function_type"]).value)
    op = func.CallOp(list(ftype.results), ir.FlatSymbolRefAttr.get(_symbol_name(callee.operation)), list(operands))
    return list(op.results)


def function_signature(fn: "func.FuncOp") -> tuple[list, list]:
    """(argument types, result types) of a ``func.func``."""
    ftype = ir.FunctionType(ir.TypeAttr(fn.attributes["function_type"]).value)
    return list(ftype.inputs), list(ftype.results)
# ------------------------------------------------------------------- embedding into a jax-built module
def embed_in_jax_module(jax_ctx, text: str, name: str, args) -> list:
    """Inside a jax lowering rule (``jax_ctx`` is jax's rule context): parse our lowered module
    ``text`` into jax's MLIR context, merge its functions into jax's module as private functions,
    and emit a ``func.call`` of its ``main`` on ``args``; returns the call's results.

    A module partitioned over a mesh keeps its Shardy shardings when jax lowers for as many devices:
    they are rewritten to name the mesh inline (as jax's own shardings do; jax then lifts identical
    inline meshes into one ``sdy.mesh``). Otherwise (jax lowers for one device) they are dropped
    and jax's own sharding propagation decides.
    """
    from jax.interpreters import mlir as jax_mlir

    mc = jax_ctx.module_context
    if "sdy.mesh @mesh = " in text:
        line = next(ln for ln in text.splitlines() if ln.lstrip().startswith("sdy.mesh @mesh = "))
        mesh_attr = line.split("=", 1)[1].strip().split(" loc(")[0]
        size = 1
        for part in mesh_attr.strip("<[]>").split(","):
            size *= int(part.split("=")[1])
        text = text.replace(line, "")
        if getattr(mc.axis_context, "num_devices", 1) == size:
            text = text.replace("<@mesh,", f"<mesh{mesh_attr},")
        else:
            text = _strip_sharding_text(text)
    with mc.context, ir.Location.unknown(mc.context):
        src = ir.Module.parse(text)
        fname = jax_mlir.merge_mlir_modules(mc.module, name, src, dst_symtab=mc.symbol_table)
        callee = mc.symbol_table[fname]
        result_types = list(ir.FunctionType(ir.TypeAttr(callee.attributes["function_type"]).value).results)
        call = func.CallOp(result_types, ir.FlatSymbolRefAttr.get(fname), list(args))
        return list(call.results)


def _strip_sharding_text(text: str) -> str:
    """``text`` without Shardy annotations: argument/result shardings and sharding constraints."""
    import re
    text = re.sub(r" \{sdy\.sharding = #sdy\.sharding<@mesh, \[[^>]*\]>\}", "", text)
    return re.sub(r"sdy\.sharding_constraint (%[\w#]+) <@mesh, \[[^>]*\]> : (tensor<[^>]*>)",
                  r"stablehlo.convert \1 : \2", text)
