"""VJP rules for slicing, indexing, structure, axis-wise and random ops.

The transposes pair up: a slice's cotangent is a pad, a gather's is a scatter-add, a dynamic slice's
is a dynamic update of zeros, a concatenation's is a slice per operand. ``sort`` and ``top_k`` send
each cotangent back to the position its value came from, as do cumulative maxima and minima;
cumulative products are exact with zeros. Without a rule (a GradientError if differentiated, as in
jax where noted): scatters that multiply, take the min or the max; ``bitcast_convert`` (jax has none
either).
"""

from __future__ import annotations

from named.dialect import (OPS, ArgSort, Concatenate, Cumulative, DynamicSlice, DynamicUpdateSlice, Full, Gather,
                           Iota, Pad, Reverse, Scatter, Slice, Sort, TensorType, TopK)

from .autodiff import GradientError, VJPContext, register_vjp, zero_rule

# Ops that make values from attributes alone, and ops whose every operand is an integer (random keys,
# positions): no cotangent ever reaches them, but an explicit zero rule documents it.
for _cls in (Full, Iota, OPS["named.constant"], ArgSort, OPS.get("named.random_bits"),
             OPS.get("named.random_split"), OPS.get("named.random_fold_in")):
    if _cls is not None:
        register_vjp(_cls, zero_rule)


# -------------------------------------------------------------------------------------------- slices
@register_vjp(Slice)
def _slice(ctx: VJPContext, g):
    (x,) = ctx.operands
    attrs = ctx.attrs
    if any(a.size == 0 for a in g.type.axes):
        return [ctx.zeros(x.type)]
    highs = []
    for name, start, stride in zip(attrs["axes"], attrs["start"], attrs["stride"]):
        n = g.type.axis(name).size
        highs.append(x.type.axis(name).size - (start + (n - 1) * stride + 1))
    pad = {"axes": attrs["axes"], "low": attrs["start"], "high": tuple(highs),
           "interior": tuple(s - 1 for s in attrs["stride"])}
    return [ctx.emit1(Pad, (g, ctx.scalar(0, g.type.dtype)), pad)]


@register_vjp(DynamicSlice)
def _dynamic_slice(ctx: VJPContext, g):
    x, *starts = ctx.operands
    mode = "clip" if ctx.attrs["mode"] == "clip" else "drop"  # reads of zeros outside: writes dropped there
    ct = ctx.emit1(DynamicUpdateSlice, (ctx.zeros(x.type), g, *starts), {"axes": ctx.attrs["axes"], "mode": mode})
    return [ct] + [None] * len(starts)


@register_vjp(DynamicUpdateSlice)
def _dynamic_update_slice(ctx: VJPContext, g):
    x, update, *starts = ctx.operands
    names, mode = ctx.attrs["axes"], ctx.attrs["mode"]
    ct_x = ctx.emit1(DynamicUpdateSlice, (g, ctx.zeros(update.type), *starts), {"axes": names, "mode": mode})
    sizes = tuple(update.type.axis(n).size for n in names)
    ct_update = ctx.emit1(DynamicSlice, (g, *starts),
                          {"axes": names, "sizes": sizes, "mode": "clip" if mode == "clip" else "fill"})
    return [ct_x, ct_update] + [None] * len(starts)


@register_vjp(Pad)
def _pad(ctx: VJPContext, g):
    # jax's transpose of pad: un-pad (a pad by the negated edges), then take every (interior+1)-th.
    x, value = ctx.operands
    attrs = ctx.attrs
    unpadded = ctx.emit1(Pad, (g, ctx.scalar(0, g.type.dtype)),
                         {"axes": attrs["axes"], "low": tuple(-v for v in attrs["low"]),
                          "high": tuple(-v for v in attrs["high"]), "interior": (0,) * len(attrs["axes"])})
    if any(attrs["interior"]):
        limits = tuple(unpadded.type.axis(n).size for n in attrs["axes"])
        unpadded = ctx.emit1(Slice, (unpadded,), {"axes": attrs["axes"], "start": (0,) * len(limits),
                                                  "limit": limits, "stride": tuple(i + 1 for i in attrs["interior"])})
    everything = lambda v: ctx.reduce_sum(v, v.type.names)  # noqa: E731
    return [unpadded, ctx.sub(everything(g), everything(unpadded))]


