"""``named.export`` / ``named.deserialize``: a compiled program as portable bytes, runnable without its
source.

``named.export(fn, *args_or_specs)`` traces, checks, partitions and lowers ``fn`` for those arguments
(NamedArrays, ``named.spec``s or scalars; a ``named.compile``'d function keeps its mesh, mapping and
donation) and returns an :class:`Exported`. ``Exported.serialize()`` gives bytes (see
:mod:`named.deploy.format`): a portable StableHLO artifact plus a header with the argument and result
pytree structure, every argument's and result's axes, dtype and sharding, and the mesh.
``named.deserialize(data)`` gives back an :class:`Exported` that can be called like the function: it
checks its arguments by axis names and sizes (typed errors), puts them on the mesh, and returns
NamedArrays in the original result structure.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np

from named.compiler.lowering.mlir import module_from_artifact, portable_artifact, stablehlo_version
from named.dialect import Axis, AxisError, Mesh, NamedError, TensorType, to_numpy_dtype
from named.runtime import Executable

from .._checks import describe
from ..core import NamedArray
from ..jit import ArgSpec, CompiledFunction, compile as named_compile
from .format import SerializationError, pack, unpack

__all__ = ["Exported", "export", "deserialize", "SerializationError"]

_SCALARS = (bool, int, float, complex)


# -------------------------------------------------------------------------- pytree structure as JSON
def _encode(tree, count: list[int], nodes: bool = True):
    """``tree``'s structure as JSON, numbering its leaves; ``nodes``: other registered pytree nodes
    (equinox modules, say) are kept by their class name and children (arguments only: rebuilding a
    result of such a class would need the class and its static fields)."""
    if isinstance(tree, (NamedArray, ArgSpec)) or type(tree) in _SCALARS or (
            isinstance(tree, (np.ndarray, np.generic, jax.Array)) and np.ndim(tree) == 0):
        count[0] += 1
        return {"leaf": count[0] - 1}
    if tree is None:
        return {"none": True}
    if type(tree) in (tuple, list):
        return {type(tree).__name__: [_encode(t, count, nodes) for t in tree]}
    if type(tree) is dict:
        if not all(isinstance(k, str) for k in tree):
            raise SerializationError(f"named.export supports dicts with string keys only, got keys {list(tree)}")
        return {"dict": [[k, _encode(tree[k], count, nodes)] for k in sorted(tree)]}
    children = _children(tree)
    if nodes and children is not None:
        return {"node": _class_name(tree), "children": [_encode(c, count, nodes) for _, c in children]}
    what = ("tuples, lists, dicts and None" if not nodes else
            "tuples, lists, dicts, None and registered pytree nodes (equinox modules, ...)")
    raise SerializationError(f"named.export supports {'results' if not nodes else 'pytrees'} of {what} with "
                             f"NamedArray or scalar leaves; got a {type(tree).__name__}")


def _children(tree):
    """``[(key path, child)]`` one level down a registered pytree node, or None for a leaf."""
    pairs, treedef = jax.tree_util.tree_flatten_with_path(tree, is_leaf=lambda x: x is not tree)
    if treedef.num_leaves == 1 and len(pairs) == 1 and pairs[0][1] is tree:
        return None
    return pairs


def _class_name(x) -> str:
    return f"{type(x).__module__}.{type(x).__qualname__}"


def _describe(node) -> str:
    if "leaf" in node:
        return "array"
    if "node" in node:
        return node["node"].rsplit(".", 1)[-1] + "(" + ", ".join(_describe(c) for c in node["children"]) + ")"
    if "none" in node:
        return "None"
    if "dict" in node:
        return "{" + ", ".join(f"{k!r}: {_describe(v)}" for k, v in node["dict"]) + "}"
    kind = "tuple" if "tuple" in node else "list"
    inner = ", ".join(_describe(c) for c in node[kind])
    return f"({inner})" if kind == "tuple" else f"[{inner}]"


def _collect(node, value, out: list, where: str) -> None:
    """The leaves of ``value`` in the order the header numbers them, checking its structure."""
    if "leaf" in node:
        out.append((where, value))
        return
    if "none" in node:
        if value is not None:
            raise AxisError(f"{where} should be None, got {type(value).__name__}")
        return
    if "node" in node:
        children = _children(value) if _class_name(value) == node["node"] else None
        if children is None or len(children) != len(node["children"]):
            got = _class_name(value) if children is None else f"{_class_name(value)} of {len(children)} children"
            raise AxisError(f"{where} should be a {node['node']} of {len(node['children'])} children, got {got}")
        for child, (path, v) in zip(node["children"], children):
            _collect(child, v, out, f"{where}{jax.tree_util.keystr(path)}")
        return
    if "dict" in node:
        keys = [k for k, _ in node["dict"]]
        if not isinstance(value, dict) or sorted(value) != keys:
            got = sorted(value) if isinstance(value, dict) else type(value).__name__
            raise AxisError(f"{where} should be a dict with keys {keys}, got {got}")
        for k, child in node["dict"]:
            _collect(child, value[k], out, f"{where}[{k!r}]")
        return
    kind = "tuple" if "tuple" in node else "list"
    children = node[kind]
    if not isinstance(value, (tuple, list)) or len(value) != len(children):
        got = f"{type(value).__name__} of {len(value)}" if isinstance(value, (tuple, list)) else type(value).__name__
        raise AxisError(f"{where} should be a {kind} of {len(children)}, got {got}")
    for i, (child, v) in enumerate(zip(children, value)):
        _collect(child, v, out, f"{where}[{i}]")


def _build(node, leaves: list):
    if "leaf" in node:
        return leaves[node["leaf"]]
    if "none" in node:
        return None
    if "dict" in node:
        return {k: _build(c, leaves) for k, c in node["dict"]}
    if "tuple" in node:
        return tuple(_build(c, leaves) for c in node["tuple"])
    return [_build(c, leaves) for c in node["list"]]


# ---------------------------------------------------------------------------------- types as JSON
def _type_json(t: TensorType) -> dict:
    return {"dtype": t.dtype, "axes": [[a.name, a.size] for a in t.axes],
            "sharding": None if t.sharding is None else [list(m) for m in t.sharding]}


def _type_of(d: dict) -> TensorType:
    sharding = None if d["sharding"] is None else tuple(tuple(str(m) for m in s) for s in d["sharding"])
    return TensorType(str(d["dtype"]), tuple(Axis(str(n), int(s)) for n, s in d["axes"]), sharding)


class _Signature:
    """What the runtime needs of a function to run its executable: argument/result types and mesh."""

    def __init__(self, arg_types, result_types, mesh):
        self.arg_types, self.result_types, self.mesh = tuple(arg_types), tuple(result_types), mesh


# -------------------------------------------------------------------------------------- Exported
class Exported:
    """An exported program: call it like the function, or :meth:`serialize` it to bytes."""

    def __init__(self, header: dict, artifact: bytes):
        try:
            self.name: str = str(header["name"])
            self.in_types = tuple(_type_of(d) for d in header["args"])
            self.out_types = tuple(_type_of(d) for d in header["results"])
            self.mesh = None if header["mesh"] is None else Mesh(tuple((str(n), int(s)) for n, s in header["mesh"]))
            self.donation = None if header["donation"] is None else tuple(header["donation"])
            self.in_structure = header["in_structure"]
            self.out_structure = header["out_structure"]
            self.stablehlo_version: str = str(header["stablehlo_version"])
        except (KeyError, TypeError, ValueError, NamedError) as e:
            raise SerializationError(f"the exported program's header is malformed: {type(e).__name__}: {e}") from None
        if _version(self.stablehlo_version) > _version(stablehlo_version()):
            raise SerializationError(f"the exported program needs StableHLO {self.stablehlo_version}; this jaxlib "
                                     f"reads up to {stablehlo_version()}")
        self.header = header
        self.artifact = artifact
        self._executable: Executable | None = None

    def serialize(self) -> bytes:
        """Portable bytes: version, checksum, header (structure, axes, dtypes, shardings, mesh) and StableHLO.

        >>> import named
        >>> named.export(lambda a: a * 2.0, named.spec(named.Axis("x", 2))).serialize()[:8]
        b'NAMEDEXP'
        """
        return pack(self.header, self.artifact)

    def mlir_module(self) -> str:
        """The program's StableHLO text (read back from the portable artifact)."""
        return str(module_from_artifact(self.artifact))

    def __repr__(self) -> str:
        args = ", ".join(map(str, self.in_types))
        results = ", ".join(map(str, self.out_types))
        mesh = f" on mesh {self.mesh}" if self.mesh is not None else ""
        return f"<Exported {self.name}({args}) -> ({results}){mesh}>"

    def __call__(self, *args, **kwargs):
        leaves: list = []
        _collect(self.in_structure, (list(args), kwargs), leaves, "the arguments")
        arrays = [self._argument(i, where, x) for i, (where, x) in enumerate(leaves)]
        if self._executable is None:
            self._executable = Executable(self.artifact, _Signature(self.in_types, self.out_types, self.mesh),
                                          donation=self.donation)
        outs = self._executable(arrays)
        named_outs = [NamedArray._new(o, t.axes) for o, t in zip(outs, self.out_types)]
        return _build(self.out_structure, named_outs)

    def _argument(self, i: int, where: str, x):
        t = self.in_types[i]
        want = TensorType(t.dtype, t.axes)
        dtype = to_numpy_dtype(t.dtype)
        if isinstance(x, NamedArray):
            got_dtype = np.dtype(x.dtype)
            if sorted(a.name for a in x.axes) != sorted(want.names) or any(
                    want.axis(a.name).size != a.size for a in x.axes):
                raise AxisError(f"{self.name}: {where} has axes {_axes(x.axes)}, but the exported program takes "
                                f"{_axes(want.axes)}")
            if got_dtype != dtype:
                raise AxisError(f"{self.name}: {where} has dtype {got_dtype}, but the exported program takes "
                                f"{want}")
            array = x.array
            if tuple(a.name for a in x.axes) != want.names:  # same axes in another storage order
                array = jax.numpy.transpose(array, [x.axes.index(a) for a in want.axes])
            return array
        if not t.axes and (type(x) in _SCALARS or (isinstance(x, (np.ndarray, np.generic, jax.Array))
                                                    and np.ndim(x) == 0)):
            return np.asarray(x, dtype)
        raise AxisError(f"{self.name}: {where} is a {type(x).__name__}, but the exported program takes a "
                        f"NamedArray {want}")


