"""Axis-aware type annotations for NamedArrays (haliax's ``haxtyping``).

``f32["batch embed"]`` is ``Annotated[NamedArray, <axes spec>]``: a NamedArray to static tools, and
a spec that :func:`matches`, ``NamedArray.matches_axes``, the opt-in :func:`typechecked` decorator and
the CLI (``named dump``) read. The spec text:

* ``"batch embed"``: exactly these axes, in this order; ``"batch ..."``, ``"... embed"``,
  ``"batch ... embed"``: these at the ends, anything (or nothing) where ``...`` stands;
* ``"{batch embed}"``: exactly these axes, any order; ``"{batch ...}"``: at least these;
* ``"batch=128 embed=64"``: sizes, checked when given (and enough for the CLI to build an argument).

Dtype families: ``f16 bf16 f32 f64 i8 i16 i32 i64 u8 u16 u32 u64 bool_ c64 c128`` for one dtype,
``Float Int UInt Complex Bool`` for a kind, ``Named`` (or ``NamedArray[...]``) for any dtype.

>>> import named
>>> from named.typing import f32, Named
>>> x = named.zeros(named.make_axes(batch=2, embed=3))
>>> x.matches_axes(f32["batch embed"]), x.matches_axes(Named["{embed batch}"]), x.matches_axes(f32["embed ..."])
(True, True, False)
"""

from __future__ import annotations

import functools
import inspect
import re
from dataclasses import dataclass
from typing import Annotated, Any, Callable, get_args, get_origin, get_type_hints

from named.compiler import user_location
from named.dialect import Axis, AxisError, ParseError, dtype_name

from .core import NamedArray

__all__ = ["AxesSpec", "DTypeFamily", "Named", "Float", "Int", "UInt", "Complex", "Bool", "f16", "bf16", "f32",
           "f64", "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "bool_", "c64", "c128", "parse_axes_spec",
           "matches", "typechecked", "arg_spec"]

_KINDS = {"float": ("f16", "bf16", "f32", "f64", "f8e4m3fn", "f8e5m2"), "int": ("i8", "i16", "i32", "i64"),
          "uint": ("u8", "u16", "u32", "u64"), "complex": ("c64", "c128"), "bool": ("bool",)}
_KIND_DEFAULT = {"float": "f32", "int": "i32", "uint": "u32", "complex": "c64", "bool": "bool", None: "f32"}


@dataclass(frozen=True)
class AxesSpec:
    """What an annotation asks of a NamedArray: a dtype (a name like ``"f32"``, a kind like
    ``"float"``, or None), the axes at the front and back (name, size or None), whether ``...``
    allows more axes, and whether order matters."""

    dtype: str | None
    before: tuple[tuple[str, int | None], ...]
    after: tuple[tuple[str, int | None], ...] = ()
    ellipsis: bool = False
    unordered: bool = False

    def __str__(self) -> str:
        def show(entries):
            return [n if s is None else f"{n}={s}" for n, s in entries]
        words = show(self.before) + (["..."] if self.ellipsis else []) + show(self.after)
        text = " ".join(words)
        return f"{self.dtype or 'Named'}[\"{'{' + text + '}' if self.unordered else text}\"]"


_TOKEN = re.compile(r"\s*(?:(\.\.\.)|([A-Za-z_][\w.]*)(?:\s*=\s*(\d+))?)\s*,?")


def parse_axes_spec(text: str, dtype: str | None = None) -> AxesSpec:
    """An :class:`AxesSpec` from spec text (see the module docs); malformed text is a ParseError.

    >>> parse_axes_spec("batch=8 ... embed").after
    (('embed', None),)
    """
    body, unordered = text.strip(), False
    if body.startswith("{"):
        if not body.endswith("}"):
            raise ParseError("an unordered axes spec must close its '{' with '}'", text, len(text))
        body, unordered = body[1:-1], True
    offset = text.index(body) if body else 0
    before, after, ellipsis, pos = [], [], False, 0
    while pos < len(body):
        m = _TOKEN.match(body, pos)
        if m is None or m.end() == pos:
            raise ParseError("expected an axis name, name=size or ...", text, offset + pos)
        if m.group(1):
            if ellipsis:
                raise ParseError("an axes spec takes at most one ...", text, offset + m.start(1))
            ellipsis = True
        else:
            (after if ellipsis else before).append((m.group(2), int(m.group(3)) if m.group(3) else None))
        pos = m.end()
    names = [n for n, _ in before + after]
    if len(set(names)) != len(names):
        raise ParseError(f"an axis is named twice in {text!r}", text, 0)
    if unordered and after:
        before, after = before + after, []
    return AxesSpec(dtype, tuple(before), tuple(after), ellipsis, unordered)


