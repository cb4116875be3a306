"""Random programs over named's op surface, run by `named` and by jax.numpy on the positional twin.

A program is a list of steps over values that carry axis names; :func:`run_named` runs it with named
ops (eagerly, or traced inside ``named.compile``), :func:`run_reference` with jax.numpy on plain
arrays whose axes are tracked by name. Used by tests/test_fuzz_programs.py (hypothesis draws the
programs) and runnable on its own with ``NAMED_FUZZ_EXAMPLES`` for a long campaign.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

import named

SIZES = {"a": 4, "b": 2, "c": 3}
MAPPINGS = ({"a": "data", "b": "model"}, {"a": "model"}, {"b": "model"}, {"a": "data"},
            {"a": "model", "b": None, "c": None})
MESH = {"data": 4, "model": 2}
DTYPES = ("f32", "bf16", "f16", "i32", "bool", "c64")
NP_DTYPES = {"f32": np.float32, "bf16": jnp.bfloat16, "f16": np.float16, "i32": np.int32, "bool": np.bool_,
             "c64": np.complex64}


def fuzz_examples(default: int) -> int:
    """How many examples a fuzz test runs: ``NAMED_FUZZ_EXAMPLES`` (the long profile) or ``default``."""
    return int(os.environ.get("NAMED_FUZZ_EXAMPLES", default))


def fuzz_seed() -> int | None:
    """The seed of a campaign (``NAMED_FUZZ_SEED``), or None for hypothesis' fixed derandomized draw."""
    value = os.environ.get("NAMED_FUZZ_SEED")
    return int(value) if value else None


# ------------------------------------------------------------------------------------------- the ops
# name -> (named implementation, jax.numpy implementation) on (data, ...) operands
UNARY = {
    "negative": (named.negative, jnp.negative), "abs": (named.abs, jnp.abs), "exp": (named.exp, jnp.exp),
    "sin": (named.sin, jnp.sin), "tanh": (named.tanh, jnp.tanh), "square": (named.square, jnp.square),
    "sqrt": (named.sqrt, jnp.sqrt), "log1p": (named.log1p, jnp.log1p), "sign": (named.sign, jnp.sign),
    "reciprocal": (named.reciprocal, jnp.reciprocal), "floor": (named.floor, jnp.floor),
    "isnan": (named.isnan, jnp.isnan), "logical_not": (named.logical_not, jnp.logical_not),
    "signbit": (named.signbit, jnp.signbit), "real": (named.real, jnp.real), "conj": (named.conj, jnp.conj),
}
BINARY = {
    "add": (named.add, jnp.add), "subtract": (named.subtract, jnp.subtract),
    "multiply": (named.multiply, jnp.multiply), "maximum": (named.maximum, jnp.maximum),
    "minimum": (named.minimum, jnp.minimum), "divide": (named.divide, jnp.divide),
    "hypot": (named.hypot, jnp.hypot), "arctan2": (named.arctan2, jnp.arctan2),
    "equal": (named.equal, jnp.equal), "less": (named.less, jnp.less),
    "logical_and": (named.logical_and, jnp.logical_and), "floor_divide": (named.floor_divide, jnp.floor_divide),
    "remainder": (named.remainder, jnp.remainder),
}
REDUCE = {"sum": (named.sum, jnp.sum), "max": (named.max, jnp.max), "mean": (named.mean, jnp.mean),
          "any": (named.any, jnp.any), "prod": (named.prod, jnp.prod), "min": (named.min, jnp.min),
          "all": (named.all, jnp.all), "var": (named.var, jnp.var),
          "logsumexp": (named.logsumexp, jax.scipy.special.logsumexp),
          "argmax": (named.argmax, jnp.argmax)}
# along one axis, keeping it: name -> (named implementation, jax.numpy implementation(x, axis index))
SCANS = {"cumsum": (named.cumsum, jnp.cumsum), "cumprod": (named.cumprod, jnp.cumprod),
         "sort": (named.sort, lambda x, axis: jnp.sort(x, axis=axis)),
         "softmax": (named.nn.softmax, lambda x, axis: jax.nn.softmax(x, axis=axis))}
