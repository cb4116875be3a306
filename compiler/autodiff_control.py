"""VJP rules for control flow: ``named.scan``, ``named.cond`` (and why ``named.while`` has none).

scan: the forward scan also stacks the carry each step starts from (a forward rule adds those
outputs); the backward pass is a scan in the opposite direction whose body re-runs one forward step
from the saved carry and applies that step's VJP (rematerialization, as ``jax.checkpoint`` on the
body would). It carries the cotangent of the carry and accumulates the cotangents of the
loop-invariant operands; the cotangents of the scanned operands come out stacked.

cond: the backward pass is a cond on the same predicate whose branches re-run the chosen branch
and apply its VJP.
"""

from __future__ import annotations

from named.dialect import Block, Cond, Rename, Scan, TensorType, While

from .autodiff import GradientError, VJPContext, copy_region, differentiable, register_vjp, vjp_block
from .tracer import Builder


def _types(values) -> list[TensorType]:
    return [v.type.unsharded() for v in values]


def _history_name(axis_name: str, t: TensorType) -> str:
    # A carry that itself has the scanned axis is stacked under a fresh name for that axis.
    name = axis_name + "__step"
    while t.axis(name) is not None:
        name += "_"
    return name


def _scan_forward(ctx: VJPContext, operands):
    src = ctx.source
    n_c, n_k = src.attrs["num_consts"], src.attrs["num_carry"]
    axis = src.attrs["axis"]
    body = copy_region(src.regions[0])
    builder = Builder()
    builder.block = body
    saved = []
    for arg in body.args[n_c:n_c + n_k]:
        if arg.type.axis(axis.name) is not None:
            mapping = ((axis.name, _history_name(axis.name, arg.type)),)
            arg = builder.emit(Rename, (arg,), {"mapping": mapping}, loc=src.loc)[0]
        saved.append(arg)
    body.results = body.results + saved
    results = ctx.emit(Scan, operands, src.attrs, [body])
    ctx.op = ctx.builder.block.ops[-1]
    n_out = len(src.results)
    return results[:n_out], results[n_out:]


def _scan_vjp(ctx: VJPContext, *cts):
    src = ctx.source
    attrs = src.attrs
    axis, n_c, n_k = attrs["axis"], attrs["num_consts"], attrs["num_carry"]
    body = src.regions[0]
    operands = list(ctx.operands)
    consts, init, xs = operands[:n_c], operands[n_c:n_c + n_k], operands[n_c + n_k:]
    history = list(ctx.residuals)
    const_t, carry_t = _types(consts), _types(init)
    slice_t, y_t = _types(body.args[n_c + n_k:]), _types(body.results[n_k:])
    fc = [i for i, t in enumerate(const_t) if differentiable(t)]
    fk = [i for i, t in enumerate(carry_t) if differentiable(t)]
    fx = [i for i, t in enumerate(slice_t) if differentiable(t)]
    fy = [i for i, t in enumerate(y_t) if differentiable(t)]

    bb = Builder()
    step = VJPContext(bb, None, src)
    c_args = [bb.add_arg(t) for t in const_t]
    ct_carry = [bb.add_arg(carry_t[i]) for i in fk]
    acc = [bb.add_arg(const_t[i]) for i in fc]
    saved = [bb.add_arg(TensorType(h.type.dtype, h.type.unsharded().axes[1:])) for h in history]
    x_args = [bb.add_arg(t) for t in slice_t]
    ct_y = [bb.add_arg(y_t[i]) for i in fy]
    carry_in = []
    for s, t in zip(saved, carry_t):
        if s.type.names != t.names:  # renamed for stacking; name it back
            mapping = tuple((a, b) for a, b in zip(s.type.names, t.names) if a != b)
            s = step.emit1(Rename, (s,), {"mapping": mapping})
        carry_in.append(s)
    seeds = [None] * len(body.results)
    for i, v in zip(fk, ct_carry):
        seeds[i] = v
    for j, v in zip(fy, ct_y):
        seeds[n_k + j] = v
    _, arg_cts = vjp_block(bb, body, c_args + carry_in + x_args, seeds)
    ct_c, ct_k, ct_x = arg_cts[:n_c], arg_cts[n_c:n_c + n_k], arg_cts[n_c + n_k:]
    bb.block.results = (
        [ct_k[i] if ct_k[i] is not None else step.zeros(carry_t[i]) for i in fk]
        + [step.add(a, ct_c[i]) if ct_c[i] is not None else a for a, i in zip(acc, fc)]
        + [ct_x[i] if ct_x[i] is not None else step.zeros(slice_t[i]) for i in fx])

    ct_final, ct_ys = cts[:n_k], cts[n_k:]
    y_stacked = _types(src.results[n_k:])
    bwd_operands = (consts
                    + [ct_final[i] if ct_final[i] is not None else ctx.zeros(carry_t[i]) for i in fk]
                    + [ctx.zeros(const_t[i]) for i in fc]
                    + history + xs
                    + [ct_ys[j] if ct_ys[j] is not None else ctx.zeros(y_stacked[j]) for j in fy])
    bwd_attrs = {"axis": axis, "num_consts": n_c, "num_carry": len(fk) + len(fc), "reverse": not attrs["reverse"]}
    results = ctx.emit(Scan, bwd_operands, bwd_attrs, [bb.block])
    out: list = [None] * len(operands)
    for i, v in zip(fk, results[:len(fk)]):
        out[n_c + i] = v
    for i, v in zip(fc, results[len(fk):len(fk) + len(fc)]):
        out[i] = v
    for i, v in zip(fx, results[len(fk) + len(fc):]):
        out[n_c + n_k + i] = v
    return out


register_vjp(Scan, _scan_vjp, forward=_scan_forward)


@register_vjp(Cond)
def _cond_vjp(ctx: VJPContext, *cts):
    src = ctx.source
    pred, *operands = ctx.operands
    op_t, res_t = _types(operands), _types(src.results)
    fo = [i for i, t in enumerate(op_t) if differentiable(t)]
    fr = [i for i, t in enumerate(res_t) if differentiable(t)]
    if not fo:
        return [None] * (len(operands) + 1)
    regions: list[Block] = []
    for branch in src.regions:
        bb = Builder()
        step = VJPContext(bb, None, src)
        args = [bb.add_arg(t) for t in op_t]
        seeds = [None] * len(res_t)
        for i in fr:
            seeds[i] = bb.add_arg(res_t[i])
        _, arg_cts = vjp_block(bb, branch, args, seeds)
        bb.block.results = [arg_cts[i] if arg_cts[i] is not None else step.zeros(op_t[i]) for i in fo]
        regions.append(bb.block)
    seeds = [cts[i] if cts[i] is not None else ctx.zeros(res_t[i]) for i in fr]
    results = ctx.emit(Cond, [pred, *operands, *seeds], {}, regions)
    out: list = [None] * (len(operands) + 1)
    for i, v in zip(fo, results):
        out[1 + i] = v
    return out


@register_vjp(While)
def _while_vjp(ctx: VJPContext, *cts):
    raise GradientError("named.while cannot be differentiated in reverse mode: its trip count is known only "
                        "at run time; loop with named.scan or named.fold over a fixed axis instead",
                        loc=ctx.source.loc)
