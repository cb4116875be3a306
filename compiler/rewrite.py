"""Helpers for passes that build a new function from an old one."""

from __future__ import annotations

from typing import Callable

from named.dialect import Block, Function, Op, TensorType, Value


def clone_block(block: Block, env: dict[int, Value], retype: Callable[[TensorType], TensorType] | None = None) -> Block:
    """A copy of ``block`` whose values are new; ``env`` maps old value ids to new values (filled in)."""
    new = Block()
    for a in block.args:
        v = Value(retype(a.type) if retype else a.type)
        env[id(a)] = v
        new.args.append(v)
    for op in block.ops:
        new.ops.append(clone_op(op, env, retype))
    new.results = [env[id(r)] for r in block.results]
    return new


def clone_op(op: Op, env: dict[int, Value], retype=None) -> Op:
    regions = [clone_block(r, env, retype) for r in op.regions]
    types = [retype(r.type) if retype else r.type for r in op.results]
    new = type(op)([env[id(v)] for v in op.operands], op.attrs, types, regions, op.loc)
    for old, fresh in zip(op.results, new.results):
        env[id(old)] = fresh
    return new


def clone_function(fn: Function, retype: Callable[[TensorType], TensorType] | None = None, *,
                   mesh="same") -> Function:
    """A deep copy of ``fn`` (optionally mapping every type through ``retype``)."""
    body = clone_block(fn.body, {}, retype)
    return Function(fn.name, body, fn.mesh if mesh == "same" else mesh)