SCALARS = (2, 0.5, -1.5, True, 3)
# integer division by zero is backend-defined (XLA and NumPy disagree); it is left out
INT_UNSAFE = {"floor_divide", "remainder", "divide"}


class Skip(Exception):
    """The reference refuses this step (jax.numpy raises): the program is not a valid one."""


def draw_program(draw, st, max_steps: int = 5):
    """A random program, drawn with hypothesis' ``draw``: input specs and steps."""
    n_inputs = draw(st.integers(1, 3))
    inputs = []
    for _ in range(n_inputs):
        names = draw(st.lists(st.sampled_from(sorted(SIZES)), unique=True, max_size=3))
        inputs.append((tuple(names), draw(st.sampled_from(DTYPES)), draw(st.integers(0, 2 ** 31 - 1))))
    steps = []
    for _ in range(draw(st.integers(1, max_steps))):
        kind = draw(st.sampled_from(("unary", "binary", "binary", "scalar", "where", "reduce", "transpose",
                                     "astype", "scan", "dot")))
        i = draw(st.integers(0, 100))
        j = draw(st.integers(0, 100))
        if kind == "unary":
            steps.append(("unary", draw(st.sampled_from(sorted(UNARY))), i))
        elif kind == "binary":
            steps.append(("binary", draw(st.sampled_from(sorted(BINARY))), i, j))
        elif kind == "scalar":
            steps.append(("scalar", draw(st.sampled_from(sorted(BINARY))), i, draw(st.sampled_from(SCALARS)),
                          draw(st.booleans())))
        elif kind == "where":
            steps.append(("where", i, j, draw(st.integers(0, 100))))
        elif kind == "reduce":
            steps.append(("reduce", draw(st.sampled_from(sorted(REDUCE))), i, draw(st.integers(0, 3))))
        elif kind == "transpose":
            steps.append(("transpose", i, draw(st.integers(0, 5))))
        elif kind == "scan":
            steps.append(("scan", draw(st.sampled_from(sorted(SCANS))), i, draw(st.integers(0, 2))))
        elif kind == "dot":
            steps.append(("dot", i, j, draw(st.integers(0, 2))))
        else:
            steps.append(("astype", i, draw(st.sampled_from(DTYPES))))
    return inputs, steps, draw(st.integers(0, len(MAPPINGS) - 1))


def input_data(inputs):
    """NumPy data for the input specs (small values; ints avoid zero so division is defined)."""
    out = []
    for names, dtype, seed in inputs:
        rng = np.random.default_rng(seed)
        shape = tuple(SIZES[n] for n in names)
        if dtype == "bool":
            data = rng.random(shape) < 0.5
        elif dtype == "i32":
            data = rng.integers(1, 6, shape) * rng.choice([-1, 1], shape)
        elif dtype == "c64":
            data = rng.normal(size=shape) + 1j * rng.normal(size=shape)
        else:
            data = rng.normal(size=shape) * 2
            if rng.random() < 0.3 and data.size:
                data.flat[rng.integers(0, data.size)] = rng.choice([np.inf, -np.inf, np.nan, 0.0, -0.0])
        out.append(np.asarray(data).astype(NP_DTYPES[dtype]))
    return out


def _align(data, names, target):
    """``data`` with axes ``names`` transposed and expanded to broadcast against ``target``."""
    order = [names.index(n) for n in target if n in names]
    data = jnp.transpose(data, order) if len(order) > 1 else data
    present = [n for n in target if n in names]
    shape = [SIZES[n] if n in present else 1 for n in target]
    return jnp.reshape(data, shape)


def _promote_and_broadcast(name, x, xn, y, yn, target):
    """A binary op's operands as ``named`` lowers them inside one program: converted to the common
    dtype first, then moved to ``target`` by one transpose or broadcast_in_dim. XLA's simplifier
    turns ``convert(bool) * y`` into a select (0 where IEEE gives NaN or -0), or not, depending on
    the program's shape; a whole-program reference must have the same shape to get the same answer."""
    dtype = jnp.result_type(x, y)
    if name in INEXACT_BINARY and not jnp.issubdtype(dtype, jnp.inexact):
        dtype = jnp.float32
    return [_move(v.astype(dtype) if v.dtype != dtype else v, names, target) for v, names in ((x, xn), (y, yn))]