@register_vjp(Concatenate)
def _concatenate(ctx: VJPContext, g):
    axis = ctx.attrs["axis"]
    out, offset = [], 0
    for x in ctx.operands:
        n = x.type.axis(axis).size
        out.append(ctx.emit1(Slice, (g,), {"axes": (axis,), "start": (offset,), "limit": (offset + n,),
                                           "stride": (1,)}))
        offset += n
    return out


@register_vjp(Reverse)
def _reverse(ctx: VJPContext, g):
    return [ctx.emit1(Reverse, (g,), ctx.attrs)]


# ---------------------------------------------------------------------------------- gather/scatter
def _scatter_mode(gather_mode: str) -> str:
    return "clip" if gather_mode == "clip" else "drop"


def _gather_mode(scatter_mode: str) -> str:
    return "clip" if scatter_mode == "clip" else "fill"


@register_vjp(Gather)
def _gather(ctx: VJPContext, g):
    x, *indices = ctx.operands
    attrs = {"axes": ctx.attrs["axes"], "combine": "add", "mode": _scatter_mode(ctx.attrs["mode"])}
    return [ctx.emit1(Scatter, (ctx.zeros(x.type), g, *indices), attrs)] + [None] * len(indices)


@register_vjp(Scatter)
def _scatter(ctx: VJPContext, g):
    x, updates, *indices = ctx.operands
    names, combine, mode = ctx.attrs["axes"], ctx.attrs["combine"], ctx.attrs["mode"]
    read = {"axes": names, "mode": _gather_mode(mode)}
    if combine == "add":
        picked = ctx.emit1(Gather, (g, *indices), read)
        return [g, ctx.sum_to(picked, updates.type)] + [None] * len(indices)
    if combine != "set":
        raise GradientError(f"named.scatter with combine = {combine!r} has no gradient rule (only 'add' and "
                            f"'set' do)", loc=ctx.source.loc)
    # As jax does for non-unique indices: scatter a distinct id per update element; an element
    # gets the cotangent only where its id survived, and x only where nothing was written.
    (window,) = Gather.type_rule((x.type.unsharded(), *(i.type.unsharded() for i in indices)), read)
    ids = _element_ids(ctx, window)
    written = ctx.emit1(Scatter, (ctx.zeros(TensorType("i32", x.type.axes)), ids, *indices),
                        {"axes": names, "combine": "set", "mode": mode})
    survived = ctx.compare(ctx.emit1(Gather, (written, *indices), read), ids, "EQ")
    zero = ctx.scalar(0, g.type.dtype)
    ct_updates = ctx.select(survived, ctx.emit1(Gather, (g, *indices), read), zero)
    ct_x = ctx.select(ctx.compare(written, ctx.scalar(0, "i32"), "EQ"), g, zero)
    return [ct_x, ctx.sum_to(ct_updates, updates.type)] + [None] * len(indices)


def _element_ids(ctx: VJPContext, t: TensorType):
    """1, 2, 3, ... over the elements of ``t`` (row-major), as i32."""
    ids, stride = ctx.scalar(1, "i32"), 1
    for a in reversed(t.axes):
        iota = ctx.emit1(Iota, (), {"axes": t.axes, "dimension": a.name, "dtype": "i32"})
        ids = ctx.add(ids, ctx.mul(iota, ctx.scalar(stride, "i32")) if stride != 1 else iota)
        stride *= a.size
    return ctx.broadcast(ids, TensorType("i32", t.axes))


# ---------------------------------------------------------------------------------------- axis-wise
@register_vjp(Cumulative)
def _cumulative(ctx: VJPContext, g):
    kind = ctx.attrs["kind"]
    if kind == "sum":
        return [_cum(ctx, g, "sum", not ctx.attrs["reverse"])]
    if kind == "prod":
        return [_cumprod_vjp(ctx, g)]
    return [_cumextreme_vjp(ctx, g)]


def _cum(ctx: VJPContext, x, kind: str, reverse: bool):
    return ctx.emit1(Cumulative, (x,), {"axis": ctx.attrs["axis"], "kind": kind, "reverse": reverse})


