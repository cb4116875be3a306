"""The ``named`` command line, run as a user runs it: the console script next to the interpreter and
``python -m named``, on files in a temporary folder. Error paths are also run in-process (faster)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from named.cli import main, parse_mapping, parse_mesh, parse_spec

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(sys.executable).parent / "named"
ENTRIES = {"script": [str(SCRIPT)], "module": [sys.executable, "-m", "named"]}

MODEL = '''
import named


def mlp(x, w, b):
    h = named.dot(x, w, axis="embed")
    h = named.rename(named.rename(h, {"hidden": "tmp"}), {"tmp": "hidden"})
    return named.nn.relu(h + b).sum("hidden")


def annotated(x: "f32[batch=8, embed=4]", w: named.spec({"embed": 4, "hidden": 2}), scale=2.0):
    return named.dot(x, w, axis="embed") * scale


@named.compile
def already_compiled(x: "f32[batch=8]"):
    return named.exp(x)


def broken(x, b):
    y = x * 2
    return y + b


def crashes(x):
    return len(x)


def nested(params, x):
    return named.dot(x, params["w"], axis="embed") + params["layers"][1]["b"]


def with_static(x, axis):
    return x.sum(axis)
'''

IR = '''
func @f(%0: f32[a=2, b=3], %1: f32[b=3]) -> (f32[a=2, b=3]) {
  %2 = named.transpose %0 {order = ["b", "a"]} : f32[b=3, a=2]
  %3 = named.transpose %2 {order = ["a", "b"]} : f32[a=2, b=3]
  %4 = named.full {value = 2.0, dtype = "f32", axes = []} : f32[]
  %5 = named.full {value = 3.0, dtype = "f32", axes = []} : f32[]
  %6 = named.mul %4, %5 : f32[]
  %7 = named.add %3, %6 : f32[a=2, b=3]
  %8 = named.add %3, %6 : f32[a=2, b=3]
  %9 = named.mul %7, %8 : f32[a=2, b=3]
  return %9
}
'''.lstrip()

OPTIMIZED_IR = '''
func @f(%0: f32[a=2, b=3], %1: f32[b=3]) -> (f32[a=2, b=3]) {
  %2 = named.full {value = 6.0, dtype = "f32", axes = []} : f32[]
  %3 = named.add %0, %2 : f32[a=2, b=3]
  %4 = named.mul %3, %3 : f32[a=2, b=3]
  return %4
}
'''.lstrip()

MLP_ARGS = ["--arg", "x=f32[batch=8,embed=4]", "--arg", "w=f32[embed=4, hidden=16]", "--arg", "b=f32[hidden=16]"]


@pytest.fixture
def work(tmp_path):
    (tmp_path / "model.py").write_text(MODEL)
    (tmp_path / "prog.nir").write_text(IR)
    return tmp_path


def run(work, *args, entry="module", env=None, stdin=None):
    proc = subprocess.run(ENTRIES[entry] + list(args), cwd=work, capture_output=True, text=True, timeout=300,
                          env=env if env is not None else dict(os.environ), input=stdin)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_the_console_script_is_installed_next_to_the_interpreter():
    assert SCRIPT.is_file() and os.access(SCRIPT, os.X_OK)


# ------------------------------------------------------------------------------------------- help
@pytest.mark.parametrize("entry,command", [("script", []), ("module", []), ("script", ["dump"]),
                                           ("module", ["check"]), ("script", ["opt"])])
def test_help(work, entry, command):
    proc = run(work, *command, "--help", entry=entry)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.startswith("usage: named")
    expected = {(): ["dump", "check", "opt"], ("dump",): ["--arg", "--stage", "--mesh", "--map", "--locations"],
                ("check",): ["--arg", "FILE.py:FUNC"], ("opt",): ["--lower", "--timing", "-p"]}[tuple(command)]
    for word in expected:
        assert word in proc.stdout


# ------------------------------------------------------------------------------------------- dump
@pytest.mark.parametrize("stage,entry,present,absent", [
    ("traced", "script", ["func @mlp(", "named.dot", "named.rename"], ["@data"]),
    ("checked", "module", ["func @mlp(", "named.rename"], ["@data"]),
    ("optimized", "script", ["named.dot", "named.select"], ["named.rename", "@data"]),
    ("partitioned", "module", ["f32[batch=8@data, embed=4]", "on mesh<data=4, model=2>", "hidden=16@model"], []),
    ("stablehlo", "script", ["sdy.mesh @mesh", "stablehlo.dot_general", "sdy.sharding"], ["named."]),
    ("hlo", "module", ["HloModule", "dot("], ["named."]),
])
def test_dump_every_stage(work, stage, entry, present, absent):
    proc = run(work, "dump", "model.py:mlp", *MLP_ARGS, "--stage", stage, "--mesh", "data=4,model=2",
               "--map", "batch=data", "--map", "hidden=model", entry=entry)
    assert proc.returncode == 0, proc.stderr
    for word in present:
        assert word in proc.stdout, word
    for word in absent:
        assert word not in proc.stdout, word
    if stage in ("traced", "checked"):  # arguments follow the parameters' order
        assert "func @mlp(%0: f32[batch=8, embed=4], %1: f32[embed=4, hidden=16], %2: f32[hidden=16])" in proc.stdout


def test_dump_defaults_to_partitioned_and_shows_locations(work):
    proc = run(work, "dump", "model.py:mlp", *MLP_ARGS, "--locations")
    assert proc.returncode == 0, proc.stderr
    assert 'named.dot %0, %1 {contract = ["embed"]} : f32[batch=8, hidden=16] loc("model.py":6)' in proc.stdout
    assert "named.rename" not in proc.stdout  # the built-in passes ran


def test_dump_reads_types_from_annotations_and_compiled_functions(work):
    proc = run(work, "dump", "model.py:annotated")
    assert proc.returncode == 0, proc.stderr
    assert "func @annotated(%0: f32[batch=8, embed=4], %1: f32[embed=4, hidden=2])" in proc.stdout
    proc = run(work, "dump", "model.py:already_compiled", "--stage", "stablehlo", entry="script")
    assert proc.returncode == 0, proc.stderr
    assert "stablehlo.exponential" in proc.stdout


def test_dump_builds_pytrees_from_dotted_names_and_takes_statics(work):
    proc = run(work, "dump", "model.py:nested", "--arg", "x=f32[batch=2,embed=3]", "--arg",
               "params.w=f32[embed=3,out=4]", "--arg", "params.layers.0.b=f32[out=4]", "--arg",
               "params.layers.1.b=f32[out=4]", "--stage", "traced")
    assert proc.returncode == 0, proc.stderr
    assert "named.dot" in proc.stdout and "f32[batch=2, out=4]" in proc.stdout
    proc = run(work, "dump", "model.py:with_static", "--arg", "x=f32[a=2,b=3]", "--static", "axis='b'")
    assert proc.returncode == 0, proc.stderr
    assert '{axes = ["b"]}' in proc.stdout


def test_dump_timing_and_no_builtin_passes(work):
    proc = run(work, "dump", "model.py:mlp", *MLP_ARGS, "--timing", "--stage", "stablehlo")
    assert proc.returncode == 0, proc.stderr
    for step in ("trace", "check", "canonicalize", "cse", "dce", "partition", "lower", "total", "ms"):
        assert step in proc.stderr, step
    proc = run(work, "dump", "model.py:mlp", *MLP_ARGS, "--no-builtin-passes", "--stage", "optimized")
    assert "named.rename" in proc.stdout


def test_a_mesh_larger_than_the_devices_reruns_on_fake_cpu_devices(work):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    proc = run(work, "dump", "model.py:mlp", *MLP_ARGS, "--stage", "hlo", "--mesh", "data=4,model=2",
               "--map", "batch=data", env=env, entry="script")
    assert proc.returncode == 0, proc.stderr
    assert "using 8 CPU devices" in proc.stderr
    assert "HloModule" in proc.stdout and "f32[2,4]" in proc.stdout  # batch 8 split over data=4


# ------------------------------------------------------------------------------------------ check
def test_check_reports_an_axis_error_with_the_users_line_and_exits_1(work):
    proc = run(work, "check", "model.py:broken", "--arg", "x=f32[batch=8,embed=4]", "--arg", "b=f32[embed=3]")
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("model.py:22: AxisError: named.add: axis 'embed' has size 4")
    assert "[batch=8, embed=4]" in lines[0] and "size 3" in lines[0] and "[embed=3]" in lines[0]
    assert lines[1].strip() == "22 |     return y + b"
    assert proc.stdout == ""


def test_check_says_when_the_program_is_fine(work):
    proc = run(work, "check", "model.py:mlp", *MLP_ARGS, entry="script")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok: mlp(x: f32[batch=8, embed=4], w: f32[embed=4, hidden=16], b: f32[hidden=16])")
    assert "every axis agrees" in proc.stdout


def test_check_reports_sharding_errors(work):
    proc = run(work, "check", "model.py:mlp", *MLP_ARGS, "--mesh", "data=2", "--map", "hidden=data",
               "--map", "embed=data")
    assert proc.returncode == 1
    assert "ShardingError" in proc.stderr and "'data'" in proc.stderr


def test_check_reports_errors_raised_by_user_code_and_syntax_errors(work):
    proc = run(work, "check", "model.py:crashes", "--arg", "x=f32[a=2]")
    assert proc.returncode == 1
    assert proc.stderr.startswith("model.py:26: TypeError: len() of a NamedArray is ambiguous")
    (work / "bad.py").write_text("def f(x):\n    return x +* 2\n")
    proc = run(work, "check", "bad.py:f", "--arg", "x=f32[a=2]")
    assert proc.returncode == 1
    assert proc.stderr.startswith("bad.py:2: SyntaxError: invalid syntax")
    assert "return x +* 2" in proc.stderr and "^" in proc.stderr


# -------------------------------------------------------------------------------------------- opt
def test_opt_without_passes_prints_its_input_back(work):
    proc = run(work, "opt", "prog.nir", entry="script")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == IR
    located = IR.replace("f32[b=3, a=2]\n", 'f32[b=3, a=2] loc("model.py":3)\n', 1)
    (work / "located.nir").write_text(located)
    assert run(work, "opt", "located.nir").stdout == located
    assert run(work, "opt", "-", stdin=IR).stdout == IR


def test_opt_runs_passes_and_lowers(work):
    proc = run(work, "opt", "prog.nir", "-p", "canonicalize,cse,dce", "--timing")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == OPTIMIZED_IR
    for step in ("parse", "canonicalize", "cse", "dce", "verify", "total"):
        assert step in proc.stderr
    proc = run(work, "opt", "prog.nir", "-p", "canonicalize{fold_constants=false}", "--lower", entry="script")
    assert proc.returncode == 0, proc.stderr
    assert "func.func public @main(%arg0: tensor<2x3xf32>, %arg1: tensor<3xf32>)" in proc.stdout
    assert "stablehlo.multiply" in proc.stdout and "stablehlo.transpose" not in proc.stdout


def test_opt_rejects_malformed_ir_with_a_caret(work):
    (work / "bad.nir").write_text("func @f(%0: f32[a=2]) -> (f32[a=2]) {\n  %1 = named.exp %0 f32[a=2]\n  return %1\n}\n")
    proc = run(work, "opt", "bad.nir")
    assert proc.returncode == 1 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines[0] == "bad.nir:2:21: ParseError: unexpected 'f32'"
    assert lines[1].strip() == "%1 = named.exp %0 f32[a=2]"
    assert lines[2].index("^") == lines[1].index("f32")
    (work / "typed.nir").write_text("func @f(%0: f32[a=2]) -> (f32[a=2]) {\n  %1 = named.exp %0 : f32[a=3]\n"
                                    "  return %1\n}\n")
    proc = run(work, "opt", "typed.nir", entry="script")
    assert proc.returncode == 1
    assert "typed.nir:2:3: ParseError:" in proc.stderr and "f32[a=3]" in proc.stderr and "f32[a=2]" in proc.stderr


BREAKER = '''
from dataclasses import dataclass
from named.compiler import Pass
from named.dialect import Axis, TensorType


@dataclass(frozen=True)
class Breaker(Pass):
    name = "cli-breaker"

    def run(self, fn):
        fn.ops[0].results[0].type = TensorType("f32", (Axis("zz", 7),))
        return fn
'''


def test_a_pass_that_breaks_the_ir_is_caught_and_named(work):
    (work / "breaker.py").write_text(BREAKER)
    proc = run(work, "opt", "prog.nir", "--load", "breaker.py", "-p", "cse,cli-breaker,dce")
    assert proc.returncode == 1
    assert "VerifyError: the IR is invalid after pass 'cli-breaker'" in proc.stderr
    assert "f32[zz=7]" in proc.stderr


def test_opt_runs_a_users_pass_from_a_loaded_file(work):
    (work / "growth.nir").write_text(textwrap.dedent('''\
        func @g(%0: f32[a=4]) -> (f32[a=4]) {
          %1 = named.exp %0 : f32[a=4]
          %2 = named.full {value = 1.0, dtype = "f32", axes = []} : f32[]
          %3 = named.sub %1, %2 : f32[a=4]
          return %3
        }
        '''))
    proc = run(work, "opt", "growth.nir", "--load", str(ROOT / "examples" / "custom_pass.py"), "-p", "expm1-fusion")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "func @g(%0: f32[a=4]) -> (f32[a=4]) {\n  %1 = named.expm1 %0 : f32[a=4]\n  return %1\n}\n"


OVERRIDE = '''
from named.compiler import register_lowering
from named.compiler.lowering import mlir
from named.dialect import Exp


@register_lowering(Exp, override=True)
def exp_via_expm1(ctx, x):  # exp(x) = expm1(x) + 1, to show that the override is what runs
    one = mlir.stablehlo.constant(mlir.dense(__import__("numpy").ones(ctx.out_type.shape, "float32"), "f32"))
    return mlir.stablehlo.add(mlir.stablehlo.exponential_minus_one(x), one)
'''


def test_a_user_lowering_override_is_visible_in_the_stablehlo(work):
    (work / "override.py").write_text(OVERRIDE)
    (work / "exp.nir").write_text("func @e(%0: f32[a=2]) -> (f32[a=2]) {\n  %1 = named.exp %0 : f32[a=2]\n"
                                  "  return %1\n}\n")
    plain = run(work, "opt", "exp.nir", "--lower")
    assert "stablehlo.exponential " in plain.stdout
    proc = run(work, "opt", "exp.nir", "--lower", "--load", "override.py", entry="script")
    assert proc.returncode == 0, proc.stderr
    assert "stablehlo.exponential_minus_one" in proc.stdout and "stablehlo.exponential " not in proc.stdout
    proc = run(work, "dump", "model.py:already_compiled", "--stage", "stablehlo", "--load", "override.py")
    assert "stablehlo.exponential_minus_one" in proc.stdout


def test_opt_lists_passes_with_their_options(work):
    proc = run(work, "opt", "--list-passes")
    assert proc.returncode == 0
    assert "canonicalize:" in proc.stdout and "max_constant_size: int (default 1024)" in proc.stdout
    assert "cse:" in proc.stdout and "dce:" in proc.stdout


# ----------------------------------------------------------------------------------- user errors
def test_a_bad_spec_is_one_message_with_a_caret_in_a_real_process(work):
    proc = run(work, "dump", "model.py:mlp", "--arg", "x=f32[batch=8,embed=4x]", entry="script")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == ["named: error: --arg x: expected ',' or ']'",
                                        "    f32[batch=8,embed=4x]", "                       ^"]


@pytest.mark.parametrize("args,status,words", [
    (["dump", "nope.py:f"], 2, ["no such file: nope.py"]),
    (["dump", "model.py:nope"], 2, ["model.py has no function 'nope'", "mlp", "broken", "already_compiled"]),
    (["dump", "model.py"], 2, ["expected FILE.py:FUNCTION, got 'model.py'"]),
    (["dump", "model.py:mlp"], 2, ["parameter 'x' of model.py:mlp has no type", "--arg x="]),
    (["dump", "model.py:mlp", "--arg", "q=f32[a=1]"], 2, ["has no parameter 'q'", "x, w, b"]),
    (["dump", "model.py:mlp", "--arg", "x"], 2, ["--arg expects NAME=TYPE"]),
    (["dump", "model.py:mlp", "--arg", "x=f33[a=1]"], 2, ["unsupported dtype 'f33'"]),
    (["dump", "model.py:mlp", "--arg", "x=f32[a=1,a=2]"], 2, ["axis 'a' appears twice"]),
    (["dump", "model.py:mlp", "--arg", "x=f32(a=1)"], 2, ["expected a type like f32[batch=128, embed=64]"]),
    (["dump", "model.py:mlp", "--arg", "x=f32[a=1]", "--arg", "x=f32[a=1]"], 2, ["--arg x is given twice"]),
    (["dump", "model.py:with_static", "--arg", "x=f32[a=1]", "--static", "axis=open("], 2, ["not a Python literal"]),
    (["dump", "model.py:mlp", *MLP_ARGS, "--mesh", "data=four"], 2, ["--mesh", "positive integer"]),
    (["dump", "model.py:mlp", *MLP_ARGS, "--mesh", "data"], 2, ["--mesh", "expected name=value"]),
    (["dump", "model.py:mlp", *MLP_ARGS, "--map", "batch"], 2, ["--map", "expected name=value like batch=data"]),
    (["dump", "model.py:mlp", *MLP_ARGS, "--mesh", "data=2", "--map", "batch=model"], 1,
     ["ShardingError", "'model'", "data"]),
    (["dump", "model.py:mlp", *MLP_ARGS, "--map", "batch=data"], 1, ["ShardingError", "without a mesh"]),
    (["dump", "model.py:mlp", *MLP_ARGS, "-p", "cse,nope"], 2, ["unknown pass 'nope'", "^"]),
    (["dump", "model.py:mlp", *MLP_ARGS, "-p", "canonicalize{size=1}"], 2, ["has no option 'size'"]),
    (["dump", "model.py:mlp", *MLP_ARGS, "--stage", "bogus"], 2, ["invalid choice: 'bogus'"]),
    (["opt", "missing.nir"], 2, ["no such file: missing.nir"]),
    (["opt"], 2, ["opt needs an IR file"]),
    (["opt", "prog.nir", "--load", "missing.py"], 2, ["no such file: missing.py"]),
    (["frobnicate"], 2, ["invalid choice: 'frobnicate'"]),
])
def test_user_errors_are_one_clear_message(work, monkeypatch, capsys, args, status, words):
    monkeypatch.chdir(work)
    assert main(args) == status
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    for word in words:
        assert word in err, err


def test_main_in_process_writes_the_ir(work, monkeypatch, capsys):
    monkeypatch.chdir(work)
    assert main(["dump", "model.py:annotated", "--stage", "traced"]) == 0
    assert capsys.readouterr().out.startswith("func @annotated(")
    assert main(["opt", "prog.nir", "-p", "canonicalize,cse,dce"]) == 0
    assert capsys.readouterr().out == OPTIMIZED_IR


def test_small_parsers():
    assert parse_spec(" i32[ a = 2 ,b=3 ] ").type.shape == (2, 3)
    assert parse_spec("f32[]").axes == ()
    assert parse_spec("float32[a=1]").dtype == "f32"
    assert parse_mesh("data=4, model=2") == {"data": 4, "model": 2}
    assert parse_mapping(["batch=data", "hidden=model+data"]) == {"batch": ("data",), "hidden": ("model", "data")}


# ---------------------------------------------------------------------------------------- colour
def _run_on_a_terminal(work, args, env):
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(ENTRIES["module"] + args, cwd=work, stdout=terminal, stderr=subprocess.DEVNULL, env=env)
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=300)
    os.close(controller)
    return b"".join(chunks).decode()


def test_colour_only_on_a_terminal(work):
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    on_terminal = _run_on_a_terminal(work, ["opt", "prog.nir"], env)
    assert "\033[36mnamed.transpose\033[0m" in on_terminal
    assert "\033[" not in run(work, "opt", "prog.nir", env=env).stdout
    assert "\033[" not in _run_on_a_terminal(work, ["opt", "prog.nir"], dict(env, NO_COLOR="1"))


RETURNS = '''
import named
from named.typing import f32


def good(x: "f32[batch=8, embed=4]") -> "f32[batch=8]":
    return x.sum("embed")


def wrong_axes(x: "f32[batch=8, embed=4]") -> "f32[embed=4]":
    return x.sum("embed")


def typed(x: f32["batch=8 embed=4"]) -> f32["batch embed"]:
    return x.sum("embed")


def any_order(x: "f32[batch=8, embed=4]") -> "f32[embed=4, batch=8]":
    return x * 2


def two(x: "f32[batch=8]") -> "f32[batch=8]":
    return x, x
'''


@pytest.mark.parametrize("func, status, words", [
    ("good", 0, ["ok: good("]),
    ("any_order", 0, ["ok: any_order("]),
    ("wrong_axes", 1, ["returns.py:10: AxisError: the result of wrong_axes should be 'f32[embed=4]', got "
                       "f32[batch=8]: axes ['embed'] are missing"]),
    ("typed", 1, ["returns.py:14: AxisError: the result of typed should be", "axes ['embed'] are missing"]),
    ("two", 1, ["two returns 2 values, but its return annotation 'f32[batch=8]' describes one array"]),
])
def test_check_holds_the_result_to_the_return_annotation(work, monkeypatch, capsys, func, status, words):
    (work / "returns.py").write_text(RETURNS)
    monkeypatch.chdir(work)
    assert main(["check", f"returns.py:{func}"]) == status
    out, err = capsys.readouterr()
    for word in words:
        assert word in (out if status == 0 else err), (out, err)
