"""``@named.compile``: trace once per signature, check, partition, lower, compile, and run cached.

    @named.compile
    def loss(params, batch): ...

    @named.compile(axis_resources={"batch": "data"}, mesh={"data": 8})
    def step(params, batch): ...
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence, overload

import jax
import numpy as np

from named.compiler import Builder, Pass, Stages, current_builder, run_pipeline, tracing, user_location
from named.compiler.pipeline import gc_paused
from named.compiler.tracer import _state as _TRACE_STATE
from named.dialect import Axis, AxisError, Full, NamedError, TensorType, dtype_name
from named.runtime import DeletedArrayError, Executable, check_alive, pjrt

from ._canonical import canonical_name, python_scalar_dtype, x64_enabled
from .caches import LRUCache, compiled_limit
from .core import NamedArray, Traced, _value_of, jax_refusal
from .donation import DonationSpec
from .partitioning import _state as _CONTEXT_STATE
from .partitioning import (check_mesh, current_mapping_entry, current_mesh, normalize_resources,
                           resolve_mesh)

__all__ = ["compile", "spec", "ArgSpec", "CompiledFunction", "Lowered", "Compiled"]

_tree_flatten = jax.tree_util.tree_flatten
_tree_unflatten = jax.tree_util.tree_unflatten
_ARRAY = pjrt.ArrayImpl
_PY_SCALARS = {bool: "bool", int: "i32", float: "f32", complex: "c64"}


@dataclass(frozen=True, slots=True)
class ArgSpec:
    """An abstract argument for :meth:`CompiledFunction.lower`: axes and dtype, no data."""

    axes: tuple[Axis, ...]
    dtype: str

    @property
    def type(self) -> TensorType:
        return TensorType(self.dtype, self.axes)


def spec(axes, dtype="f32") -> ArgSpec:
    """An abstract argument: ``named.spec((Batch, Embed), "f32")`` (axes may be a dict of sizes)."""
    if isinstance(axes, Axis):
        axes = (axes,)
    elif isinstance(axes, Mapping):
        axes = tuple(Axis(n, s) for n, s in axes.items())
    return ArgSpec(tuple(axes), dtype_name(dtype))


def _is_node_leaf(x) -> bool:
    return isinstance(x, (NamedArray, ArgSpec))


def _leaf_signature(x):
    t = type(x)
    if t is _ARRAY:
        return x.dtype
    if t in _PY_SCALARS:
        return t
    if isinstance(x, (np.ndarray, np.generic, jax.Array)):
        if isinstance(x, jax.core.Tracer):  # a weakly typed jax scalar stays weak, as a Python scalar
            return (x.dtype, np.shape(x), x.weak_type)
        return (x.dtype, np.shape(x))
    if isinstance(x, NamedArray):  # host-backed (e.g. after a tree_map to NumPy): its canonical dtype
        return (x.dtype, x.axes)
    return (t, id(x))


class _Entry:
    """One compiled signature: its executable, stages and how to rebuild the outputs."""

    __slots__ = ("executable", "in_treedef", "out_treedef", "stages", "jax_mesh", "jax_ref", "result_weak")

    def __init__(self, stages: Stages, in_treedef, out_treedef, jax_mesh, result_weak=None):
        self.result_weak = result_weak  # results computed only from Python scalars come back weakly typed
        self.stages = stages
        self.in_treedef = in_treedef
        self.out_treedef = out_treedef
        self.jax_mesh = jax_mesh
        self.executable = None
        self.jax_ref = None

    def jax_call(self, leaves):
        """Run the program on jax values some of which are tracers: one ``named_call`` whose body
        is this program's own lowering (see :mod:`named.interop.primitives`)."""
        from .interop.primitives import FunctionRef
        if self.jax_ref is None:
            self.jax_ref = FunctionRef(self.stages.optimized, self.stages.partitioned, self.jax_mesh)
        return _tree_unflatten(self.out_treedef, self.jax_ref(*leaves))

    def compiled(self) -> Executable:
        if self.executable is None:
            donation = None
            if self.stages.donated is not None:
                from named.compiler.lowering.aliasing import alias_plan
                donation = alias_plan(self.stages.partitioned, self.stages.donated)
            self.executable = Executable(self.stages.executable_text, self.stages.partitioned, mesh=self.jax_mesh,
                                         result_weak=self.result_weak, donation=donation)
        return self.executable


