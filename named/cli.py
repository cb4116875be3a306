"""The ``named`` command line: look at every stage of a program, check it, and run passes on IR.

    named dump model.py:loss --arg x=f32[batch=128,embed=64] --stage stablehlo
    named check model.py:loss --arg x=f32[batch=128,embed=64]
    named opt prog.nir -p canonicalize,cse,dce --lower

Exit status: 0 success, 1 the program or IR is wrong (the message says where), 2 the command line is
wrong (a bad spec, a missing file or function, an unknown pass), 3 an internal error.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import os
import re
import sys
import sysconfig
import time
import traceback
from pathlib import Path

import named
from named.compiler import format_error
from named.compiler.pipeline import format_timings
from named.dialect import Location, NamedError, ParseError
from named.dialect.errors import caret_excerpt

from ._cli_program import (UsageError, build_function, load_file, parse_mapping, parse_mesh, parse_spec,
                           pipeline_from_text)

__all__ = ["main", "build_parser", "report", "highlight", "UsageError", "parse_spec", "parse_mesh",
           "parse_mapping", "load_file"]

STAGES = ("traced", "checked", "optimized", "partitioned", "stablehlo", "hlo")


# ---------------------------------------------------------------------------------------- commands
def cmd_dump(args, out) -> int:
    compiled, positional, keywords = build_function(args)
    start = time.perf_counter()
    lowered = compiled.lower(*positional, **keywords)
    # lower() = tracing + the pipeline's recorded steps; what the steps do not account for is tracing
    traced_in = time.perf_counter() - start - sum(t for _, t in lowered.stages.timings)
    timings = []
    if args.stage == "hlo":
        start = time.perf_counter()
        text = lowered.compile().as_text()
        timings.append(("xla compile", time.perf_counter() - start))
    else:
        text = lowered.as_text(args.stage, locations=args.locations)
    out.write(highlight(text, out) if args.stage not in ("stablehlo", "hlo") else text)
    if not text.endswith("\n"):
        out.write("\n")
    if args.timing:
        steps = [("trace", max(traced_in, 0.0))] + lowered.stages.timings + timings
        sys.stderr.write("timing:\n" + format_timings(steps))
    return 0


def cmd_check(args, out) -> int:
    compiled, positional, keywords = build_function(args)
    lowered = compiled.lower(*positional, **keywords)
    fn = lowered.stages.checked
    signature = ", ".join(f"{p}: {t}" for p, t in zip(_param_names(compiled.fn, fn), fn.arg_types))
    results = ", ".join(map(str, fn.result_types))
    _check_return_annotation(compiled.fn, fn.result_types)
    ops = sum(1 for _ in fn.walk())
    where = f" on mesh {lowered.stages.partitioned.mesh}" if lowered.stages.partitioned.mesh else ""
    out.write(f"ok: {compiled.__name__}({signature}) -> ({results}): {ops} ops, every axis agrees{where}\n")
    return 0


def _check_return_annotation(fn, result_types) -> None:
    """The result against ``fn``'s return annotation, when it has one that names axes: a
    ``named.typing`` annotation (its own rules for order and ``...``) or a type string such as
    ``"f32[batch=8, hidden=2]"`` (these axes and sizes, in any order, and this dtype)."""
    from named.typing import AxesSpec, _hints, _mismatch
    spec = _hints(fn).get("return") if callable(fn) else None
    shown = str(spec)
    if spec is None:
        ann = inspect.signature(fn).return_annotation
        if isinstance(ann, str) and re.match(r"\s*[A-Za-z_][A-Za-z0-9_]*\s*\[[^'\"]*\]\s*$", ann):
            try:
                t = parse_spec(ann).type
            except ParseError as e:
                raise UsageError(f"the return annotation of {fn.__qualname__}: {e.message}") from None
            spec = AxesSpec(t.dtype, tuple((a.name, a.size) for a in t.axes), unordered=True)
            shown = repr(ann.strip())
    if spec is None:
        return
    code = getattr(fn, "__code__", None)
    loc = Location(os.path.relpath(code.co_filename), code.co_firstlineno) if code is not None else None
    if len(result_types) != 1:
        raise named.AxisError(f"{fn.__qualname__} returns {len(result_types)} values, but its return annotation "
                              f"{shown} describes one array", loc=loc)
    (t,) = result_types
    why = _mismatch(_TypeView(t), spec)
    if why is not None:
        raise named.AxisError(f"the result of {fn.__qualname__} should be {shown}, got {t}: {why}", loc=loc)


class _TypeView:
    """A result type seen as :func:`named.typing._mismatch` sees a NamedArray."""

    def __init__(self, t):
        self.dtype = named.dialect.to_numpy_dtype(t.dtype)
        self.axes = t.axes
        self.shape = {a.name: a.size for a in t.axes}


def _param_names(fn, ir_fn) -> list[str]:
    names = [p for p in inspect.signature(fn).parameters]
    return names if len(names) == len(ir_fn.args) else [f"%{i}" for i in range(len(ir_fn.args))]


def cmd_opt(args, out) -> int:
    if args.list_passes:
        return list_passes(out)
    if args.file is None:
        raise UsageError("opt needs an IR file (or - for standard input)")
    passes = pipeline_from_text(args.passes)
    if args.file == "-":
        text, path = sys.stdin.read(), "<stdin>"
    else:
        path = args.file
        if not Path(path).is_file():
            raise UsageError(f"no such file: {path}")
        try:
            text = Path(path).read_text()
        except UnicodeDecodeError:
            raise UsageError(f"{path} is not a text file") from None
    start = time.perf_counter()
    try:
        fn = named.dialect.parse(text)
    except ParseError as e:
        raise IRFileError(path, e) from None
    timings = [("parse", time.perf_counter() - start)]
    locations = args.locations if args.locations is not None else any(op.loc for op in fn.walk())
    manager = named.compiler.PassManager(passes, timing=args.timing)
    fn = manager.run(fn)
    timings += manager.timings
    if args.lower:
        start = time.perf_counter()
        module = named.compiler.lower_function(fn)
        result = module.operation.get_asm(enable_debug_info=True) if locations else str(module)
        timings.append(("lower", time.perf_counter() - start))
    else:
        result = highlight(named.dialect.print_function(fn, locations=locations), out)
    out.write(result if result.endswith("\n") else result + "\n")
    if args.timing:
        sys.stderr.write("timing:\n" + format_timings(timings))
    return 0


def list_passes(out) -> int:
    from named.compiler.passes import PASSES, pass_options
    for name in sorted(PASSES):
        cls = PASSES[name]
        doc = (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ")
        out.write(f"{name}: {doc}\n")
        for option, type_text, default in pass_options(cls):
            shown = "required" if default is dataclasses.MISSING else f"default {default!r}"
            out.write(f"    {option}: {type_text} ({shown})\n")
    return 0


class IRFileError(Exception):
    def __init__(self, path: str, error: ParseError):
        super().__init__(error.message)
        self.path, self.error = path, error


# ------------------------------------------------------------------------------------------ output
def _use_color(stream) -> bool:
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


_OPNAME = re.compile(r"(?<=[=\s])([A-Za-z_][A-Za-z0-9_]*\.[A-Za-z0-9_.]+)(?=[\s:])")


def highlight(text: str, stream) -> str:
    """Named IR with op names and function headers coloured, when ``stream`` is a terminal."""
    if not _use_color(stream):
        return text
    text = _OPNAME.sub(lambda m: f"\033[36m{m.group(1)}\033[0m", text)
    return re.sub(r"^(func @\S+)", lambda m: f"\033[1m{m.group(1)}\033[0m", text, flags=re.M)


_LIBRARY_DIRS = tuple({os.path.abspath(sysconfig.get_paths()[k]) + os.sep for k in ("stdlib", "purelib", "platlib")})


def _is_users(filename: str) -> bool:
    from named.compiler.tracer import _is_internal
    return not (_is_internal(filename) or filename.startswith("<") or os.path.abspath(filename).startswith(_LIBRARY_DIRS))


def _user_frame(tb) -> Location | None:
    """The innermost traceback frame in the user's code (not named's, jax's or a library's)."""
    from named.compiler.tracer import _short_path
    found = None
    for frame, line in traceback.walk_tb(tb):
        if _is_users(frame.f_code.co_filename):
            found = Location(_short_path(frame.f_code.co_filename), line)
    return found


def report(error: BaseException, color: bool) -> tuple[str, int]:
    """The message for ``error`` and the exit status."""
    if isinstance(error, UsageError):
        return f"named: error: {error}\n", 2
    if isinstance(error, IRFileError):
        e = error.error
        message = re.sub(r"^IR text(, line \d+, column \d+)?: ", "", e.message)
        where = f"{error.path}:{e.line}:{(e.column or 0) + 1}" if e.line else error.path
        return format_error(e, color=color, where=where, message=message), 1
    if isinstance(error, NamedError):
        return format_error(error, color=color), 1
    if isinstance(error, SyntaxError) and error.filename and _is_users(error.filename):
        text = error.text.rstrip("\n") if error.text else None
        message = f"{error.msg}\n{caret_excerpt(text, (error.offset or 1) - 1)}" if text else error.msg
        return format_error(error, color=color, where=f"{os.path.relpath(error.filename)}:{error.lineno}",
                            message=message), 1
    message = format_error(error, color=color, loc=_user_frame(error.__traceback__))
    raised_at = list(traceback.walk_tb(error.__traceback__))
    if raised_at and not _is_users(raised_at[-1][0].f_code.co_filename) and not isinstance(
            error, (TypeError, ValueError, OSError)):
        return message + "  (this looks like a bug in named; run again with --traceback to see where)\n", 3
    return message, 1


# ------------------------------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--load", action="append", metavar="FILE.py",
                        help="import FILE.py first (it may define ops, lowerings and passes); repeatable")
    common.add_argument("--traceback", action="store_true", help="show Python tracebacks of internal errors")
    program = argparse.ArgumentParser(add_help=False)
    program.add_argument("target", metavar="FILE.py:FUNC", help="the function to compile")
    program.add_argument("--arg", action="append", metavar="NAME=TYPE",
                         help="an argument's type, e.g. x=f32[batch=128,embed=64]; dotted names (params.w) "
                              "build dicts; repeatable; annotations on the function are used otherwise")
    program.add_argument("--static", action="append", metavar="NAME=VALUE",
                         help="a static argument, given as a Python literal; repeatable")
    program.add_argument("--mesh", metavar="AXIS=SIZE,...", help="device mesh, e.g. data=4,model=2")
    program.add_argument("--map", action="append", metavar="AXIS=MESH_AXIS",
                         help="resource mapping, e.g. batch=data (mesh axes joined by +); repeatable")

    parser = argparse.ArgumentParser(prog="named", description="named: look at, check and transform named-axis "
                                     "programs at every stage of their compilation.")
    parser.add_argument("--version", action="version", version=f"named {named.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    dump = sub.add_parser("dump", parents=[program, common], help="print a function at one stage of compilation",
                          description="Trace FUNC with the given argument types and print it at --stage.")
    dump.add_argument("--stage", choices=STAGES, default="partitioned",
                      help="traced, checked, optimized, partitioned (default; named IR), stablehlo, or "
                           "hlo (optimized HLO after XLA's SPMD partitioning)")
    dump.add_argument("--locations", action="store_true", help="show the user's source line of every op")
    dump.add_argument("-p", "--passes", metavar="PIPELINE", help="extra passes run before the built-ins, "
                      "e.g. 'mypass{option=1},cse'")
    dump.add_argument("--no-builtin-passes", action="store_true", help="skip canonicalize, cse and dce")
    dump.add_argument("--timing", action="store_true", help="print the time of each compilation step on stderr")
    dump.set_defaults(handler=cmd_dump)

    check = sub.add_parser("check", parents=[program, common], help="check a function's axes and shardings",
                           description="Trace and check FUNC; print the errors with file:line and the source "
                                       "line (exit 1), or say that it is fine (exit 0).")
    check.set_defaults(handler=cmd_check)

    opt = sub.add_parser("opt", parents=[common], help="run passes on IR text",
                         description="Read named IR text, run the passes, print the IR (or its StableHLO).")
    opt.add_argument("file", nargs="?", metavar="FILE.nir", help="IR text file, or - for standard input")
    opt.add_argument("-p", "--passes", metavar="PIPELINE",
                     help="comma-separated passes with options, e.g. 'canonicalize{max_constant_size=0},cse,dce'")
    opt.add_argument("--lower", action="store_true", help="print StableHLO instead of named IR")
    opt.add_argument("--timing", action="store_true", help="print the time of each step on stderr")
    opt.add_argument("--locations", action=argparse.BooleanOptionalAction, default=None,
                     help="print source locations (default: when the input has any)")
    opt.add_argument("--list-passes", action="store_true", help="list the registered passes and their options")
    opt.set_defaults(handler=cmd_opt)
    return parser


# -------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (the console script exits with it)."""
    from_shell = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, or argparse's own usage message
        return int(e.code or 0) if not isinstance(e.code, str) else 2
    try:
        if getattr(args, "mesh", None):
            _ensure_devices(args.mesh, argv, from_shell)
        for path in args.load or ():
            load_file(path)
        return args.handler(args, sys.stdout)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `named dump ... | head`
        return 0
    except Exception as error:
        if args.traceback:
            traceback.print_exc()
        message, status = report(error, _use_color(sys.stderr))
        sys.stdout.flush()
        sys.stderr.write(message)
        return status


