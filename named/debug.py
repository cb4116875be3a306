"""Looking at arrays and models: :func:`visualize_shardings`, :func:`describe_array` and
:func:`diagnose_common_issues`.

>>> import named
>>> x = named.shard(named.ones(named.make_axes(batch=4, embed=2)), {"batch": "data"}, mesh={"data": 2})
>>> print(named.debug.visualize_shardings(x))
f32[batch=4, embed=2]  batch -> data (2 ways)
          embed 0:2
batch 0:2 0
batch 2:4 1
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import numpy as np

from named.dialect import NamedError, dtype_name

from .core import NamedArray

__all__ = ["visualize_shardings", "describe_array", "diagnose_common_issues", "ModuleProblems"]


def _paths(tree) -> list[tuple[str, Any]]:
    flat = jax.tree_util.tree_flatten_with_path(tree, is_leaf=lambda x: isinstance(x, NamedArray))[0]
    return [(jax.tree_util.keystr(path), leaf) for path, leaf in flat]


def _type_text(x: NamedArray) -> str:
    return f"{dtype_name(x.dtype)}[{', '.join(str(a) for a in x.axes)}]"


def _splits(x: NamedArray) -> list[tuple[str, tuple[str, ...], int]]:
    """(logical axis, mesh axes, ways) for each axis of ``x`` that its sharding splits."""
    sharding = getattr(x.array, "sharding", None)
    spec = getattr(sharding, "spec", None)
    if spec is None:
        return []
    mesh_shape = sharding.mesh.shape
    out = []
    for axis, entry in zip(x.axes, tuple(spec) + (None,) * (len(x.axes) - len(spec))):
        if entry is None:
            continue
        names = (entry,) if isinstance(entry, str) else tuple(entry)
        ways = int(np.prod([mesh_shape[m] for m in names]))
        if ways > 1:
            out.append((axis.name, names, ways))
    return out


def _blocks(x: NamedArray) -> dict[tuple, list[int]]:
    """Which devices hold which block: {((start, stop) per axis): [device ids]}."""
    shape = tuple(a.size for a in x.axes)
    held: dict[tuple, list[int]] = {}
    for device, index in x.array.sharding.devices_indices_map(shape).items():
        key = tuple(s.indices(n)[:2] for s, n in zip(index, shape))
        held.setdefault(key, []).append(device.id)
    return held


def _grid(x: NamedArray) -> list[str]:
    if not x.axes:
        return []
    held = _blocks(x)
    rows_axis = x.axes[0]
    cols_axis = x.axes[1] if len(x.axes) > 1 else None
    rows = sorted({k[0] for k in held})
    cols = sorted({k[1] for k in held}) if cols_axis else [None]
    cells: dict[tuple, list[int]] = {}
    for key, devices in held.items():
        cells.setdefault((key[0], key[1] if cols_axis else None), []).extend(devices)

    def label(axis, span):
        return f"{axis.name} {span[0]}:{span[1]}"

    row_labels = [label(rows_axis, r) for r in rows]
    col_labels = [label(cols_axis, c) if cols_axis else "" for c in cols]
    table = [[",".join(map(str, sorted(set(cells.get((r, c), []))))) for c in cols] for r in rows]
    width0 = max(len(s) for s in row_labels)
    widths = [max([len(col_labels[j])] + [len(table[i][j]) for i in range(len(rows))]) for j in range(len(cols))]
    lines = [" " * width0 + " " + " ".join(c.ljust(w) for c, w in zip(col_labels, widths))] if cols_axis else []
    for label_text, row in zip(row_labels, table):
        lines.append(label_text.ljust(width0) + " " + " ".join(c.ljust(w) for c, w in zip(row, widths)))
    return [line.rstrip() for line in lines]


def visualize_shardings(tree: Any, *, print_fn: Callable[[str], None] | None = None) -> str:
    """A text picture, per NamedArray in ``tree``, of which device holds which block: rows are
    blocks of the first axis, columns blocks of the second, cells the device ids (blocks of further
    axes are merged into their cell). Returns the text (and passes it to ``print_fn`` if given).

    >>> import named
    >>> print(named.debug.visualize_shardings({"b": named.ones(named.make_axes(t=3))}))
    ['b']: f32[t=3]  replicated
    t 0:3 0
    """
    parts = []
    for path, leaf in _paths(tree):
        if not isinstance(leaf, NamedArray):
            continue
        head = (f"{path}: " if path else "") + _type_text(leaf)
        if leaf.is_traced:
            parts.append(f"{head}  traced: its sharding is decided when the program is compiled")
            continue
        splits = _splits(leaf)
        how = ", ".join(f"{n} -> {'x'.join(m)} ({w} ways)" for n, m, w in splits) or "replicated"
        parts.append("\n".join([f"{head}  {how}"] + _grid(leaf)))
    text = "\n\n".join(parts)
    if print_fn is not None:
        print_fn(text)
    return text


def _nbytes(n: int, dtype) -> str:
    size = n * np.dtype(dtype).itemsize
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"


def describe_array(x: NamedArray, *, stats: bool = True) -> str:
    """One paragraph about ``x``: type, bytes, how it is split and the block each device holds, and
    (``stats=True``, concrete arrays) min/max/mean and how many NaN/inf values it has.

    >>> import named
    >>> print(named.debug.describe_array(named.ones(named.make_axes(a=2, b=2))))
    f32[a=2, b=2]: 4 elements, 16 B, on 1 device, not split
      min 1, max 1, mean 1, 0 nan, 0 inf
    """
    if not isinstance(x, NamedArray):
        raise TypeError(f"describe_array takes a NamedArray, got {type(x).__name__}")
    head = f"{_type_text(x)}: {x.size} elements, {_nbytes(x.size, x.dtype)}"
    if x.is_traced:
        return head + ", traced (no data yet)"
    devices = len(x.array.sharding.device_set)
    splits = _splits(x)
    if splits:
        block = dict(x.shape)
        for name, _, ways in splits:
            block[name] = -(-block[name] // ways)
        where = (f"on {devices} devices, split " + ", ".join(f"{n} over {'x'.join(m)} ({w} ways)" for n, m, w in splits)
                 + "; each device holds " + " ".join(f"{k}={v}" for k, v in block.items())
                 + f" ({_nbytes(int(np.prod(list(block.values()))), x.dtype)})")
    else:
        where = f"on {devices} device{'s' if devices > 1 else ''}, " + ("replicated" if devices > 1 else "not split")
    lines = [f"{head}, {where}"]
    if stats and x.size:
        data = np.asarray(x)
        if data.dtype.kind in "fc":
            finite = data[np.isfinite(data)]
            summary = (f"min {finite.min():.4g}, max {finite.max():.4g}, mean {finite.mean():.4g}" if finite.size
                       else "no finite values")
            lines.append(f"  {summary}, {int(np.isnan(data).sum())} nan, {int(np.isinf(data).sum())} inf")
        elif data.dtype.kind in "iub":
            lines.append(f"  min {data.min()}, max {data.max()}")
    return "\n".join(lines)


class ModuleProblems(NamedError):
    """What :func:`diagnose_common_issues` found; ``reused_arrays``, ``static_arrays`` and
    ``unnamed_arrays`` list the paths."""

    def __init__(self, reused_arrays, static_arrays, unnamed_arrays):
        self.reused_arrays = reused_arrays
        self.static_arrays = static_arrays
        self.unnamed_arrays = unnamed_arrays
        lines = ["the model has problems:"]
        for paths in reused_arrays:
            lines.append(f"  one array is used at several places ({', '.join(paths)}): gradients and updates "
                         f"treat them as separate; share the parameter by computing from one place")
        for path in static_arrays:
            lines.append(f"  {path} is an array in a static field: it is baked into the compiled program and "
                         f"never trained; make the field a regular one")
        for path in unnamed_arrays:
            lines.append(f"  {path} is an array without axis names: give it names with named.named(x, axes)")
        super().__init__("\n".join(lines))

    def __bool__(self) -> bool:
        return bool(self.reused_arrays or self.static_arrays or self.unnamed_arrays)


def _static_arrays(node, path: str, out: list, seen: set) -> None:
    if id(node) in seen:
        return
    seen.add(id(node))
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        for f in dataclasses.fields(node):
            value = getattr(node, f.name, None)
            if f.metadata.get("static") and any(isinstance(leaf, (jax.Array, np.ndarray, NamedArray))
                                                for leaf in jax.tree_util.tree_leaves(
                                                    value, is_leaf=lambda x: isinstance(x, NamedArray))):
                out.append(f"{path}.{f.name}")
            _static_arrays(value, f"{path}.{f.name}", out, seen)
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            _static_arrays(v, f"{path}[{i}]", out, seen)
    elif isinstance(node, dict):
        for k, v in node.items():
            _static_arrays(v, f"{path}[{k!r}]", out, seen)


def diagnose_common_issues(module: Any) -> None:
    """Check a model (any pytree, e.g. an equinox module) for mistakes that run but train wrongly:
    one array object at several places, arrays in static fields, and non-scalar arrays without axis
    names. Raises :class:`ModuleProblems` listing them; returns None when there are none.

    >>> import named
    >>> named.debug.diagnose_common_issues({"w": named.ones(named.make_axes(a=2))}) is None
    True
    """
    by_id: dict[int, list[str]] = {}
    unnamed = []
    for path, leaf in _paths(module):
        if isinstance(leaf, NamedArray):
            by_id.setdefault(id(leaf.array), []).append(path)
        elif isinstance(leaf, (jax.Array, np.ndarray)):
            by_id.setdefault(id(leaf), []).append(path)
            if np.ndim(leaf) > 0:
                unnamed.append(path)
    reused = [paths for paths in by_id.values() if len(paths) > 1]
    static: list[str] = []
    _static_arrays(module, "", static, set())
    problems = ModuleProblems(reused, static, unnamed)
    if problems:
        raise problems
    return None