def _spec_from_items(items, dtype: str | None) -> AxesSpec:
    words = []
    for item in items:
        if item is ...:
            words.append("...")
        elif isinstance(item, Axis):
            words.append(f"{item.name}={item.size}")
        elif isinstance(item, str):
            words.append(item)
        else:
            raise TypeError(f"an axes spec lists names, Axis objects and ...; got {item!r}")
    return parse_axes_spec(" ".join(words), dtype)


def as_axes_spec(spec) -> AxesSpec:
    """The :class:`AxesSpec` of an annotation, a spec string, or a sequence of names/Axis/``...``."""
    if isinstance(spec, AxesSpec):
        return spec
    if get_origin(spec) is Annotated:
        for meta in get_args(spec)[1:]:
            if isinstance(meta, AxesSpec):
                return meta
        raise TypeError(f"{spec!r} carries no named axes spec")
    if isinstance(spec, str):
        return parse_axes_spec(spec)
    if isinstance(spec, (tuple, list)):
        return _spec_from_items(spec, None)
    raise TypeError(f"expected an axes spec (f32['batch embed'], a string or a sequence of names), got {spec!r}")


class DTypeFamily:
    """``f32["batch embed"]``: an annotation for NamedArrays of one dtype (or kind) with these axes."""

    def __init__(self, name: str, dtype: str | None):
        self.name = name
        self.dtype = dtype

    def __getitem__(self, spec) -> Any:
        if isinstance(spec, str):
            axes = parse_axes_spec(spec, self.dtype)
        else:
            axes = _spec_from_items(spec if isinstance(spec, tuple) else (spec,), self.dtype)
        return Annotated[NamedArray, axes]

    def __repr__(self) -> str:
        return f"named.typing.{self.name}"


Named = DTypeFamily("Named", None)
Float, Int, UInt = DTypeFamily("Float", "float"), DTypeFamily("Int", "int"), DTypeFamily("UInt", "uint")
Complex, Bool = DTypeFamily("Complex", "complex"), DTypeFamily("Bool", "bool")
f16, bf16, f32, f64 = (DTypeFamily(n, n) for n in ("f16", "bf16", "f32", "f64"))
i8, i16, i32, i64 = (DTypeFamily(n, n) for n in ("i8", "i16", "i32", "i64"))
u8, u16, u32, u64 = (DTypeFamily(n, n) for n in ("u8", "u16", "u32", "u64"))
c64, c128 = DTypeFamily("c64", "c64"), DTypeFamily("c128", "c128")
bool_ = DTypeFamily("bool_", "bool")


def _class_getitem(cls, spec):
    return Named[spec]


NamedArray.__class_getitem__ = classmethod(_class_getitem)  # NamedArray["batch", ...], as in haliax


def _mismatch(x: NamedArray, spec: AxesSpec) -> str | None:
    """Why ``x`` does not fit ``spec`` (None when it does)."""
    dtype = dtype_name(x.dtype)
    if spec.dtype is not None and dtype != spec.dtype and dtype not in _KINDS.get(spec.dtype, ()):
        return f"dtype {dtype} is not {spec.dtype}"
    names = [a.name for a in x.axes]
    wanted = spec.before + spec.after
    missing = [n for n, _ in wanted if n not in names]
    if missing:
        return f"axes {missing} are missing"
    if not spec.ellipsis and len(names) != len(wanted):
        return f"axes {[n for n in names if n not in dict(wanted)]} are extra"
    if not spec.unordered:
        head = names[:len(spec.before)]
        tail = names[len(names) - len(spec.after):] if spec.after else []
        if head != [n for n, _ in spec.before] or tail != [n for n, _ in spec.after]:
            return "the axes are in another order"
    for n, size in wanted:
        if size is not None and x.shape[n] != size:
            return f"axis {n!r} has size {x.shape[n]}, not {size}"
    return None