def _move(data, names, target):
    if names == target:
        return data
    if len(names) == len(target):
        return jnp.transpose(data, [names.index(n) for n in target])
    return jax.lax.broadcast_in_dim(data, tuple(SIZES[n] for n in target), [target.index(n) for n in names])


INEXACT_BINARY = {"divide", "arctan2", "hypot"}


def run_reference(program, data, fused: bool = False):
    """Run the program with jax.numpy: (list of (array, names)) for every value; raises Skip.
    ``fused``: the steps are traced into one jax.jit (see :func:`_promote_and_broadcast`)."""
    inputs, steps = program[:2]
    values = [(jnp.asarray(d), names) for d, (names, _, _) in zip(data, inputs)]
    plan = []
    for step in steps:
        try:
            with np.errstate(all="ignore"):
                out = _ref_step(step, values, fused)
        except (TypeError, ValueError, NotImplementedError):
            plan.append(False)  # invalid for these dtypes in jax.numpy: the named run skips it too
            continue
        values.append(out)
        plan.append(True)
    return values, plan


def _pick(values, i):
    return values[i % len(values)]


def _int_unsafe(name, *dtypes):
    return name in INT_UNSAFE and all(np.issubdtype(d, np.integer) or d == np.bool_ for d in dtypes)


def _ref_step(step, values, fused: bool = False):
    kind = step[0]
    if kind == "unary":
        x, names = _pick(values, step[2])
        return UNARY[step[1]][1](x), names
    if kind in ("binary", "scalar"):
        x, xn = _pick(values, step[2])
        if kind == "scalar":
            y, yn = step[3], ()
            if _int_unsafe(step[1], x.dtype) and isinstance(step[3], (bool, int)):
                raise ValueError("integer division")
            args = (y, x) if step[4] else (x, y)
            return BINARY[step[1]][1](*args), xn
        y, yn = _pick(values, step[3])
        if _int_unsafe(step[1], x.dtype, y.dtype):
            raise ValueError("integer division")
        target = xn + tuple(n for n in yn if n not in xn)
        if fused:
            return BINARY[step[1]][1](*_promote_and_broadcast(step[1], x, xn, y, yn, target)), target
        return BINARY[step[1]][1](_align(x, xn, target), _align(y, yn, target)), target
    if kind == "where":
        c, cn = _pick(values, step[1])
        x, xn = _pick(values, step[2])
        y, yn = _pick(values, step[3])
        target = cn + tuple(n for n in xn + yn if n not in cn)
        target = tuple(dict.fromkeys(target))
        return jnp.where(_align(c, cn, target).astype(bool), _align(x, xn, target), _align(y, yn, target)), target
    if kind == "scan":
        x, names = _pick(values, step[2])
        if not names:
            raise ValueError("nothing to scan")
        axis = sorted(names)[step[3] % len(names)]
        if step[1] == "sort" and x.dtype == np.complex64:
            raise ValueError("named sorts real values only")
        if step[1] == "softmax" and x.dtype.kind not in "f":
            raise ValueError("softmax of a non-float (jax.nn.softmax keeps ints as ints)")
        return SCANS[step[1]][1](x, names.index(axis)), names
    if kind == "dot":
        x, xn = _pick(values, step[1])
        y, yn = _pick(values, step[2])
        shared = sorted(set(xn) & set(yn))
        if not shared:
            raise ValueError("no axis to contract")
        axis = shared[step[3] % len(shared)]
        letters = {n: chr(ord("a") + k) for k, n in enumerate(sorted(set(xn) | set(yn)))}
        out = tuple(n for n in xn if n != axis) + tuple(n for n in yn if n not in xn)
        spec = (f"{''.join(letters[n] for n in xn)},{''.join(letters[n] for n in yn)}"
                f"->{''.join(letters[n] for n in out)}")
        return jnp.einsum(spec, x, y, preferred_element_type=None), out
    if kind == "reduce":
        x, names = _pick(values, step[2])
        if not names:
            raise ValueError("nothing to reduce")
        axis = sorted(names)[step[3] % len(names)] if step[3] < 3 else None  # by name: orders may differ
        fn = REDUCE[step[1]][1]
        if step[1] in ("max", "min", "argmax") and x.dtype == np.complex64:
            raise ValueError("named refuses complex max (XLA cannot reduce it; jax orders lexicographically)")
        if step[1] == "argmax" and axis is None:
            raise ValueError("argmax over all axes is a flat index in storage order, which differs by layout")
        if step[1] == "logsumexp" and x.dtype == np.complex64:
            raise ValueError("named's logsumexp is for real values")
        if axis is None:
            return fn(x), ()
        return fn(x, axis=names.index(axis)), tuple(n for n in names if n != axis)
    if kind == "transpose":
        x, names = _pick(values, step[1])
        perm = _perm(len(names), step[2])
        return jnp.transpose(x, perm), tuple(names[p] for p in perm)
    x, names = _pick(values, step[1])
    if x.dtype in (np.complex64,) and step[2] != "c64":
        raise ValueError("complex to real drops the imaginary part (a warning in jax)")
    return x.astype(NP_DTYPES[step[2]]), names


