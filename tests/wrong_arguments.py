"""The wrong-argument sweep (issue 11): every public function of `named`, called with the wrong kind
of argument in each position, must answer with a typed error raised on purpose (a NamedError, or a
TypeError/ValueError raised by our own code naming what it accepts), never an AttributeError, a raw
NumPy/jax/lark error or a crash. Used by tests/test_fuzz_arguments.py; run directly to list failures."""

from __future__ import annotations

import inspect
import linecache
import os
import re
import traceback

import numpy as np

import named

OURS = tuple(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), d) + os.sep
             for d in ("named", "dialect", "compiler", "runtime"))

# Functions that take no data (or run user code) are called with their own checks elsewhere.
SKIP = {"compile", "use_mesh", "axis_mapping", "current_axis_mapping", "current_mesh", "grad", "value_and_grad",
        "scan", "fold", "cond", "while_loop", "spec", "make_axes", "Axis", "NamedArray", "Compiled",
        "CompiledFunction", "Lowered", "XMapFunction", "GradientError", "extend", "random", "nn", "dialect",
        "compiler", "runtime"}


_CALL_CHECK = re.compile(r"(missing \d+ required (positional|keyword-only) argument|got an unexpected keyword "
                         r"argument|takes \d+ positional argument|got multiple values for argument)")


class _Unhashable:
    __hash__ = None


def bad_values():
    """(label, value) pairs of the wrong kinds of argument."""
    return [("None", None), ("str", "zz"), ("slice", slice(0, 1)), ("bool", True), ("ragged", [[1, 2], [3]]),
            ("object_array", np.array([object(), object()], dtype=object)), ("unnamed", np.ones((2, 3))),
            ("float", 1.5), ("dict", {"a": object()}), ("object", object()), ("unhashable", _Unhashable()),
            ("tuple_of_none", (None,)), ("negative", -7), ("huge", 2 ** 70)]


def good_args():
    A, Bx = named.Axis("a", 4), named.Axis("b", 3)
    x = named.ones((A, Bx))
    return x, [x, "a", x, "b", x]


def public_functions():
    out = []
    for name in sorted(set(dir(named))):
        if name.startswith("_") or name in SKIP:
            continue
        obj = getattr(named, name)
        if inspect.isclass(obj) or inspect.ismodule(obj) or not callable(obj):
            continue
        out.append((f"named.{name}", obj))
    for mod in (named.nn, named.random):
        for name in getattr(mod, "__all__", ()):
            obj = getattr(mod, name)
            if callable(obj) and not inspect.isclass(obj):
                out.append((f"{mod.__name__}.{name}", obj))
    return out


def on_purpose(e: BaseException) -> bool:
    """Whether ``e`` is a typed error `named` raised deliberately."""
    if isinstance(e, named.NamedError):
        return True
    if type(e) not in (TypeError, ValueError) and not isinstance(e, (TypeError, ValueError)):
        return False
    if type(e).__module__.startswith(("jax", "jaxlib", "lark", "numpy")):
        return False
    frames = traceback.extract_tb(e.__traceback__)
    if not frames:
        return False
    last = frames[-1]
    if isinstance(e, TypeError) and _CALL_CHECK.search(str(e)):
        return True  # Python's own check of a call (a missing or unexpected argument, by name)
    if not last.filename.startswith(OURS):
        return False
    for lineno in range(last.lineno, max(last.lineno - 6, 0), -1):
        text = linecache.getline(last.filename, lineno).strip()
        if text.startswith("raise "):
            return True
        if lineno != last.lineno and text.endswith(("(", ",")) is False:
            break
    return False


def sweep(functions=None, values=None):
    """Calls each function with each bad value in each of its first positions; yields
    (call description, exception) for each call that failed the wrong way."""
    x, fillers = good_args()
    for fname, fn in functions or public_functions():
        try:
            params = [p for p in inspect.signature(fn).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        except (TypeError, ValueError):
            params = []
        n = max(1, min(len(params), 3))
        required = sum(p.default is p.empty for p in params)
        for label, bad in values or bad_values():
            for pos in range(n):
                args = fillers[:max(required, pos + 1)]
                args[pos] = bad
                try:
                    fn(*args)
                except Exception as e:  # noqa: BLE001 - classifying every error is the point
                    if not on_purpose(e):
                        yield f"{fname}(position {pos} = {label})", e


if __name__ == "__main__":
    import collections
    fails = list(sweep())
    kinds = collections.Counter(type(e).__name__ for _, e in fails)
    for call, e in fails:
        print(call, type(e).__name__, str(e).splitlines()[0][:120] if str(e) else "")
    print(len(fails), "failures", dict(kinds))