class CompiledFunction:
    """A function compiled by `named` (see :func:`compile`); call it like the original."""

    def __init__(self, fn: Callable, *, static_argnames: Sequence[str] = (), static_argnums: Sequence[int] = (),
                 axis_resources: Mapping | None = None, in_axis_resources: Mapping | None = None,
                 out_axis_resources: Mapping | None = None, mesh=None, passes: Sequence[Pass] = (),
                 builtin_passes: bool = True, timing: bool = False, donate_argnums=(), donate_argnames=(),
                 donate_args=None, donate_kwargs=None):
        functools.update_wrapper(self, fn)
        self.donation = DonationSpec(fn, donate_argnums=donate_argnums, donate_argnames=donate_argnames,
                                     donate_args=donate_args, donate_kwargs=donate_kwargs)
        self.fn = fn
        self.static_argnames = tuple(static_argnames)
        self.static_argnums = tuple(static_argnums)
        self.axis_resources, self._resources_key = normalize_resources(axis_resources)
        self.in_axis_resources = normalize_resources(in_axis_resources)[0]
        self.out_axis_resources = normalize_resources(out_axis_resources)[0]
        self.mesh = mesh
        self.passes = tuple(passes)
        self.builtin_passes = builtin_passes
        self.timing = timing
        self._signature = inspect.signature(fn) if (self.static_argnames or self.static_argnums) else None
        self._cache = LRUCache(compiled_limit)  # bounded: each entry holds a loaded executable
        check_mesh(mesh)  # its devices are looked up on first use: defining needs no devices
        self._resolved_mesh = None
        self._dispatch = self._new_dispatcher()

    def _new_dispatcher(self):
        # Static arguments are bound in Python; everything else may go through the C++ fast path.
        if self._signature is not None:
            return None
        dispatch = pjrt.fast_dispatcher(getattr(self.fn, "__name__", "f"), self.fn, self._cache_miss,
                                        capacity=compiled_limit())
        cls = type(self)
        own = cls.__dict__.get("_fast_marker") is _fast_call
        if dispatch is not None and not self.donation.active and (own or cls.__call__ is CompiledFunction.__call__):
            # Calling this object IS calling the C++ dispatcher: no Python frame on a cached call.
            # (`__call__` is looked up on the type, so each function gets its own small subclass.)
            # A donating function keeps the Python __call__, which turns the dispatcher's error on a
            # donated (deleted) argument into a DeletedArrayError naming it.
            if not own:
                cls = self.__class__ = _fast_class(cls)
            cls.__call__ = staticmethod(dispatch)
        return dispatch

    def _cache_miss(self, *args, **kwargs):
        """Called by the C++ dispatcher for a signature it has not seen: run the Python path, and
        hand back the executable only when the arguments needed no re-placing (then every later
        call with this signature is safe to run without Python checks)."""
        if _TRACE_STATE.stack:  # called from traced code: inline (the trace is in the C++ key)
            return self.fn(*args, **kwargs), None, False
        entry, leaves = self._entry(args, kwargs)
        if _has_tracer(leaves):  # under a jax transformation: one named_call of the whole program
            return entry.jax_call(leaves), None, False
        executable = entry.compiled()
        reusable = executable.accepts_as_is(leaves)
        try:
            result = _tree_unflatten(entry.out_treedef, executable(leaves))
        except DeletedArrayError as e:
            _check_alive(self.fn, args, kwargs, e, self.donation)
            raise
        data = None
        if reusable:
            data = pjrt.fastpath_data(executable.loaded, result, executable.arg_shardings,
                                      executable.result_shardings)
        return result, data, False

    # -- calling --------------------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        # Hot path: no trace and no use_mesh/axis_mapping block open -> straight to the C++ dispatcher.
        # (The checks read the thread-local stacks directly: a cached call is benchmarked.)
        if not _TRACE_STATE.stack and not _CONTEXT_STATE.meshes and not _CONTEXT_STATE.mappings:
            dispatch = self._dispatch
            if dispatch is not None:
                try:
                    return dispatch(*args, **kwargs) if kwargs else dispatch(*args)
                except (RuntimeError, ValueError) as e:  # e.g. an array donated earlier: a typed error naming it
                    _check_alive(self.fn, args, kwargs, e, self.donation)
                    raise
        elif current_builder() is not None:  # called from traced code: inline
            return self.fn(*args, **kwargs)
        entry, leaves = self._entry(args, kwargs)
        if _has_tracer(leaves):
            return entry.jax_call(leaves)
        try:
            outs = entry.compiled()(leaves)
        except DeletedArrayError as e:
            _check_alive(self.fn, args, kwargs, e, self.donation)
            raise
        return _tree_unflatten(entry.out_treedef, outs)

    def _placement(self):
        """(device mesh, IR mesh, mapping, cache key of the mapping): the compile options win over
        ``use_mesh``/``axis_mapping`` blocks; a context mapping without any mesh is ignored."""
        if self.mesh is None:
            jax_mesh, ir_mesh = current_mesh()
        else:
            if self._resolved_mesh is None:
                self._resolved_mesh = resolve_mesh(self.mesh)
            jax_mesh, ir_mesh = self._resolved_mesh
        if self.axis_resources is not None:
            return jax_mesh, ir_mesh, self.axis_resources, self._resources_key
        if jax_mesh is None:
            return None, None, None, None
        mapping, key = current_mapping_entry()
        return jax_mesh, ir_mesh, mapping, key

    def _entry(self, args, kwargs, *, abstract: bool = False):
        statics = ()
        if self._signature is not None:
            args, kwargs, statics = self._split_statics(args, kwargs)
        leaves, treedef = _tree_flatten((args, kwargs))
        jax_mesh, ir_mesh, mapping, mapping_key = self._placement()
        key = (treedef, tuple(map(_leaf_signature, leaves)), statics, jax_mesh, mapping_key, x64_enabled())
        entry = self._cache.get(key)
        if entry is None:
            with gc_paused():
                fn = self._trace(args, kwargs, statics)
            donated = self.donation.mask(args, kwargs) if self.donation.active else None
            try:
                stages = run_pipeline(fn[0], mesh=ir_mesh, mapping=mapping, passes=self.passes,
                                      builtin_passes=self.builtin_passes, timing=self.timing,
                                      in_mapping=self.in_axis_resources, out_mapping=self.out_axis_resources,
                                      traced=True, donated=donated)
            except NamedError as e:  # say where the user called the function
                raise e.with_location(user_location()).with_traceback(None) from None
            entry = _Entry(stages, fn[1], fn[2], jax_mesh, fn[3])
            if not abstract:
                self._cache[key] = entry
        return entry, leaves

    def _split_statics(self, args, kwargs):
        bound = self._signature.bind(*args, **kwargs)
        statics = []
        names = list(self._signature.parameters)
        for i, name in enumerate(names):
            if name in bound.arguments and (name in self.static_argnames or i in self.static_argnums):
                value = bound.arguments.pop(name)
                try:
                    hash(value)
                except TypeError:
                    raise TypeError(f"static argument {name!r} must be hashable, got {type(value).__name__}") from None
                statics.append((name, value))
        return bound.args, bound.kwargs, tuple(statics)

    # -- tracing --------------------------------------------------------------------------------------
    def _trace(self, args, kwargs, statics):
        builder = Builder()
        leaves, treedef = _tree_flatten((args, kwargs), is_leaf=_is_node_leaf)
        paths = [jax.tree_util.keystr(p) for p, _ in
                 jax.tree_util.tree_flatten_with_path((args, kwargs), is_leaf=_is_node_leaf)[0]]
        traced = [self._trace_arg(builder, leaf, path) for leaf, path in zip(leaves, paths)]
        args2, kwargs2 = _tree_unflatten(treedef, traced)
        with tracing(builder):
            try:
                out = self.fn(*args2, **kwargs2, **dict(statics))
            except TypeError as e:  # jax code given a traced value: say so, and what to use instead
                refusal = jax_refusal(e)
                if refusal is None:
                    raise
                raise refusal.with_traceback(None) from None
            out_leaves, out_treedef = _tree_flatten(out, is_leaf=_is_node_leaf)
            results = [self._result_value(builder, leaf, i) for i, leaf in enumerate(out_leaves)]
            weak = tuple(isinstance(leaf, NamedArray) and type(leaf.array) is Traced and leaf.array.weak
                         for leaf in out_leaves)
        # Every result comes back as a NamedArray (Python scalars as 0-axis ones).
        named_leaves = [leaf if isinstance(leaf, NamedArray) else NamedArray._new(0, ()) for leaf in out_leaves]
        out_treedef = jax.tree_util.tree_structure(_tree_unflatten(out_treedef, named_leaves))
        # The structure a real call has: specs stand for NamedArrays of their axes.
        call_leaves = [NamedArray._new(0, leaf.axes) if isinstance(leaf, ArgSpec) else leaf for leaf in leaves]
        in_treedef = jax.tree_util.tree_structure(_tree_unflatten(treedef, call_leaves))
        fn = builder.finish(getattr(self.fn, "__name__", "main"), results)
        return fn, in_treedef, out_treedef, (weak if any(weak) else None)

    def _trace_arg(self, builder: Builder, leaf, path: str):
        if isinstance(leaf, (NamedArray, ArgSpec)):
            if isinstance(leaf, NamedArray) and type(leaf.array) is Traced:
                raise TypeError("a traced value from another trace was passed as an argument")
            t = leaf.type
            return NamedArray._new(Traced(builder.add_arg(t)), t.axes)
        if type(leaf) in _PY_SCALARS:
            v = builder.add_arg(TensorType(python_scalar_dtype(type(leaf)), ()))
            return NamedArray._new(Traced(v, weak=True), ())
        if isinstance(leaf, (np.ndarray, np.generic, jax.Array)):
            if np.ndim(leaf) == 0:
                v = builder.add_arg(TensorType(canonical_name(leaf.dtype), ()))
                return NamedArray._new(Traced(v, weak=isinstance(leaf, jax.core.Tracer) and leaf.weak_type), ())
            shape = np.shape(leaf)
            names = ", ".join(f"'axis{i}'" for i in range(len(shape)))
            raise AxisError(f"argument {_describe(self.fn, path)} is an unnamed array of shape {shape}; "
                            f"named.compile needs named axes: pass named.named(x, ({names})) or mark the "
                            f"argument static with static_argnames").with_traceback(None)
        raise TypeError(f"argument {_describe(self.fn, path)} of type {type(leaf).__name__} is not a NamedArray, "
                        f"a scalar or a pytree of them; mark it static with static_argnames=")

    def _result_value(self, builder: Builder, leaf, i: int):
        if isinstance(leaf, NamedArray):
            return _value_of(builder, leaf)
        if type(leaf) in _PY_SCALARS:
            (v,) = builder.emit(Full, (), {"value": leaf, "dtype": python_scalar_dtype(type(leaf)), "axes": ()})
            return v
        raise TypeError(f"{getattr(self.fn, '__name__', 'the function')} returned a {type(leaf).__name__} "
                        f"(result #{i}); results must be NamedArrays, scalars, or pytrees of them")

    # -- staging --------------------------------------------------------------------------------------
    def lower(self, *args, **kwargs) -> "Lowered":
        """Trace, check, partition and lower for these arguments (NamedArrays or ``named.spec``)."""
        entry, _ = self._entry(args, kwargs, abstract=True)
        return Lowered(entry, self)

    def clear_cache(self) -> None:
        """Drop every compiled signature and release its executables."""
        self._cache.clear()
        pjrt.release_dispatcher(self._dispatch)
        self._dispatch = self._new_dispatcher()

    @property
    def cache_size(self) -> int:
        return len(self._cache)


