"""State dicts: a model's parameters as a flat ``{"path.to.param": array}`` dict, and back (haliax's
``state_dict``), plus safetensors files.

Keys are the module field names joined with dots (list and tuple items by index). ``Stacked`` adds no
key of its own: its fields carry the ``Layers`` axis (``layers.up.weight`` of shape ``(3, ...)``).
:func:`to_torch_compatible_state_dict` unstacks them into ``layers.0.up.weight``, ... and stores every
``Linear`` weight as a 2-D ``(out, in)`` matrix, as PyTorch's ``nn.Linear`` does.
A module may rename its fields' keys with a ``_state_dict_key_map()`` method returning
``{field: key}`` (``None`` as key: the field adds no key).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from named.compiler import user_location
from named.dialect import AxisError

from .core import NamedArray
from .nn.linear import Linear
from .nn.scan import BlockSeq, Stacked
from .nn._util import axis_tuple
from .shape import rearrange

__all__ = ["to_state_dict", "from_state_dict", "to_torch_compatible_state_dict",
           "from_torch_compatible_state_dict", "save_state_dict", "load_state_dict", "with_prefix"]

StateDict = dict


def with_prefix(prefix: str | None, name) -> str:
    """``prefix.name`` (just ``name`` without a prefix; just ``prefix`` when ``name`` is None).

    >>> with_prefix("layers", 0), with_prefix(None, "weight"), with_prefix("a", None)
    ('layers.0', 'weight', 'a')
    """
    if name is None:
        return prefix or ""
    return f"{prefix}.{name}" if prefix else str(name)


def _fields(module: eqx.Module):
    """The dynamic fields of a module with their keys."""
    key_map = module._state_dict_key_map() if hasattr(module, "_state_dict_key_map") else {}
    for f in dataclasses.fields(module):
        if f.metadata.get("static", False):
            continue
        yield f.name, key_map.get(f.name, f.name)


def _replace(module: eqx.Module, values: Mapping[str, Any]) -> eqx.Module:
    new = copy.copy(module)
    for name, value in values.items():
        object.__setattr__(new, name, value)
    return new


# ------------------------------------------------------------------------------------------- writing
def _linear_torch(layer: Linear) -> tuple:
    out_axes, in_axes = axis_tuple(layer.Out), axis_tuple(layer.In)
    w = rearrange(layer.weight, out_axes + in_axes) if layer.weight.axes != out_axes + in_axes else layer.weight
    out_size = int(np.prod([a.size for a in out_axes]))
    weight = np.asarray(w.array).reshape(out_size, -1)
    bias = None if layer.bias is None else np.asarray(rearrange(layer.bias, out_axes).array).reshape(out_size)
    return weight, bias


def _write(tree, prefix, torch: bool, out: dict) -> None:
    if tree is None:
        return
    if isinstance(tree, NamedArray):
        out[prefix] = np.asarray(tree.array)
    elif isinstance(tree, (jax.Array, np.ndarray)):
        out[prefix] = np.asarray(tree)
    elif isinstance(tree, Stacked) and torch:
        for i, block in enumerate(tree.unstacked()):
            _write(block, with_prefix(prefix, i), torch, out)
    elif isinstance(tree, Stacked):
        _write(tree.stacked, prefix, torch, out)
    elif isinstance(tree, BlockSeq):
        for i, block in enumerate(tree.blocks):
            _write(block, with_prefix(prefix, i), torch, out)
    elif isinstance(tree, Linear) and torch:
        weight, bias = _linear_torch(tree)
        out[with_prefix(prefix, "weight")] = weight
        if bias is not None:
            out[with_prefix(prefix, "bias")] = bias
    elif isinstance(tree, eqx.Module):
        for name, key in _fields(tree):
            _write(getattr(tree, name), with_prefix(prefix, key), torch, out)
    elif isinstance(tree, (list, tuple)):
        for i, item in enumerate(tree):
            _write(item, with_prefix(prefix, i), torch, out)
    elif isinstance(tree, dict):
        for k in sorted(tree):
            _write(tree[k], with_prefix(prefix, k), torch, out)


def to_state_dict(tree, prefix: str | None = None) -> StateDict:
    """The arrays of ``tree`` (a module or pytree of NamedArrays) as a flat dict of NumPy arrays,
    each in its NamedArray's storage order.

    >>> import named
    >>> E, H = named.make_axes(embed=2, hidden=3)
    >>> layer = named.nn.Linear.init(E, H, key=named.random.key(0))
    >>> {k: v.shape for k, v in named.state_dict.to_state_dict(layer, "proj").items()}
    {'proj.weight': (2, 3), 'proj.bias': (3,)}
    """
    out: dict = {}
    _write(tree, prefix, False, out)
    return out


def to_torch_compatible_state_dict(tree, prefix: str | None = None) -> StateDict:
    """Like :func:`to_state_dict`, with ``Stacked`` layers unstacked (``layers.0.…``) and ``Linear``
    weights as ``(out, in)`` matrices, the layout of a PyTorch ``state_dict``.

    >>> import named
    >>> L, E, H = named.make_axes(layer=2, embed=2, hidden=3)
    >>> stack = named.nn.Stacked.init(L, named.nn.Linear)(E, H, key=named.random.key(0))
    >>> {k: v.shape for k, v in named.state_dict.to_torch_compatible_state_dict(stack, "h").items()}
    {'h.0.weight': (3, 2), 'h.0.bias': (3,), 'h.1.weight': (3, 2), 'h.1.bias': (3,)}
    """
    out: dict = {}
    _write(tree, prefix, True, out)
    return out


# ------------------------------------------------------------------------------------------- reading
def _take(state_dict: Mapping, key: str, shape: tuple, what: str) -> np.ndarray:
    if key not in state_dict:
        raise AxisError(f"state dict has no entry {key!r} for {what}", loc=user_location())
    value = np.asarray(state_dict[key])
    if tuple(value.shape) != tuple(shape):
        raise AxisError(f"state dict entry {key!r} has shape {tuple(value.shape)}, but {what} needs "
                        f"{tuple(shape)}", loc=user_location())
    return value


def _named_from(value: np.ndarray, like: NamedArray) -> NamedArray:
    return NamedArray(jnp.asarray(value, dtype=like.dtype), like.axes)


def _read(tree, state_dict, prefix, torch: bool):
    if tree is None:
        return None
    if isinstance(tree, NamedArray):
        value = _take(state_dict, prefix, tuple(a.size for a in tree.axes), f"axes {list(tree.shape.items())}")
        return _named_from(value, tree)
    if isinstance(tree, (jax.Array, np.ndarray)):
        return jnp.asarray(_take(state_dict, prefix, tree.shape, f"an array of shape {tree.shape}"), tree.dtype)
    if isinstance(tree, Stacked) and torch:
        blocks = [_read(b, state_dict, with_prefix(prefix, i), torch) for i, b in enumerate(tree.unstacked())]
        leaves, treedef = jax.tree_util.tree_flatten(tree.stacked, is_leaf=lambda x: isinstance(x, NamedArray))
        columns = [jax.tree_util.tree_leaves(b, is_leaf=lambda x: isinstance(x, NamedArray)) for b in blocks]
        stacked = []
        for j, leaf in enumerate(leaves):
            if not isinstance(leaf, NamedArray):
                stacked.append(leaf)
                continue
            block_axes = columns[0][j].axes
            whole = NamedArray(jnp.stack([c[j].array for c in columns]), (tree.Layers,) + block_axes)
            stacked.append(rearrange(whole, leaf.axes) if whole.axes != leaf.axes else whole)
        return _replace(tree, {"stacked": jax.tree_util.tree_unflatten(treedef, stacked)})
    if isinstance(tree, Stacked):
        return _replace(tree, {"stacked": _read(tree.stacked, state_dict, prefix, torch)})
    if isinstance(tree, BlockSeq):
        return _replace(tree, {"blocks": tuple(_read(b, state_dict, with_prefix(prefix, i), torch)
                                               for i, b in enumerate(tree.blocks))})
    if isinstance(tree, Linear) and torch:
        out_axes, in_axes = axis_tuple(tree.Out), axis_tuple(tree.In)
        out_size, in_size = int(np.prod([a.size for a in out_axes])), int(np.prod([a.size for a in in_axes]))
        w = _take(state_dict, with_prefix(prefix, "weight"), (out_size, in_size), f"Linear {out_axes} <- {in_axes}")
        weight = NamedArray(jnp.asarray(w.reshape([a.size for a in out_axes + in_axes]), tree.weight.dtype),
                            out_axes + in_axes)
        weight = rearrange(weight, tree.weight.axes) if weight.axes != tree.weight.axes else weight
        bias = None
        if tree.bias is not None:
            b = _take(state_dict, with_prefix(prefix, "bias"), (out_size,), f"the bias of Linear {out_axes}")
            bias = NamedArray(jnp.asarray(b.reshape([a.size for a in out_axes]), tree.bias.dtype), out_axes)
            bias = rearrange(bias, tree.bias.axes) if bias.axes != tree.bias.axes else bias
        return _replace(tree, {"weight": weight, "bias": bias})
    if isinstance(tree, eqx.Module):
        return _replace(tree, {name: _read(getattr(tree, name), state_dict, with_prefix(prefix, key), torch)
                               for name, key in _fields(tree)})
    if isinstance(tree, (list, tuple)):
        items = [_read(item, state_dict, with_prefix(prefix, i), torch) for i, item in enumerate(tree)]
        return type(tree)(items) if isinstance(tree, list) or type(tree) is tuple else type(tree)(*items)
    if isinstance(tree, dict):
        return {k: _read(v, state_dict, with_prefix(prefix, k), torch) for k, v in tree.items()}
    return tree


def from_state_dict(tree, state_dict: Mapping, prefix: str | None = None):
    """A copy of ``tree`` whose arrays come from ``state_dict`` (as written by :func:`to_state_dict`);
    ``tree`` supplies the structure, axes and dtypes. A missing key or a wrong shape is an AxisError.

    >>> import named
    >>> E, = named.make_axes(embed=2)
    >>> ln = named.nn.LayerNorm.init(E)
    >>> ln2 = named.state_dict.from_state_dict(ln, {"weight": [2.0, 3.0], "bias": [0.0, 1.0]})
    >>> ln2.weight.array.tolist()
    [2.0, 3.0]
    """
    return _read(tree, state_dict, prefix, False)


def from_torch_compatible_state_dict(tree, state_dict: Mapping, prefix: str | None = None):
    """The inverse of :func:`to_torch_compatible_state_dict`: ``layers.0.…`` entries are stacked back
    and ``(out, in)`` Linear weights reshaped to the module's axes.

    >>> import named
    >>> E, H = named.make_axes(embed=2, hidden=1)
    >>> layer = named.nn.Linear.init(E, H, key=named.random.key(0))
    >>> sd = {"weight": [[1.0, 2.0]], "bias": [0.5]}
    >>> named.state_dict.from_torch_compatible_state_dict(layer, sd).weight.array.tolist()
    [[1.0], [2.0]]
    """
    return _read(tree, state_dict, prefix, True)


def save_state_dict(state_dict: Mapping, path) -> None:
    """Write a state dict to a safetensors file (needs the ``safetensors`` package).

    >>> import named, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "m.safetensors")
    >>> named.state_dict.save_state_dict({"w": named.ones(named.Axis("n", 2))}, path)
    >>> named.state_dict.load_state_dict(path)["w"].tolist()
    [1.0, 1.0]
    """
    from safetensors.numpy import save_file
    arrays = {k: np.ascontiguousarray(np.asarray(v.array if isinstance(v, NamedArray) else v))
              for k, v in state_dict.items()}
    save_file(arrays, str(path))


def load_state_dict(path) -> StateDict:
    """Read a safetensors file into a dict of NumPy arrays (see :func:`save_state_dict`)."""
    from safetensors.numpy import load_file
    return dict(load_file(str(path)))