MAX_FAKE_DEVICES = 1024
"""Above this many devices `--mesh` is not emulated with fake CPU devices (building them would take
minutes); the mesh check reports the shortage instead."""


def _ensure_devices(mesh_text: str, argv: list[str], from_shell: bool) -> None:
    """With too few devices for ``--mesh``, run again on that many fake CPU devices (XLA reads the
    device count once per process, before any of our code runs)."""
    try:
        size = 1
        for n in parse_mesh(mesh_text).values():
            size *= n
    except ParseError:
        return  # reported when the function is built
    import jax
    if len(jax.devices()) >= size or not from_shell or os.environ.get("_NAMED_CLI_REEXEC"):
        return
    if size > MAX_FAKE_DEVICES:  # leave it to the mesh check's ShardingError: too few devices
        return
    env = dict(os.environ, _NAMED_CLI_REEXEC="1")
    flags = re.sub(r"--xla_force_host_platform_device_count=\d+", "", env.get("XLA_FLAGS", ""))
    env["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={size}".strip()
    if jax.default_backend() != "cpu":
        if "JAX_PLATFORMS" in os.environ:
            return  # the user chose a platform; the mesh error will say what is missing
        env["JAX_PLATFORMS"] = "cpu"
    sys.stderr.write(f"named: note: using {size} CPU devices for the mesh {mesh_text}\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "named", *argv], env)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