_fast_call = object()  # marks a per-function subclass whose __call__ is a C++ dispatcher


def _fast_class(base: type) -> type:
    """A subclass of ``base`` for one compiled function (its ``__call__`` is set by the caller)."""
    return type(base.__name__, (base,), {"__module__": base.__module__, "__qualname__": base.__qualname__,
                                          "_fast_marker": _fast_call})


def _has_tracer(leaves) -> bool:
    return any(type(x) is not _ARRAY and isinstance(x, jax.core.Tracer) for x in leaves)


def _check_alive(fn, args, kwargs, error: Exception, donation: DonationSpec | None = None) -> None:
    """Re-raise a failed call's error as a DeletedArrayError naming the donated/deleted argument by
    its parameter path (``p['w']``) and the caller's line, when that is what went wrong (an array
    deleted earlier, or one donated while also passed in another position)."""
    flat = jax.tree_util.tree_flatten_with_path((args, kwargs))[0]
    # (a NamedArray's own array shows as "[<flat index 0>]" in key paths: drop it)
    names = [f"argument {_describe(fn, jax.tree_util.keystr(path).replace('[<flat index 0>]', ''))}"
             for path, _ in flat]
    leaves = [leaf for _, leaf in flat]
    try:
        check_alive(leaves, names)
        if donation is not None and donation.active:
            donated = {id(x): i for i, (x, d) in enumerate(zip(leaves, donation.mask(args, kwargs)))
                       if d and isinstance(x, pjrt.Array)}
            for j, x in enumerate(leaves):
                if id(x) in donated and donated[id(x)] != j:
                    raise DeletedArrayError(f"{names[donated[id(x)]]} is donated but the same array is also "
                                            f"{names[j]}; pass a copy, or do not donate it")
    except DeletedArrayError as e:
        raise e.with_location(user_location()).with_traceback(None) from None


