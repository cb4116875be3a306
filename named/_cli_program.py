"""What the ``named`` command line compiles: the user's file and function, and argument types from
``--arg``/``--static``/annotations, ``--mesh``, ``--map`` and ``-p`` (see :mod:`named.cli`)."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import re
import sys
from pathlib import Path

import named
from named.dialect import Axis, ParseError
from named.jit import ArgSpec, CompiledFunction, spec


class UsageError(Exception):
    """The command line is wrong: printed as one message, exit status 2."""


# ------------------------------------------------------------------------------------ small parsers
_SPEC = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*\[(.*)\]\s*\Z", re.S)
_AXIS = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*([0-9]+)\s*")


def parse_spec(text: str) -> ArgSpec:
    """``"f32[batch=128, embed=64]"`` -> ``named.spec({"batch": 128, "embed": 64}, "f32")``.

    >>> parse_spec("f32[batch=2, embed=3]").type
    TensorType(dtype='f32', axes=(Axis(name='batch', size=2), Axis(name='embed', size=3)), sharding=None)
    """
    m = _SPEC.match(text)
    if m is None:
        at = text.find("[") if "[" in text else len(text)
        raise ParseError(f"expected a type like f32[batch=128, embed=64], got {text!r}", text, at)
    axes, pos, body_at = [], 0, m.start(2)
    body = m.group(2)
    while body.strip():
        a = _AXIS.match(body, pos)
        if a is None:
            raise ParseError("expected name=size", text, body_at + pos + (len(body[pos:]) - len(body[pos:].lstrip())))
        axes.append(Axis(a.group(1), int(a.group(2))))
        pos = a.end()
        if pos == len(body):
            break
        if body[pos] != ",":
            raise ParseError("expected ',' or ']'", text, body_at + pos)
        pos += 1
    names = [a.name for a in axes]
    for i, n in enumerate(names):
        if n in names[:i]:
            raise ParseError(f"axis {n!r} appears twice", text, body_at + body.rfind(n))
    try:
        return spec(tuple(axes), m.group(1))
    except TypeError as e:
        raise ParseError(str(e), text, m.start(1)) from None


def _pairs(text: str, what: str, example: str) -> list[tuple[str, str, int]]:
    """``"a=1,b=2"`` -> [(key, value, column of key)]; faults are ParseErrors with a caret."""
    out, pos = [], 0
    for part in text.split(","):
        key, eq, value = part.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise ParseError(f"expected name=value like {example}", text, pos + len(part) - len(part.lstrip()))
        out.append((key.strip(), value.strip(), pos))
        pos += len(part) + 1
    return out


def parse_mesh(text: str) -> dict[str, int]:
    """``"data=4,model=2"`` -> ``{"data": 4, "model": 2}``."""
    mesh = {}
    for key, value, at in _pairs(text, "--mesh", "data=4,model=2"):
        if not value.isdigit() or int(value) < 1:
            raise ParseError(f"the size of mesh axis {key!r} must be a positive integer", text,
                             text.index("=", at) + 1)
        mesh[key] = int(value)
    return mesh


def parse_mapping(items: list[str]) -> dict[str, tuple[str, ...]]:
    """``["batch=data", "hidden=model+data"]`` -> ``{"batch": ("data",), "hidden": ("model", "data")}``."""
    mapping = {}
    for text in items:
        for key, value, _ in _pairs(text, "--map", "batch=data"):
            mapping[key] = tuple(v.strip() for v in value.split("+"))
    return mapping


def _text_error(option: str, error: ParseError) -> UsageError:
    return UsageError(f"{option}: {error.message}")


# ------------------------------------------------------------------------------------ loading files
_LOADED: dict[tuple, object] = {}


def load_file(path: str):
    """Import the Python file at ``path`` as a module (once per version of the file)."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"no such file: {path}" if not p.exists() else f"not a file: {path}")
    stat = p.stat()
    key = (str(p.resolve()), stat.st_mtime_ns, stat.st_size)
    if key in _LOADED:
        return _LOADED[key]
    name = f"_named_user_{re.sub(r'[^0-9A-Za-z_]', '_', p.stem)}_{len(_LOADED)}"
    module_spec = importlib.util.spec_from_file_location(name, p)
    if module_spec is None or module_spec.loader is None:
        raise UsageError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up here
    folder = str(p.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # let the file import its neighbours, as `python FILE` would
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    _LOADED[key] = module
    return module


def resolve_target(target: str):
    """``"model.py:loss"`` -> (the function or CompiledFunction, the file's path)."""
    path, colon, func_name = target.rpartition(":")
    if not colon or not path or not func_name:
        raise UsageError(f"expected FILE.py:FUNCTION, got {target!r}")
    module = load_file(path)
    obj = module
    for part in func_name.split("."):
        if not hasattr(obj, part):
            found = sorted(n for n, v in vars(module).items() if not n.startswith("_") and (
                isinstance(v, CompiledFunction) or (inspect.isfunction(v) and v.__module__ == module.__name__)))
            raise UsageError(f"{path} has no function {func_name!r}; functions defined there: "
                             f"{', '.join(found) or 'none'}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise UsageError(f"{path}:{func_name} is a {type(obj).__name__}, not a function")
    return obj, path


# --------------------------------------------------------------------------------- building a program
def _annotation_spec(param: inspect.Parameter, fn) -> ArgSpec | None:
    ann = param.annotation
    if isinstance(ann, ArgSpec):
        return ann
    from named.typing import arg_spec  # named.typing annotations with sizes: f32["batch=128 embed=64"]
    if not isinstance(ann, str):
        return arg_spec(ann)
    if re.match(r"\s*[A-Za-z_][A-Za-z0-9_]*\s*\[[^'\"]*\]\s*$", ann):  # written as a type string: must parse
        try:
            return parse_spec(ann)
        except ParseError as e:
            raise UsageError(f"the annotation of parameter {param.name!r}: {e.message}") from None
    try:  # `from __future__ import annotations` keeps `named.spec(...)` as text
        value = eval(ann, getattr(fn, "__globals__", {}))  # noqa: S307  (the user's own code)
    except Exception:
        return None
    return value if isinstance(value, ArgSpec) else arg_spec(value)


def _nest(specs: dict[str, object], name: str, value, option: str) -> None:
    head, dot, rest = name.partition(".")
    if not dot:
        if head in specs:
            raise UsageError(f"{option} {name} is given twice")
        specs[head] = value
        return
    inner = specs.setdefault(head, {})
    if not isinstance(inner, dict):
        raise UsageError(f"{option} {name}: {head!r} is already given a type")
    _nest(inner, rest, value, option)


def _listify(value):
    """Nested dicts whose keys are 0..n-1 become lists (``--arg layers.0.w=...``)."""
    if not isinstance(value, dict):
        return value
    value = {k: _listify(v) for k, v in value.items()}
    if value and all(k.isdigit() for k in value) and sorted(map(int, value)) == list(range(len(value))):
        return [value[str(i)] for i in range(len(value))]
    return value


def build_function(args) -> tuple[CompiledFunction, list, dict]:
    """The CompiledFunction to lower, and the positional and keyword arguments to lower it with."""
    target, path = resolve_target(args.target)
    base = target if isinstance(target, CompiledFunction) else None
    fn = base.fn if base is not None else target
    specs: dict[str, object] = {}
    for item in args.arg or ():
        name, eq, text = item.partition("=")
        if not eq or not name.strip():
            raise UsageError(f"--arg expects NAME=TYPE like x=f32[batch=8,embed=4], got {item!r}")
        try:
            _nest(specs, name.strip(), parse_spec(text), "--arg")
        except ParseError as e:
            raise _text_error(f"--arg {name.strip()}", e) from None
    statics = {}
    for item in args.static or ():
        name, eq, text = item.partition("=")
        if not eq:
            raise UsageError(f"--static expects NAME=VALUE (a Python literal), got {item!r}")
        try:
            statics[name.strip()] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise UsageError(f"--static {name.strip()}: {text!r} is not a Python literal") from None
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        raise UsageError(f"cannot read the parameters of {args.target}") from None
    named_params = [p for p in params.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    for name in list(specs) + list(statics):
        if name not in params:
            raise UsageError(f"{args.target} has no parameter {name!r}; its parameters: "
                             f"{', '.join(p.name for p in named_params) or 'none'}")
    # Positionally while we can, so the IR's arguments follow the parameters' order.
    positional, keywords, gap = [], {}, False
    for p in named_params:
        if p.name in statics:
            value = statics[p.name]
        elif p.name in specs:
            value = _listify(specs[p.name])
        else:
            value = _annotation_spec(p, fn)
            if value is None:
                if p.default is p.empty:
                    raise UsageError(f"parameter {p.name!r} of {args.target} has no type: pass --arg "
                                     f"{p.name}=f32[axis=size,...] or annotate it ({p.name}: \"f32[...]\")")
                if p.kind is not p.POSITIONAL_ONLY:
                    gap = True
                    continue
                value = p.default
        if p.kind is p.KEYWORD_ONLY or (gap and p.kind is not p.POSITIONAL_ONLY):
            keywords[p.name] = value
        else:
            positional.append(value)
    mesh = mapping = None
    if args.mesh:
        try:
            mesh = parse_mesh(args.mesh)
        except ParseError as e:
            raise _text_error("--mesh", e) from None
    if args.map:
        try:
            mapping = parse_mapping(args.map)
        except ParseError as e:
            raise _text_error("--map", e) from None
    passes = pipeline_from_text(getattr(args, "passes", None))
    compiled = CompiledFunction(
        fn, static_argnames=tuple(statics) + (base.static_argnames if base else ()),
        static_argnums=base.static_argnums if base else (),
        axis_resources=mapping if mapping is not None else (base.axis_resources if base else None),
        mesh=mesh if mesh is not None else (base.mesh if base else None),
        passes=(base.passes if base else ()) + tuple(passes),
        builtin_passes=not getattr(args, "no_builtin_passes", False) and (base.builtin_passes if base else True),
        timing=bool(getattr(args, "timing", False)))
    return compiled, positional, keywords


def pipeline_from_text(text: str | None) -> list:
    if not text:
        return []
    try:
        return named.compiler.passes.parse_pipeline(text)
    except ParseError as e:
        raise _text_error("-p", e) from None