def _perm(n, k):
    import itertools
    perms = list(itertools.permutations(range(n)))
    return perms[k % len(perms)]


def run_named(program, args, plan):
    """Run the program with named ops on NamedArrays ``args``; the results of every valid step."""
    inputs, steps = program[:2]
    values = list(args)
    for step, ok in zip(steps, plan):
        if not ok:
            continue
        values.append(_named_step(step, values))
    return values


def _named_step(step, values):
    kind = step[0]
    if kind == "unary":
        return UNARY[step[1]][0](_pick(values, step[2]))
    if kind == "scalar":
        x = _pick(values, step[2])
        return BINARY[step[1]][0](*((step[3], x) if step[4] else (x, step[3])))
    if kind == "binary":
        return BINARY[step[1]][0](_pick(values, step[2]), _pick(values, step[3]))
    if kind == "where":
        return named.where(_pick(values, step[1]), _pick(values, step[2]), _pick(values, step[3]))
    if kind == "scan":
        x = _pick(values, step[2])
        return SCANS[step[1]][0](x, sorted(x.axis_names())[step[3] % len(x.axis_names())])
    if kind == "dot":
        x, y = _pick(values, step[1]), _pick(values, step[2])
        shared = sorted(set(x.axis_names()) & set(y.axis_names()))
        return named.dot(x, y, axis=shared[step[3] % len(shared)])
    if kind == "reduce":
        x = _pick(values, step[2])
        names = x.axis_names()
        axis = sorted(names)[step[3] % len(names)] if step[3] < 3 else None
        return REDUCE[step[1]][0](x, axis)
    if kind == "transpose":
        x = _pick(values, step[1])
        names = x.axis_names()
        return named.rearrange(x, tuple(names[p] for p in _perm(len(names), step[2])))
    return named.astype(_pick(values, step[1]), step[2])


def tolerance(dtype) -> float:
    return {np.dtype(jnp.bfloat16): 3e-2, np.dtype(np.float16): 3e-3}.get(np.dtype(dtype), 2e-5)


def assert_same(got: named.NamedArray, expected, names, where: str, rtol: float | None = None):
    """``got`` equals the reference (values and dtype) once transposed to ``names`` order; ``rtol``
    defaults to the tolerance of the value's dtype."""
    assert sorted(got.axis_names()) == sorted(names), f"{where}: axes {got.axis_names()} vs {names}"
    assert np.dtype(got.dtype) == np.dtype(expected.dtype), f"{where}: dtype {got.dtype} vs jax {expected.dtype}"
    data = np.asarray(got)
    own = got.axis_names()
    data = np.transpose(data, [own.index(n) for n in names]) if len(names) > 1 else data
    exp = np.asarray(expected)
    if exp.dtype.kind in "biu":
        np.testing.assert_array_equal(data, exp, err_msg=where)
        return
    rtol = max(rtol or 0.0, tolerance(expected.dtype))
    kind = np.complex128 if exp.dtype.kind == "c" else np.float64
    a, b = data.astype(kind), exp.astype(kind)
    scale = np.max(np.abs(b[np.isfinite(b)]), initial=1.0)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale, equal_nan=True, err_msg=where)


