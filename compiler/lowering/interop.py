"""Lowering of ``named.call_jax``: the carried StableHLO becomes private functions of the module
being built, and the op a ``func.call`` of its ``@main``.

Embedded symbols are named after the callee and a hash of the module text, so two call sites of one
jax function share one copy and different functions never clash. Operand shardings reach the
embedded code through the call: the partitioned operands are pinned by ``sdy.sharding_constraint``
at the call site and Shardy propagates them into the callee (and honours any ``sdy.manual_computation``
the function carries, e.g. from ``jax.shard_map``).
"""

from __future__ import annotations

import hashlib
import re

from named.dialect import CallJax, VerifyError

from .mlir import EmbedError, call_function, embed_module, function_signature
from .registry import LoweringContext, register_lowering


def embedded_prefix(callee: str, module: str) -> str:
    """The symbol prefix of an embedded module: ``calljax_{callee}_{hash}`` (a valid identifier)."""
    readable = re.sub(r"[^A-Za-z0-9_]", "_", callee)[:40]
    digest = hashlib.sha1(module.encode()).hexdigest()[:12]
    return f"calljax_{readable}_{digest}"


@register_lowering(CallJax)
def _call_jax(ctx: LoweringContext, *operands):
    attrs = ctx.op.attrs
    try:
        main = embed_module(attrs["module"], embedded_prefix(attrs["callee"], attrs["module"]))
    except EmbedError as e:
        raise VerifyError(f"named.call_jax ({attrs['callee']}): {e}", loc=ctx.op.loc) from None
    ins, outs = function_signature(main)
    want_ins = [ctx.ir_type(t) for t in ctx.in_types]
    want_outs = [ctx.ir_type(t) for t in ctx.out_types]
    if ins != want_ins or outs != want_outs:
        def show(types):
            return "(" + ", ".join(map(str, types)) + ")"
        raise VerifyError(f"named.call_jax ({attrs['callee']}): the carried module's @main has the signature "
                          f"{show(ins)} -> {show(outs)}, but the op's types need {show(want_ins)} -> "
                          f"{show(want_outs)}", loc=ctx.op.loc)
    return call_function(main, operands)