def _describe(fn, path: str) -> str:
    # path looks like "[0][1]['w']" for (args, kwargs): name the parameter where we can
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        params = []
    if path.startswith("[0]["):
        rest = path[4:]
        idx = rest.split("]", 1)[0]
        if idx.isdigit() and int(idx) < len(params):
            return f"{params[int(idx)]!r}{rest.split(']', 1)[1]}"
    if path.startswith("[1]['"):
        return path[4:]
    return path


class Lowered:
    """A traced, checked, partitioned and lowered program (not yet compiled by XLA)."""

    def __init__(self, entry: _Entry, owner: CompiledFunction):
        self._entry = entry
        self._owner = owner

    @property
    def stages(self) -> Stages:
        return self._entry.stages

    def as_text(self, stage: str = "partitioned", *, locations: bool = False) -> str:
        """The program at ``stage``: traced, checked, optimized, partitioned (named IR) or stablehlo."""
        return self._entry.stages.text(stage, locations=locations)

    def compile(self) -> "Compiled":
        return Compiled(self._entry)


class Compiled:
    """An XLA executable for one signature; call it like the function."""

    def __init__(self, entry: _Entry):
        self._entry = entry
        self._executable = entry.compiled()

    def as_text(self) -> str:
        """Optimized HLO after SPMD partitioning."""
        return self._executable.optimized_hlo()

    def memory_analysis(self):
        """XLA's compiled memory analysis (as jax's ``Compiled.memory_analysis()``): argument, output,
        alias (results written into donated arguments) and temp sizes in bytes."""
        return self._executable.memory_stats()

    def __call__(self, *args, **kwargs):
        leaves, treedef = _tree_flatten((args, kwargs))
        expected = tuple(t.unsharded() for t in self._entry.stages.traced.arg_types)
        got = _argument_types(args, kwargs)
        if treedef != self._entry.in_treedef or got != expected:
            raise AxisError(
                f"these arguments do not match the compiled signature:\n"
                f"  compiled for ({', '.join(map(str, expected))})\n  called with  ({', '.join(map(str, got))})\n"
                f"lower() again for these arguments, or call the named.compile'd function, which compiles "
                f"once per signature", loc=user_location()).with_traceback(None)
        if _has_tracer(leaves):
            return self._entry.jax_call(leaves)
        return _tree_unflatten(self._entry.out_treedef, self._executable(leaves))