def run_reference_jit(program, data, names_out, mapping=None):
    """The reference program as one ``jax.jit`` (sharded over the 4x2 mesh by ``mapping`` when given):
    the twin of a compiled named program, since XLA simplifies a whole program differently from op by
    op (``convert(bool) * x`` becomes a select, which differs from IEEE at 0 and NaN, and not when the
    operands are split over devices)."""
    n_in = len(data)

    def fn(*arrays):
        values, _ = run_reference(program, arrays, fused=True)
        return [v for v, _ in values[n_in:]]

    if mapping is None:
        return jax.jit(fn)(*data)
    from jax.sharding import NamedSharding, PartitionSpec
    mesh = _jax_mesh()
    spec = lambda names: NamedSharding(mesh, PartitionSpec(*(mapping.get(n) for n in names)))  # noqa: E731
    return jax.jit(fn, in_shardings=[spec(names) for names, _, _ in program[0]],
                   out_shardings=[spec(names) for names in names_out])(*data)


_MESHES = []


def _jax_mesh():
    if not _MESHES:
        _MESHES.append(jax.make_mesh(tuple(MESH.values()), tuple(MESH)))
    return _MESHES[0]


def check_program(program, modes=("eager", "compiled", "sharded")):
    """Run ``program`` in each mode and compare every value with jax.numpy run the same way: op by op
    for eager, one ``jax.jit`` for compiled, and one ``jax.jit`` sharded alike for sharded."""
    _log_started(program)
    data = input_data(program[0])
    ref_values, plan = run_reference(program, data)
    if not any(plan):
        return 0
    args = [named.named(jnp.asarray(d), names) for d, (names, _, _) in zip(data, program[0])]
    n_in = len(args)
    results = {}
    if "eager" in modes:
        results["eager"] = run_named(program, args, plan)[n_in:]
    fn = lambda *xs: run_named(program, xs, plan)[n_in:]  # noqa: E731
    if "compiled" in modes:
        results["compiled"] = named.compile(fn)(*args)
    if "sharded" in modes:
        mapping = MAPPINGS[program[2] if len(program) > 2 else 0]
        results["sharded"] = named.compile(fn, axis_resources=mapping, mesh=MESH)(*args)
    names_out = [names for _, names in ref_values[n_in:]]
    eager = [ref for ref, _ in ref_values[n_in:]]
    one_device = run_reference_jit(program, data, names_out) if {"compiled", "sharded"} & set(modes) else None
    # A sharded value matches jax.jit's under the same sharding, or jax.jit's on one device: XLA splits
    # some programs differently from jax.numpy's semantics (a max over devices drops NaN, which named
    # keeps), and simplifies others by how they are split (``convert(bool) * y``, see above).
    references = {"eager": [eager], "compiled": [one_device]}
    if "sharded" in modes:
        references["sharded"] = [run_reference_jit(program, data, names_out, mapping), one_device]
    # XLA may keep a bf16/f16 intermediate in f32 inside a fused program (excess precision), and does
    # so differently for differently split programs: a value computed from a low-precision one is
    # compared at that precision
    low = max([tolerance(NP_DTYPES[d]) for _, d, _ in program[0]] + [tolerance(r.dtype) for r in eager])
    for mode, outs in results.items():
        for k, (out, names) in enumerate(zip(outs, names_out)):
            where = f"{mode} value #{k} of {program}"
            failures = []
            for ref in references[mode]:
                try:
                    assert_same(out, ref[k], names, where, rtol=low if mode != "eager" else None)
                    break
                except AssertionError as e:
                    failures.append(e)
            else:
                raise failures[0]
    _count_checked()
    return len(results)


