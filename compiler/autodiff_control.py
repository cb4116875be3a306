"""VJP rules for control flow: ``named.scan``, ``named.cond`` (and why ``named.while`` has none).

scan: one step's forward and backward pass are written out together (:func:`vjp_block` on the body)
and split where the backward begins. The forward scan runs the forward half and also stacks, step by
step, every value the backward half reads from it (its residuals), as ``jax.lax.scan`` does; the
backward pass is a scan in the opposite direction running the backward half on one slice of each
residual. Loop-invariant residuals (made from the consts alone) are recomputed instead of stacked.
So a plain scan saves everything its backward pass needs; a body wrapped in ``named.checkpoint``
(``named.scan(..., remat=...)``) makes its residuals just the checkpoint's inputs (the carry) plus
what the policy saves, and the backward step recomputes the rest. The backward scan carries the
cotangent of the carry and accumulates the cotangents of the loop-invariant operands; the
cotangents of the scanned operands come out stacked.

cond: the backward pass is a cond on the same predicate whose branches re-run the chosen branch
and apply its VJP.
"""

from __future__ import annotations

from named.dialect import Block, Cond, Rename, Scan, TensorType, Value, While

from .autodiff import (FORWARD_RULES, GradientError, VJPContext, clone_into, differentiable, register_vjp,
                       vjp_block)
from .tracer import Builder


def _types(values) -> list[TensorType]:
    return [v.type.unsharded() for v in values]


def _history_name(axis_name: str, t: TensorType) -> str:
    # A residual that itself has the scanned axis is stacked under a fresh name for that axis.
    name = axis_name + "__step"
    while t.axis(name) is not None:
        name += "_"
    return name


class _Split:
    """One scan step's backward half, ready to be emitted as the backward scan's body."""

    __slots__ = ("block", "n_res")

    def __init__(self, block: Block, n_res: int):
        self.block = block
        self.n_res = n_res