def _axes(axes) -> str:
    return "(" + ", ".join(f"{a.name}={a.size}" for a in axes) + ")"


def _version(v: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in v.split("."))
    except ValueError:
        raise SerializationError(f"the exported program has a malformed StableHLO version {v!r}") from None


def export(fn: Callable, *args: Any, **kwargs: Any) -> Exported:
    """Export ``fn`` for these arguments (NamedArrays, ``named.spec``s, scalars; keyword arguments too).

    A ``named.compile``'d ``fn`` keeps its options (mesh, axis resources, donation, static arguments,
    whose values are baked in).

    >>> import named
    >>> X = named.Axis("x", 3)
    >>> exp = named.export(lambda a: (a * 2).sum("x"), named.spec(X))
    >>> again = named.deserialize(exp.serialize())
    >>> again(named.ones(X)).item()
    6.0
    """
    if not callable(fn):
        raise TypeError(f"export: `fn` must be a function (or a named.compile'd one), got {describe(fn)}")
    compiled = fn if isinstance(fn, CompiledFunction) else named_compile(fn)
    entry, _ = compiled._entry(args, kwargs, abstract=True)
    call_args, call_kwargs = args, kwargs
    if compiled._signature is not None:
        call_args, call_kwargs, _ = compiled._split_statics(args, kwargs)
    count = [0]
    in_structure = _encode((list(call_args), dict(call_kwargs)), count)
    out_leaves = jax.tree_util.tree_unflatten(entry.out_treedef, [None] * entry.out_treedef.num_leaves)
    out_structure = _encode(out_leaves, [0], nodes=False)
    stages = entry.stages
    fn_ir = stages.partitioned
    if count[0] != len(fn_ir.arg_types):  # pragma: no cover - the tracer numbers leaves the same way
        raise SerializationError(f"internal: {count[0]} argument leaves for {len(fn_ir.arg_types)} arguments")
    artifact, target = portable_artifact(stages.module)
    donation = None
    if stages.donated is not None:
        from named.compiler.lowering.aliasing import alias_plan
        donation = alias_plan(fn_ir, stages.donated)
    import named
    header = {
        "name": fn_ir.name, "stablehlo_version": target, "platform": jax.default_backend(),
        "producer": {"named": named.__version__, "jax": jax.__version__},
        "in_structure": in_structure, "out_structure": out_structure,
        "args": [_type_json(t) for t in fn_ir.arg_types], "results": [_type_json(t) for t in fn_ir.result_types],
        "mesh": None if fn_ir.mesh is None else [[n, s] for n, s in fn_ir.mesh.axes], "donation": donation,
    }
    return Exported(header, artifact)


def deserialize(data: bytes) -> Exported:
    """The :class:`Exported` program in bytes made by :meth:`Exported.serialize`; truncated, corrupted or
    foreign bytes raise :class:`SerializationError` (a ``named.NamedError``).

    >>> import named
    >>> data = named.export(lambda a: a + 1.0, named.spec(named.Axis("x", 2))).serialize()
    >>> named.deserialize(data)
    <Exported <lambda>(f32[x=2]) -> (f32[x=2])>
    >>> named.deserialize(data[:-1])
    Traceback (most recent call last):
    ...
    named.SerializationError: the exported program is corrupted or truncated: ...
    """
    header, artifact = unpack(data)
    return Exported(header, artifact)