def _argument_types(args, kwargs) -> tuple:
    """The IR types the arguments would be traced as (what a Compiled checks a call against)."""
    types = []
    for leaf in _tree_flatten((args, kwargs), is_leaf=_is_node_leaf)[0]:
        if isinstance(leaf, (NamedArray, ArgSpec)):
            types.append(TensorType(dtype_name(leaf.dtype) if isinstance(leaf, NamedArray) else leaf.dtype,
                                    leaf.axes))
        elif type(leaf) in _PY_SCALARS:
            types.append(TensorType(python_scalar_dtype(type(leaf)), ()))
        elif isinstance(leaf, (np.ndarray, np.generic, jax.Array)) and np.ndim(leaf) == 0:
            types.append(TensorType(canonical_name(leaf.dtype), ()))
        elif isinstance(leaf, (np.ndarray, np.generic, jax.Array)):
            types.append(f"unnamed {np.dtype(leaf.dtype).name}{list(np.shape(leaf))}")
        else:
            types.append(type(leaf).__name__)
    return tuple(types)


@overload
def compile(fn: Callable, **options) -> CompiledFunction: ...
@overload
def compile(**options) -> Callable[[Callable], CompiledFunction]: ...


def compile(fn: Callable | None = None, **options):
    """Compile a function of NamedArrays; use bare (``@named.compile``) or with options.

    Options: ``static_argnames``/``static_argnums``, ``axis_resources`` (logical axis -> mesh axis
    or tuple of mesh axes; every value is split by it, the xmap model), ``in_axis_resources`` /
    ``out_axis_resources`` (the same for the arguments / results only; without ``axis_resources``
    the intermediates are left to Shardy's propagation, as under pjit), ``mesh``
    (``jax.sharding.Mesh`` or ``{"data": 4}``; else ``named.use_mesh``), ``passes`` (extra passes run
    before the built-ins), ``builtin_passes``, ``timing``, and buffer donation: ``donate_argnums`` /
    ``donate_argnames`` (as jax.jit) or haliax's ``donate_args`` / ``donate_kwargs`` (pytree prefixes of
    bools or leaf predicates); a donated argument is deleted after the call and XLA may write a result
    of the same type into its buffers (see :mod:`named.donation`). With ``in_axes=``/``out_axes=`` the function
    takes and returns positional arrays, as under xmap (see :class:`named.XMapFunction`).

    >>> import named
    >>> @named.compile
    ... def f(x):
    ...     return (x * 2).sum("embed")
    >>> f(named.ones(named.make_axes(embed=3))).item()
    6.0
    """
    if "in_axes" in options or "out_axes" in options:
        from .xmap import XMapFunction
        factory = XMapFunction
    else:
        factory = CompiledFunction
    if fn is None:
        return lambda f: factory(f, **options)
    return factory(fn, **options)