def _scan_forward(ctx: VJPContext, operands):
    src = ctx.source
    attrs = src.attrs
    axis, n_c, n_k = attrs["axis"], attrs["num_consts"], attrs["num_carry"]
    body = src.regions[0]
    arg_t, y_t = _types(body.args), _types(body.results[n_k:])
    const_t, carry_t, slice_t = arg_t[:n_c], arg_t[n_c:n_c + n_k], arg_t[n_c + n_k:]
    fc = [i for i, t in enumerate(const_t) if differentiable(t)]
    fk = [i for i, t in enumerate(carry_t) if differentiable(t)]
    fx = [i for i, t in enumerate(slice_t) if differentiable(t)]
    fy = [i for i, t in enumerate(y_t) if differentiable(t)]

    # One step, forward then backward, in one block.
    jb = Builder()
    args = [jb.add_arg(t) for t in arg_t]
    seeds_k = [jb.add_arg(carry_t[i]) for i in fk]
    seeds_y = [jb.add_arg(y_t[j]) for j in fy]
    seeds: list = [None] * len(body.results)
    for i, v in zip(fk, seeds_k):
        seeds[i] = v
    for j, v in zip(fy, seeds_y):
        seeds[n_k + j] = v
    split: list[int] = []
    outs, arg_cts = vjp_block(jb, body, args, seeds, split=split)
    fwd_ops, bwd_ops = jb.block.ops[:split[0]], jb.block.ops[split[0]:]

    # Which forward values the backward half reads, and how it gets each.
    const_ids = {id(a) for a in args[:n_c]}
    slice_ids = {id(a) for a in args[n_c + n_k:]}
    made_by = {id(r): op for op in fwd_ops for r in op.results}
    invariant: set[int] = set(const_ids)
    for op in fwd_ops:
        if not op.regions and type(op) not in FORWARD_RULES and all(id(v) in invariant for v in op.operands):
            invariant.update(id(r) for r in op.results)
    bwd_defined = {id(a) for a in seeds_k + seeds_y} | {id(r) for op in bwd_ops for r in op.results}
    residuals: dict[int, Value] = {}
    needed = [v for op in bwd_ops for v in op.operands] + [c for c in arg_cts if c is not None]
    for v in needed:
        if id(v) in bwd_defined or id(v) in invariant or id(v) in slice_ids:
            continue
        if id(v) in made_by or any(v is a for a in args[n_c:n_c + n_k]):
            residuals.setdefault(id(v), v)
    residuals_l = list(residuals.values())

    # The forward scan: the forward half, yielding the body's results then the residuals.
    fb = Builder()
    env = {id(a): fb.add_arg(a.type) for a in args}
    for op in fwd_ops:
        clone_into(fb, op, env)
    stacked = []
    for v in residuals_l:
        r = env[id(v)]
        if r.type.axis(axis.name) is not None:
            mapping = ((axis.name, _history_name(axis.name, r.type)),)
            r = fb.emit(Rename, (r,), {"mapping": mapping}, loc=src.loc)[0]
        stacked.append(r)
    fb.block.results = [env.get(id(o), o) for o in outs] + stacked
    results = ctx.emit(Scan, operands, attrs, [fb.block])
    ctx.op = ctx.builder.block.ops[-1]

    # The backward step: consts, carry cotangents, const accumulators, residual slices, scanned
    # slices, output cotangents.
    bb = Builder()
    step = VJPContext(bb, None, src)
    env = {}
    for a in args[:n_c]:
        env[id(a)] = bb.add_arg(a.type)
    for s in seeds_k:
        env[id(s)] = bb.add_arg(s.type)
    acc = [bb.add_arg(const_t[i]) for i in fc]
    for v, r in zip(residuals_l, stacked):
        arg = bb.add_arg(r.type)
        if arg.type.names != v.type.unsharded().names:  # renamed for stacking; name it back
            mapping = tuple((a, b) for a, b in zip(arg.type.names, v.type.unsharded().names) if a != b)
            arg = step.emit1(Rename, (arg,), {"mapping": mapping})
        env[id(v)] = arg
    for a in args[n_c + n_k:]:
        env[id(a)] = bb.add_arg(a.type)
    for s in seeds_y:
        env[id(s)] = bb.add_arg(s.type)

    def recompute(v: Value) -> None:  # a loop-invariant value, rebuilt from the consts
        if id(v) in env:
            return
        op = made_by[id(v)]
        for w in op.operands:
            recompute(w)
        clone_into(bb, op, env)

    for v in needed:
        if id(v) in invariant:
            recompute(v)
    for op in bwd_ops:
        clone_into(bb, op, env)
    ct_c, ct_k, ct_x = arg_cts[:n_c], arg_cts[n_c:n_c + n_k], arg_cts[n_c + n_k:]
    look = lambda v: env.get(id(v), v)  # noqa: E731
    bb.block.results = (
        [look(ct_k[i]) if ct_k[i] is not None else step.zeros(carry_t[i]) for i in fk]
        + [step.add(a, look(ct_c[i])) if ct_c[i] is not None else a for a, i in zip(acc, fc)]
        + [look(ct_x[i]) if ct_x[i] is not None else step.zeros(slice_t[i]) for i in fx])
    n_out = len(src.results)
    return results[:n_out], (_Split(bb.block, len(stacked)), list(results[n_out:]))


def _scan_vjp(ctx: VJPContext, *cts):
    src = ctx.source
    attrs = src.attrs
    axis, n_c, n_k = attrs["axis"], attrs["num_consts"], attrs["num_carry"]
    body = src.regions[0]
    operands = list(ctx.operands)
    consts, xs = operands[:n_c], operands[n_c + n_k:]
    split, stacked = ctx.residuals
    const_t, carry_t = _types(body.args[:n_c]), _types(body.args[n_c:n_c + n_k])
    slice_t, y_t = _types(body.args[n_c + n_k:]), _types(body.results[n_k:])
    fc = [i for i, t in enumerate(const_t) if differentiable(t)]
    fk = [i for i, t in enumerate(carry_t) if differentiable(t)]
    fx = [i for i, t in enumerate(slice_t) if differentiable(t)]
    fy = [i for i, t in enumerate(y_t) if differentiable(t)]

    ct_final, ct_ys = cts[:n_k], cts[n_k:]
    y_stacked = _types(src.results[n_k:])
    bwd_operands = (consts
                    + [ct_final[i] if ct_final[i] is not None else ctx.zeros(carry_t[i]) for i in fk]
                    + [ctx.zeros(const_t[i]) for i in fc]
                    + stacked + xs
                    + [ct_ys[j] if ct_ys[j] is not None else ctx.zeros(y_stacked[j]) for j in fy])
    bwd_attrs = {"axis": axis, "num_consts": n_c, "num_carry": len(fk) + len(fc), "reverse": not attrs["reverse"]}
    results = ctx.emit(Scan, bwd_operands, bwd_attrs, [split.block])
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