def matches(x, spec) -> bool:
    """True when ``x`` is a NamedArray that fits ``spec`` (see the module docs).

    >>> import named
    >>> from named.typing import i32
    >>> named.typing.matches(named.arange(named.Axis("t", 3)), i32["t=3"])
    True
    """
    return isinstance(x, NamedArray) and _mismatch(x, as_axes_spec(spec)) is None


def _describe(x) -> str:
    if isinstance(x, NamedArray):
        return f"{dtype_name(x.dtype)}[{', '.join(str(a) for a in x.axes)}]"
    return type(x).__name__


def typechecked(fn: Callable) -> Callable:
    """Check, on every call, the NamedArray arguments and result of ``fn`` against their
    ``named.typing`` annotations; an axis name used in several annotations must have one size
    across them all. A mismatch is an :class:`AxisError` naming the parameter. Works eagerly and
    inside ``@named.compile`` (the check runs at trace time there).

    >>> import named
    >>> from named.typing import f32
    >>> @named.typing.typechecked
    ... def norm(x: f32["batch embed"]) -> f32["batch"]:
    ...     return x.sum("embed")
    >>> norm(named.ones(named.make_axes(batch=2, embed=3))).shape
    {'batch': 2}
    """
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def checked(*args, **kwargs):
        hints = _hints(fn)
        bound = signature.bind(*args, **kwargs)
        sizes: dict[str, tuple[int, str]] = {}
        for name, value in bound.arguments.items():
            if name in hints:
                _check(fn, f"parameter {name!r}", value, hints[name], sizes)
        out = fn(*args, **kwargs)
        if "return" in hints:
            _check(fn, "the result", out, hints["return"], sizes)
        return out

    return checked


@functools.lru_cache(maxsize=None)
def _hints(fn) -> dict[str, AxesSpec]:
    try:
        hints = get_type_hints(fn, include_extras=True)
    except Exception:  # unresolvable annotations of other kinds: check only what resolves
        hints = {k: v for k, v in getattr(fn, "__annotations__", {}).items() if not isinstance(v, str)}
    out = {}
    for name, ann in hints.items():
        if get_origin(ann) is Annotated and any(isinstance(m, AxesSpec) for m in get_args(ann)[1:]):
            out[name] = as_axes_spec(ann)
    return out


def _check(fn, what: str, value, spec: AxesSpec, sizes: dict) -> None:
    where = getattr(fn, "__qualname__", "the function")
    if not isinstance(value, NamedArray):
        raise AxisError(f"{what} of {where} should be a NamedArray {spec}, got {_describe(value)}",
                        loc=user_location())
    why = _mismatch(value, spec)
    if why is not None:
        raise AxisError(f"{what} of {where} should be {spec}, got {_describe(value)}: {why}", loc=user_location())
    for a in value.axes:
        if a.name in dict(spec.before + spec.after):
            seen = sizes.setdefault(a.name, (a.size, what))
            if seen[0] != a.size:
                raise AxisError(f"axis {a.name!r} of {where} has size {seen[0]} in {seen[1]} but {a.size} in "
                                f"{what}", loc=user_location())


def arg_spec(annotation):
    """A ``named.spec`` for an annotation that gives every axis a size and no ``...`` (what the CLI
    compiles for); None when the annotation is not a named axes spec or leaves sizes open.

    >>> from named.typing import f32
    >>> print(arg_spec(f32["batch=128 embed=64"]).type)
    f32[batch=128, embed=64]
    """
    from .jit import spec as make_spec
    try:
        axes = as_axes_spec(annotation)
    except TypeError:
        return None
    entries = axes.before + axes.after
    if axes.ellipsis or any(size is None for _, size in entries):
        return None
    dtype = axes.dtype if axes.dtype not in _KIND_DEFAULT else _KIND_DEFAULT[axes.dtype]
    return make_spec(tuple(Axis(n, s) for n, s in entries), dtype)
