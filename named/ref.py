"""Mutable references with named indexing: :func:`new_ref`, :class:`NamedRef`, :func:`freeze`, :func:`swap`.

A NamedRef is a Python-side cell holding a NamedArray. Reading indexes the current value; writing
replaces it functionally (``x.at[idx].set(update)``), so the same code runs eagerly and inside
``@named.compile``, where the cell holds a traced value and each write is one more op of the program
(XLA updates in place). A view made by :meth:`NamedRef.slice` shares the cell and remembers its
selectors: reads and writes through it address the original array.

>>> import named
>>> Layers, Head = named.make_axes(layers=24, head=8)
>>> cache = named.new_ref(named.zeros((Layers, Head)))
>>> layer = cache.slice({"layers": slice(4, 8)})
>>> layer[{"layers": 0, "head": 3}] = 1.0          # writes layer 4, head 3 of the cache
>>> cache[{"layers": 4, "head": 3}].item()
1.0
"""

from __future__ import annotations

from typing import Mapping

from named.compiler import user_location
from named.dialect import Axis, NamedError, dtype_name

from .core import NamedArray, as_named

__all__ = ["NamedRef", "new_ref", "freeze", "swap", "get", "set"]


class _Cell:
    __slots__ = ("value", "frozen")

    def __init__(self, value: NamedArray):
        self.value = value
        self.frozen = False


def _whole(idx) -> bool:
    return idx is Ellipsis or (isinstance(idx, (tuple, dict)) and not idx)


class NamedRef:
    """A mutable view of a NamedArray with named indexing (haliax's ``NamedRef``).

    ``ref[idx]`` reads, ``ref[idx] = update`` writes (``idx`` as for NamedArray: ``{"batch": 0}``,
    ``"batch", 1:3``, or ``...`` for the whole view); :meth:`slice` stages selectors; :meth:`value`
    materializes the view.

    >>> import named
    >>> r = named.new_ref(named.zeros(named.make_axes(t=3)))
    >>> r["t", 1] = 2.0
    >>> r.value().array.tolist()
    [0.0, 2.0, 0.0]
    """

    __slots__ = ("_cell", "_prefix")

    def __init__(self, cell: _Cell, prefix: tuple = ()):
        self._cell = cell
        self._prefix = prefix

    # -- reading ----------------------------------------------------------------------------------
    def _base(self) -> NamedArray:
        if self._cell.frozen:
            raise NamedError("this NamedRef was frozen (named.freeze); read the array freeze returned",
                             loc=user_location())
        return self._cell.value

    def value(self) -> NamedArray:
        """The current contents of this view as a NamedArray."""
        x = self._base()
        for selector in self._prefix:
            x = x[selector]
        return x

    def __getitem__(self, idx) -> NamedArray:
        view = self.value()
        return view if _whole(idx) else view[idx]

    # -- writing ----------------------------------------------------------------------------------
    def __setitem__(self, idx, update) -> None:
        def write(view: NamedArray) -> NamedArray:
            if _whole(idx):
                from .shape import broadcast_to
                from .ops import astype
                return broadcast_to(astype(as_named(update), dtype_name(view.dtype)), view.axes)
            return view.at[idx].set(update)

        self._cell.value = _rewrite(self._base(), self._prefix, write)

    # -- views --------------------------------------------------------------------------------------
    def slice(self, selector: Mapping) -> "NamedRef":
        """A view with ``selector`` (``{axis: index}``) staged: later reads and writes index within it."""
        if not isinstance(selector, Mapping):
            raise TypeError(f"NamedRef.slice takes a dict {{axis: index}}, got {selector!r}")
        self.value()[selector]  # check the selector now, where the user wrote it
        return NamedRef(self._cell, self._prefix + (dict(selector),))

    def unsliced(self) -> "NamedRef":
        """A view of the whole referenced array, without staged selectors."""
        return NamedRef(self._cell)

    def resolve_axis(self, axis):
        """The Axis (or axes) of this view named by ``axis``."""
        return self.value().resolve_axis(axis)

    @property
    def axes(self) -> tuple[Axis, ...]:
        return self.value().axes

    @property
    def shape(self) -> dict[str, int]:
        return self.value().shape

    named_shape = shape

    @property
    def ndim(self) -> int:
        return len(self.axes)

    @property
    def dtype(self):
        return self._base().dtype

    def unsafe_buffer_pointer(self) -> int:
        """The device address of the referenced buffer (eager, single-device values only)."""
        return self._base().array.unsafe_buffer_pointer()

    def __repr__(self) -> str:
        state = "frozen" if self._cell.frozen else ", ".join(str(a) for a in self.axes)
        return f"NamedRef({state})"


def _rewrite(x: NamedArray, prefix: tuple, write) -> NamedArray:
    """``x`` with the region ``prefix`` selects replaced by ``write(region)``."""
    if not prefix:
        return write(x)
    head, rest = prefix[0], prefix[1:]
    return x.at[head].set(_rewrite(x[head], rest, write))


def new_ref(value: NamedArray) -> NamedRef:
    """A mutable reference holding ``value``.

    >>> import named
    >>> named.new_ref(named.ones(named.make_axes(a=2))).axes
    (Axis(name='a', size=2),)
    """
    if not isinstance(value, NamedArray):
        value = as_named(value)
    return NamedRef(_Cell(value))


def freeze(ref: NamedRef) -> NamedArray:
    """The current contents of ``ref``'s view; the reference (and every view of it) is unusable after.

    >>> import named
    >>> r = named.new_ref(named.zeros(named.make_axes(a=2)))
    >>> named.freeze(r).array.tolist()
    [0.0, 0.0]
    """
    out = ref.value()
    ref._cell.frozen = True
    return out


def swap(ref: NamedRef, idx, value) -> NamedArray:
    """Write ``value`` at ``idx`` (``...`` for the whole view) and return what was there before.

    >>> import named
    >>> r = named.new_ref(named.zeros(named.make_axes(a=2)))
    >>> named.swap(r, {"a": 0}, 5.0).item(), r[...].array.tolist()
    (0.0, [5.0, 0.0])
    """
    old = ref[idx]
    ref[idx] = value
    return old


def get(ref: NamedRef, idx=...) -> NamedArray:
    """``ref[idx]`` (the functional spelling of haliax's ``haliax.ref`` helpers)."""
    return ref[idx]


def set(ref: NamedRef, idx, value) -> None:  # noqa: A001  (haliax's name)
    """``ref[idx] = value``."""
    ref[idx] = value