def _count_checked() -> None:
    """A line ``ok`` per program checked, in ``NAMED_FUZZ_LOG`` when set (a long campaign's progress)."""
    _log("ok")


def _log_started(program) -> None:
    """The program about to run, in ``NAMED_FUZZ_LOG`` (should the process die, the last one killed it)."""
    _log(f"run {program!r}")


def _log(line: str) -> None:
    log = os.environ.get("NAMED_FUZZ_LOG")
    if log:
        with open(log, "a") as f:
            f.write(line + "\n")


# --------------------------------------------------------------------------------------- gradients
GRAD_UNARY = ("negative", "exp", "sin", "tanh", "square")
GRAD_BINARY = ("add", "subtract", "multiply", "maximum", "divide")
GRAD_REDUCE = ("sum", "mean", "max", "prod", "var", "logsumexp")
GRAD_SCANS = ("cumsum", "cumprod", "softmax")


def draw_grad_program(draw, st):
    """A float program of differentiable ops (elementwise, reductions, scans, dot) ending in a sum
    (for named.grad vs jax.grad)."""
    names = tuple(draw(st.lists(st.sampled_from(sorted(SIZES)), unique=True, min_size=1, max_size=3)))
    other = tuple(draw(st.lists(st.sampled_from(sorted(SIZES)), unique=True, max_size=3)))
    steps = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(("unary", "binary", "binary", "reduce", "scan", "dot")))
        i, j = draw(st.integers(0, 100)), draw(st.integers(0, 100))
        if kind == "unary":
            steps.append(("unary", draw(st.sampled_from(GRAD_UNARY)), i))
        elif kind == "binary":
            steps.append(("binary", draw(st.sampled_from(GRAD_BINARY)), i, j))
        elif kind == "reduce":
            steps.append(("reduce", draw(st.sampled_from(GRAD_REDUCE)), i, draw(st.integers(0, 3))))
        elif kind == "scan":
            steps.append(("scan", draw(st.sampled_from(GRAD_SCANS)), i, draw(st.integers(0, 2))))
        else:
            steps.append(("dot", i, j, draw(st.integers(0, 2))))
    return (((names, "f32", draw(st.integers(0, 2 ** 31 - 1))), (other, "f32", draw(st.integers(0, 2 ** 31 - 1)))),
            steps)


def check_gradient(program, mode: str):
    """named.grad of the program's sum (``mode``: eager, compiled or sharded) against jax.grad."""
    rng = np.random.default_rng(0)
    inputs, steps = program[:2]
    # One program in three draws its data from {0.5, 1, 1.5}: ties for maximum, max and sort, where
    # the gradient's rule (split evenly, as jax) matters; random data almost never ties.
    ties = inputs[0][2] % 3 == 0
    data = [np.asarray(rng.choice([0.5, 1.0, 1.5], tuple(SIZES[n] for n in names)) if ties else
                       rng.uniform(0.5, 1.5, tuple(SIZES[n] for n in names)), np.float32)
            for names, _, _ in inputs]
    plan = run_reference(program, data)[1]  # the steps valid for these axes (the others are left out)

    def ref_loss(x0, x1):
        values, _ = run_reference(program, [x0, x1])
        return jnp.sum(values[-1][0])

    def named_loss(x0, x1):
        return named.sum(run_named(program, [x0, x1], plan)[-1])

    expected = jax.grad(ref_loss, argnums=(0, 1))(*[jnp.asarray(d) for d in data])
    args = [named.named(jnp.asarray(d), names) for d, (names, _, _) in zip(data, inputs)]
    grad_fn = named.grad(named_loss, argnums=(0, 1))
    if mode == "eager":
        got = grad_fn(*args)
    elif mode == "compiled":
        got = named.compile(grad_fn)(*args)
    else:
        got = named.compile(grad_fn, axis_resources=MAPPINGS[0], mesh=MESH)(*args)
    for g, e, (names, _, _) in zip(got, expected, inputs):
        assert_same(g, e, names, f"gradient of {program}")
    _count_checked()