def _cumprod_vjp(ctx: VJPContext, g):
    """Exact with zeros (as jax, which differentiates a prefix scan): with ``z`` the first zero along
    the scan, ``dy[i]/dx[j]`` is ``y[i] / x[j]`` before ``z``; at ``z`` it is the running product with
    ``x[z]`` taken as 1; after ``z`` it is 0."""
    (x,) = ctx.operands
    (y,) = ctx.results
    reverse = ctx.attrs["reverse"]
    back = not reverse  # cotangents flow from later positions of the scan to earlier ones
    dtype = x.type.dtype
    zero, one = ctx.scalar(0, dtype), ctx.scalar(1, dtype)
    is_zero = ctx.compare(x, zero, "EQ")
    zeros_so_far = _cum(ctx, ctx.convert(is_zero, "i32"), "sum", reverse)  # inclusive count
    before = ctx.compare(zeros_so_far, ctx.scalar(0, "i32"), "EQ")
    first = ctx.emit1(OPS["named.and"], (is_zero, ctx.compare(zeros_so_far, ctx.scalar(1, "i32"), "EQ")))
    safe_x = ctx.select(is_zero, ctx.broadcast(one, x.type), x)
    ct_before = ctx.div(_cum(ctx, ctx.mul(g, y), "sum", back), safe_x)
    y_skip = _cum(ctx, ctx.select(first, ctx.broadcast(one, x.type), x), "prod", reverse)
    ct_first = _cum(ctx, ctx.mul(g, y_skip), "sum", back)
    return ctx.select(before, ct_before, ctx.select(first, ct_first, ctx.broadcast(zero, x.type)))


def _cumextreme_vjp(ctx: VJPContext, g):
    """Each cotangent goes to the position holding the running maximum (minimum) there: the latest
    position at which the running value was reached (jax splits exact ties between equal values by
    the shape of its prefix scan; without ties the two agree)."""
    (x,) = ctx.operands
    (y,) = ctx.results
    axis, reverse = ctx.attrs["axis"], ctx.attrs["reverse"]
    t = x.type
    position = ctx.broadcast(ctx.emit1(Iota, (), {"axes": (t.axis(axis),), "dimension": axis, "dtype": "i32"}),
                             TensorType("i32", t.axes))
    reached = ctx.compare(x, y, "EQ")
    # the latest such position so far in scan order: a running max of positions (min when reversed)
    none = ctx.scalar(-1 if not reverse else t.axis(axis).size, "i32")
    owner = _cum(ctx, ctx.select(reached, position, ctx.broadcast(none, position.type)),
                 "max" if not reverse else "min", reverse)
    return _send_back(ctx, x, g, owner, axis)


def _send_back(ctx: VJPContext, x, g, positions, axis: str):
    """Scatter-add ``g`` into zeros shaped like ``x`` at ``positions`` along ``axis``."""
    return ctx.emit1(Scatter, (ctx.zeros(x.type), g, positions), {"axes": (axis,), "combine": "add", "mode": "clip"})


@register_vjp(Sort)
def _sort(ctx: VJPContext, g):
    (x,) = ctx.operands
    attrs = ctx.attrs
    order = ctx.emit1(ArgSort, (x,), {"axis": attrs["axis"], "descending": attrs["descending"], "stable": True,
                                      "index_dtype": "i32"})
    return [_send_back(ctx, x, g, order, attrs["axis"])]


@register_vjp(TopK)
def _top_k(ctx: VJPContext, g_values, g_indices):
    (x,) = ctx.operands
    if g_values is None:
        return [None]
    return [_send_back(ctx, x, g_values, ctx.results[1], ctx.attrs["axis"])]


# ------------------------------------------------------------------------------------------ random
def _random_uniform(ctx: VJPContext, g):
    # samples = minval + u * (maxval - minval), u in [0, 1) drawn from the key
    key, low, high = ctx.operands
    y = ctx.results[0]
    span = ctx.sub(high, low)
    u = ctx.div(ctx.sub(y, low), ctx.select(ctx.compare(span, ctx.scalar(0, span.type.dtype), "EQ"),
                                            ctx.scalar(1, span.type.dtype), span))
    one = ctx.scalar(1, u.type.dtype)
    return [None, ctx.sum_to(ctx.mul(g, ctx.sub(one, u)), low.type), ctx.sum_to(ctx.mul(g, u), high.type)]


if "named.random_uniform" in OPS:
    register_vjp(OPS["named.random_uniform"], _random_uniform)

