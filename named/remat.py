"""Rematerialization (gradient checkpointing): :func:`checkpoint` (alias :func:`remat`), the save
policies in :data:`checkpoint_policies`, :func:`checkpoint_name` / :func:`tree_checkpoint_name`, and
:class:`ScanCheckpointPolicy` for ``named.scan(..., remat=...)``.

``checkpoint(fn, policy=...)`` traces ``fn`` into one ``named.checkpoint`` region. The forward pass
runs it as written; reverse-mode autodiff keeps only the values the policy allows and recomputes the
rest in the backward pass, behind an optimization barrier so XLA cannot merge the recomputation
back into the forward pass (as ``jax.checkpoint`` does). Gradients are unchanged; memory drops.

Scans save, by default, everything their backward pass needs (``remat=False``, as in haliax and
``jax.lax.scan``). ``remat=True`` (or ``"full"``) saves only each step's carry and recomputes the
step's internals; ``"nested"`` saves the carry every sqrt(N) steps and recomputes whole blocks.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
from typing import Callable, Sequence

import jax

from named.compiler import current_builder, tracing, user_location
from named.dialect import (Axis, Checkpoint, CheckpointName, NamedError, SavePolicy, VerifyError,
                           parse_policy)

from .autodiff import run_staged
from .core import NamedArray, _value_of, as_named, bind1
from .control import _close_region, _closed, _fit, _flatten, _open_region, _wrap

__all__ = ["checkpoint", "remat", "checkpoint_name", "tree_checkpoint_name", "checkpoint_policies",
           "ScanCheckpointPolicy"]


# ------------------------------------------------------------------------------------------ policies
def _policy_namespace() -> types.SimpleNamespace:
    simple = {n: parse_policy(n) for n in ("nothing_saveable", "everything_saveable", "dots_saveable",
                                            "checkpoint_dots", "dots_with_no_batch_dims_saveable",
                                            "checkpoint_dots_with_no_batch_dims")}

    def save_only_these_names(*names: str) -> SavePolicy:
        """Save exactly the values tagged with one of ``names`` by :func:`checkpoint_name`."""
        return parse_policy(f"save_only_these_names({', '.join(names)})")

    def save_any_names_but_these(*names: str) -> SavePolicy:
        """Save every tagged value except those tagged with one of ``names``."""
        return parse_policy(f"save_any_names_but_these({', '.join(names)})")

    def save_anything_except_these_names(*names: str) -> SavePolicy:
        """Save everything except the values tagged with one of ``names``."""
        return parse_policy(f"save_anything_except_these_names({', '.join(names)})")

    return types.SimpleNamespace(**simple, save_only_these_names=save_only_these_names,
                                 save_any_names_but_these=save_any_names_but_these,
                                 save_anything_except_these_names=save_anything_except_these_names)


checkpoint_policies = _policy_namespace()
"""The save policies, with ``jax.checkpoint_policies``' names: ``nothing_saveable``,
``everything_saveable``, ``dots_saveable`` (= ``checkpoint_dots``), ``dots_with_no_batch_dims_saveable``,
and the functions ``save_only_these_names(*names)``, ``save_any_names_but_these(*names)``,
``save_anything_except_these_names(*names)``."""


def _jax_policy_name(policy) -> str | None:
    # jax's own simple policies are accepted by identity (their closures over names are not).
    jp = jax.checkpoint_policies
    for name in ("nothing_saveable", "everything_saveable", "dots_saveable", "checkpoint_dots",
                 "dots_with_no_batch_dims_saveable", "checkpoint_dots_with_no_batch_dims"):
        if getattr(jp, name, None) is policy:
            return name
    return None


def as_policy(policy) -> SavePolicy:
    """A :class:`SavePolicy` from one, from its text (``"dots_saveable"``), from one of jax's simple
    policies, or from None (save nothing, as ``jax.checkpoint``'s default). Unknown names raise
    ``named.VerifyError``.

    >>> str(as_policy("save_only_these_names(attn)"))
    'save_only_these_names(attn)'
    """
    if policy is None:
        return checkpoint_policies.nothing_saveable
    if isinstance(policy, SavePolicy):
        return policy
    name = _jax_policy_name(policy)
    if name is not None:
        return parse_policy(name)
    if isinstance(policy, str):
        try:
            return parse_policy(policy)
        except NamedError as e:
            raise e.with_location(user_location()) from None
    raise VerifyError(f"a checkpoint policy must be one of named.checkpoint_policies (or its name), got "
                      f"{policy!r}; custom jax policy functions cannot be read as named-IR predicates",
                      loc=user_location())


# ---------------------------------------------------------------------------------------- checkpoint
def checkpoint(fn: Callable | None = None, *, policy=None, prevent_cse: bool = True) -> Callable:
    """``fn`` with rematerialization: its gradient recomputes inside ``fn`` what ``policy`` does not save
    (``jax.checkpoint``; also usable as ``@named.checkpoint(policy=...)``).

    ``policy`` is one of :data:`checkpoint_policies` (or its name); the default saves nothing but
    ``fn``'s inputs. NamedArray leaves of the arguments are the region's inputs; other arguments are
    fixed at trace time. Results must be pytrees of NamedArrays and scalars.

    >>> import named
    >>> X, = named.make_axes(x=3)
    >>> f = named.checkpoint(lambda v: named.sin(named.sin(v)).sum(), policy="dots_saveable")
    >>> g = named.grad(f)(named.ones(X))
    >>> g.axes == (X,)
    True
    """
    if fn is None:
        return functools.partial(checkpoint, policy=policy, prevent_cse=prevent_cse)
    save = as_policy(policy)
    if not isinstance(prevent_cse, bool):
        raise TypeError(f"checkpoint: prevent_cse must be a bool, got {prevent_cse!r}")

    @functools.wraps(fn)
    def checkpointed(*args, **kwargs):
        if current_builder() is None:
            return run_staged(checkpointed, args, kwargs)
        return _trace_checkpoint(fn, save, prevent_cse, args, kwargs)

    return checkpointed


remat = checkpoint


def _trace_checkpoint(fn, policy: SavePolicy, prevent_cse: bool, args, kwargs):
    leaves, tree = _flatten((args, kwargs))
    dynamic = [i for i, leaf in enumerate(leaves) if isinstance(leaf, NamedArray)]
    sub, params = _open_region([leaves[i].type for i in dynamic])
    call_leaves = list(leaves)
    for i, p in zip(dynamic, params):
        call_leaves[i] = p
    call_args, call_kwargs = jax.tree_util.tree_unflatten(tree, call_leaves)
    with tracing(sub):
        out = fn(*call_args, **call_kwargs)
        out_leaves, out_tree = _flatten(out)
        results = []
        for x in out_leaves:
            if not isinstance(x, NamedArray):
                x = as_named(x)
            results.append(_fit(x, x.type, "checkpoint's result"))
    block = _close_region(sub, results)
    captured = _closed(block)
    builder = current_builder()
    operands = captured + [_value_of(builder, leaves[i]) for i in dynamic]
    attrs = {"policy": str(policy), "prevent_cse": prevent_cse}
    outs = [_wrap(v) for v in builder.emit(Checkpoint, operands, attrs, [block], loc=user_location())]
    return jax.tree_util.tree_unflatten(out_tree, outs)


def checkpoint_name(x, name: str):
    """``x``, tagged ``name`` for name-based policies (``jax.ad_checkpoint.checkpoint_name``). It is the
    identity; outside a traced program it returns ``x`` unchanged.

    >>> import named
    >>> X, = named.make_axes(x=2)
    >>> named.checkpoint_name(named.ones(X), "h").axes == (X,)
    True
    """
    if not isinstance(name, str):
        raise TypeError(f"checkpoint_name: the name must be a str, got {name!r}")
    if not isinstance(x, NamedArray) or current_builder() is None:
        return x
    return bind1(CheckpointName, (x,), {"name": name})


def tree_checkpoint_name(x, name: str):
    """:func:`checkpoint_name` on every NamedArray leaf of the pytree ``x`` (haliax's helper).

    >>> import named
    >>> X, = named.make_axes(x=2)
    >>> named.tree_checkpoint_name({"a": named.ones(X)}, "h")["a"].axes == (X,)
    True
    """
    return jax.tree_util.tree_map(lambda leaf: checkpoint_name(leaf, name), x,
                                  is_leaf=lambda leaf: isinstance(leaf, NamedArray))


# -------------------------------------------------------------------------------------- scan policies
@dataclasses.dataclass(frozen=True)
class ScanCheckpointPolicy:
    """What a scan's backward pass keeps from its forward pass (haliax's ``ScanCheckpointPolicy``).

    Each step's carry (and its scanned inputs) are always available to the backward pass.
    ``save_block_internals``: True keeps every value the step's backward needs (no recomputation),
    False recomputes the step from its carry, a list of names keeps just the values tagged with
    :func:`checkpoint_name`. ``nested`` (True: about sqrt(N); or an int) splits the scan into that
    many blocks and keeps only the carry at block boundaries, recomputing each block in the backward.
    ``simple`` checkpoints the whole step with ``nothing_saveable``. Build one from haliax's
    spellings with :meth:`from_bool_or_str`.

    >>> ScanCheckpointPolicy.from_bool_or_str("save_all").save_block_internals
    True
    """

    save_carries: bool = True
    save_inputs: bool = False
    save_block_internals: bool | Sequence[str] = False
    prevent_cse: bool = False
    simple: bool = False
    nested: bool | int = False

    @staticmethod
    def from_bool_or_str(remat_policy: "bool | str") -> "ScanCheckpointPolicy":
        """``True``/``"full"``/``"recompute"``: save carries only (recompute each step);
        ``False``/``"save_all"``: save everything; ``"nested"``: sqrt(N) blocks. Anything else (and
        ``"offload"``, which needs host memory spaces) raises ``named.VerifyError``."""
        if remat_policy is True:
            return ScanCheckpointPolicy(simple=True)
        if remat_policy is False or remat_policy == "save_all":
            return ScanCheckpointPolicy(save_carries=True, save_inputs=True, save_block_internals=True)
        if remat_policy in ("full", "recompute"):
            return ScanCheckpointPolicy()
        if remat_policy == "nested":
            return ScanCheckpointPolicy(nested=True)
        raise VerifyError(f"unknown scan remat policy {remat_policy!r}; use True, False, 'full', 'recompute', "
                          f"'save_all', 'nested', a ScanCheckpointPolicy or a named.checkpoint_policies "
                          f"policy ('offload' is not supported: it needs host memory spaces)",
                          loc=user_location())

    @staticmethod
    def _mk(remat_policy) -> "ScanCheckpointPolicy | SavePolicy":
        if isinstance(remat_policy, (ScanCheckpointPolicy, SavePolicy)):
            return remat_policy
        if isinstance(remat_policy, str) and remat_policy not in ("full", "recompute", "save_all", "nested",
                                                                  "offload"):
            return as_policy(remat_policy)
        if not isinstance(remat_policy, (bool, str)):
            name = _jax_policy_name(remat_policy)
            if name is not None:
                return parse_policy(name)
        return ScanCheckpointPolicy.from_bool_or_str(remat_policy)

    def save_policy(self) -> SavePolicy | None:
        """The policy one step is checkpointed with, or None when nothing is recomputed."""
        if self.simple:
            return checkpoint_policies.nothing_saveable
        if self.save_block_internals is True:
            return None
        if self.save_block_internals:
            return checkpoint_policies.save_only_these_names(*self.save_block_internals)
        return checkpoint_policies.nothing_saveable

    def block_count(self, length: int) -> int:
        """How many blocks a nested scan of ``length`` steps uses (1: not nested)."""
        if self.nested is False or length < 4:
            return 1
        if self.nested is True:
            target = math.isqrt(length)
            # the divisor of length closest to sqrt(length)
            return min((d for d in range(1, length + 1) if length % d == 0), key=lambda d: (abs(d - target), d))
        if isinstance(self.nested, int) and self.nested > 0 and length % self.nested == 0:
            return self.nested
        raise VerifyError(f"nested remat: {self.nested!r} blocks do not divide the scan length {length}",
                          loc=user_location())


def scan_step(fn: Callable, policy) -> Callable:
    """``fn`` checkpointed as ``policy`` (a ScanCheckpointPolicy or a SavePolicy) says, for one scan step."""
    if isinstance(policy, SavePolicy):
        return checkpoint(fn, policy=policy, prevent_cse=False)
    save = policy.save_policy()
    return fn if save is None else checkpoint(fn, policy=save, prevent_cse=policy.prevent_cse)


def scan_with_policy(fn: Callable, axis, reverse: bool, policy, init, args, kwargs):
    """Trace ``named.scan(fn, axis, reverse=reverse, remat=policy)(init, *args, **kwargs)``."""
    from .control import _scan
    from .shape_ops import flatten_axes, unflatten_axis
    nested = isinstance(policy, ScanCheckpointPolicy) and policy.nested is not False
    if not nested:
        return _scan(scan_step(fn, policy), axis, reverse, init, args, kwargs)
    name = axis.name if isinstance(axis, Axis) else axis
    leaves, tree = _flatten((args, kwargs))
    sized = [i for i, leaf in enumerate(leaves) if isinstance(leaf, NamedArray) and name in leaf.shape]
    size = axis.size if isinstance(axis, Axis) else (leaves[sized[0]].shape[name] if sized else None)
    inner_policy = dataclasses.replace(policy, nested=False)
    blocks = policy.block_count(size) if size is not None else 1
    if blocks == 1:
        return _scan(scan_step(fn, inner_policy), axis, reverse, init, args, kwargs)
    outer = Axis(name + "__blocks", blocks)
    inner = Axis(name, size // blocks)
    for i in sized:
        if leaves[i].shape[name] != size:  # let the plain scan report the mismatch
            return _scan(scan_step(fn, inner_policy), axis, reverse, init, args, kwargs)
        leaves[i] = unflatten_axis(leaves[i], name, (outer, inner))
    block_args, block_kwargs = jax.tree_util.tree_unflatten(tree, leaves)

    def block(carry, *a, **kw):
        return _scan(scan_step(fn, inner_policy), inner, reverse, carry, a, kw)

    step = checkpoint(block, policy=checkpoint_policies.nothing_saveable, prevent_cse=False)
    carry, ys = _scan(step, outer, reverse, init, block_args, block_kwargs)
    ys = jax.tree_util.tree_map(lambda y: flatten_axes(y, (outer.name, inner.name), name), ys,
                                is_leaf=lambda leaf: isinstance(leaf, NamedArray))
    return carry, ys
