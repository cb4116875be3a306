"""Writing passes: the rewrite-pattern driver, the pass manager's verification (naming the guilty
pass), timings, pass registration, pass pipelines as text, and the docstring examples."""

from __future__ import annotations

import doctest
import textwrap
from dataclasses import dataclass

import pytest

import named
from named.compiler.passes import (CSE, DCE, PASSES, Canonicalize, Pass, PassManager, RewritePass,
                                   RewritePattern, apply_patterns, parse_pipeline)
from named.compiler.passes import base, canonicalize, cse, dce, fold, options, rewriter
from named.dialect import (Axis, BinaryOp, Exp, Full, Neg, ParseError, TensorType, VerifyError, parse,
                           print_function)


def ir(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


def assert_rewrites(before: str, after: str, *passes) -> None:
    after = ir(after)
    assert print_function(parse(after)) == after, "the expected text is not canonical"
    assert print_function(PassManager(list(passes)).run(parse(ir(before)))) == after


# ---------------------------------------------------------------------------------------- rewriter
class NegNeg(RewritePattern):
    op_types = (Neg,)

    def match_and_rewrite(self, op, rewriter):
        inner = op.operands[0].owner
        if isinstance(inner, Neg):
            rewriter.replace_op(op, inner.operands[0])


class AddToSub(RewritePattern):
    """x + y -> x - neg(y): exercises create() and patterns on a base class."""
    op_types = (BinaryOp,)

    def match_and_rewrite(self, op, rewriter):
        if op.name == "named.add":
            neg = rewriter.create(Neg, [op.operands[1]])
            rewriter.replace_op(op, rewriter.create(named.dialect.BINARY_OPS["sub"], [op.operands[0], neg.result]))


def test_rewriter_applies_patterns_to_a_fixpoint_and_new_ops_keep_the_location():
    fn = parse(ir("""
        func @f(%0: f32[a=2], %1: f32[a=2]) -> (f32[a=2]) {
          %2 = named.neg %1 : f32[a=2] loc("model.py":3)
          %3 = named.neg %2 : f32[a=2] loc("model.py":4)
          %4 = named.neg %3 : f32[a=2] loc("model.py":5)
          %5 = named.neg %4 : f32[a=2] loc("model.py":6)
          %6 = named.add %0, %5 : f32[a=2] loc("model.py":7)
          return %6
        }"""))
    assert apply_patterns(fn, [NegNeg(), AddToSub()])
    DCE().run(fn)
    assert print_function(fn, locations=True) == ir("""
        func @f(%0: f32[a=2], %1: f32[a=2]) -> (f32[a=2]) {
          %2 = named.neg %1 : f32[a=2] loc("model.py":7)
          %3 = named.sub %0, %2 : f32[a=2] loc("model.py":7)
          return %3
        }""")
    assert not apply_patterns(fn, [NegNeg()])


def test_rewrite_pass_removes_what_the_rewrites_leave_dead():
    @dataclass(frozen=True)
    class NoDoubleNeg(RewritePass):
        name = "test-no-double-neg"

        def patterns(self):
            return [NegNeg()]

    assert_rewrites("""
        func @f(%0: f32[a=2]) -> (f32[a=2]) {
          %1 = named.neg %0 : f32[a=2]
          %2 = named.neg %1 : f32[a=2]
          %3 = named.exp %2 : f32[a=2]
          return %3
        }""", """
        func @f(%0: f32[a=2]) -> (f32[a=2]) {
          %1 = named.exp %0 : f32[a=2]
          return %1
        }""", NoDoubleNeg())


class WrongType(RewritePattern):
    op_types = (Exp,)

    def match_and_rewrite(self, op, rewriter):
        rewriter.replace_op(op, rewriter.create(Full, [], {"value": 1.0, "dtype": "f32", "axes": (Axis("b", 2),)}))


class EraseUsed(RewritePattern):
    op_types = (Exp,)

    def match_and_rewrite(self, op, rewriter):
        rewriter.erase_op(op)


class BadCreate(RewritePattern):
    op_types = (Exp,)

    def match_and_rewrite(self, op, rewriter):
        rewriter.create(named.dialect.BINARY_OPS["add"], [op.operands[0], op.operands[1] if len(op.operands) > 1
                                                          else rewriter.create(Full, [], {"value": 1.0, "dtype": "f32",
                                                          "axes": (Axis("a", 3),)}).result])


EXP = """
    func @f(%0: f32[a=2]) -> (f32[a=2]) {
      %1 = named.exp %0 : f32[a=2] loc("model.py":9)
      %2 = named.neg %1 : f32[a=2]
      return %2
    }"""


@pytest.mark.parametrize("pattern,words", [
    (WrongType(), ["WrongType", "f32[a=2]", "f32[b=2]"]),
    (EraseUsed(), ["pattern EraseUsed erased named.exp, but it is still used by named.neg"]),
    (BadCreate(), ["BadCreate", "invalid named.add", "'a'", "size 2", "size 3"]),
])
def test_rewriter_refuses_broken_rewrites_and_names_the_pattern(pattern, words):
    with pytest.raises(VerifyError) as info:
        apply_patterns(parse(ir(EXP)), [pattern])
    for word in words:
        assert word in str(info.value)
    assert "model.py:9" in str(info.value)


def test_rewriter_rejects_a_non_pattern():
    with pytest.raises(TypeError, match="is not a RewritePattern"):
        apply_patterns(parse(ir(EXP)), [object()])


# ------------------------------------------------------------------------------------ pass manager
@dataclass(frozen=True)
class Breaker(Pass):
    """Changes an op's result type behind the type rule's back."""
    name = "test-breaker"

    def run(self, fn):
        fn.ops[0].results[0].type = TensorType("f32", (Axis("a", 5),))
        return fn


@dataclass(frozen=True)
class Crasher(Pass):
    name = "test-crasher"

    def run(self, fn):
        return {}["missing"]


@dataclass(frozen=True)
class ReturnsNothing(Pass):
    name = "test-returns-nothing"

    def run(self, fn):
        return None


@dataclass(frozen=True)
class ChangesSignature(Pass):
    name = "test-changes-signature"

    def run(self, fn):
        fn.body.results = [fn.args[0]]
        return fn


@dataclass(frozen=True)
class RaisesAxisError(Pass):
    name = "test-raises-axis-error"

    def run(self, fn):
        raise named.AxisError("axis 'a' of size 2 is not wanted here")


@pytest.mark.parametrize("bad,error,words", [
    (Breaker(), VerifyError, ["after pass 'test-breaker'", "named.exp", "f32[a=5]", "f32[a=2]"]),
    (Crasher(), VerifyError, ["pass 'test-crasher' failed", "KeyError"]),
    (ReturnsNothing(), VerifyError, ["pass 'test-returns-nothing' returned NoneType"]),
    (ChangesSignature(), VerifyError, ["after pass 'test-changes-signature'", "result types changed"]),
    (RaisesAxisError(), named.AxisError, ["pass 'test-raises-axis-error'", "axis 'a' of size 2"]),
])
def test_pass_manager_names_the_guilty_pass(bad, error, words):
    text = ir("""
        func @f(%0: f32[a=2], %1: f32[b=3]) -> (f32[b=3]) {
          %2 = named.exp %0 : f32[a=2]
          %3 = named.exp %1 : f32[b=3]
          return %3
        }""")
    with pytest.raises(error) as info:
        PassManager([CSE(), bad, DCE()]).run(parse(text))
    for word in words:
        assert word in str(info.value)


def test_a_breaking_user_pass_is_caught_under_named_compile():
    f = named.compile(lambda x: named.exp(x), passes=[Breaker()])
    with pytest.raises(VerifyError, match="after pass 'test-breaker'"):
        f(named.ones(named.make_axes(a=2)))


def test_pass_manager_records_timings_per_pass():
    manager = PassManager([Canonicalize(), CSE(), DCE()], timing=True)
    manager.run(parse(ir(EXP)))
    assert [name for name, _ in manager.timings] == ["canonicalize", "cse", "dce", "verify"]
    assert all(seconds >= 0 for _, seconds in manager.timings)


def test_compile_with_timing_exposes_every_step_on_the_lowered_stages():
    f = named.compile(lambda x: named.exp(x).sum("a"), timing=True)
    lowered = f.lower(named.spec({"a": 4}))
    lowered.as_text("stablehlo")
    steps = [name for name, _ in lowered.stages.timings]
    assert steps == ["check", "canonicalize", "cse", "dce", "verify", "partition", "lower"]
    report = lowered.stages.timing_report()
    assert "canonicalize" in report and "total" in report and "ms" in report
    untimed = named.compile(lambda x: named.exp(x)).lower(named.spec({"a": 4}))
    assert untimed.stages.timings == [] and "timing=True" in untimed.stages.timing_report()


def test_user_passes_run_before_the_builtins():
    seen = []

    @dataclass(frozen=True)
    class Spy(Pass):
        name = "test-spy"

        def run(self, fn):
            seen.append(print_function(fn))
            return fn

    f = named.compile(lambda x: named.exp(named.rename(named.rename(x, {"a": "b"}), {"b": "a"})), passes=[Spy()])
    lowered = f.lower(named.spec({"a": 2}))
    assert seen[0].count("named.rename") == 2  # canonicalize had not run yet
    assert "named.rename" not in lowered.as_text("optimized")


def test_pass_names_are_unique_unless_overridden():
    with pytest.raises(ValueError, match="a pass named 'cse' is already defined"):
        @dataclass(frozen=True)
        class MyCSE(Pass):
            name = "cse"
    try:
        @dataclass(frozen=True)
        class MyCSE2(Pass, override=True):
            name = "cse"
        assert PASSES["cse"] is MyCSE2
    finally:
        PASSES["cse"] = CSE


# -------------------------------------------------------------------------------- pipelines as text
@dataclass(frozen=True)
class Tunable(Pass):
    name = "test-tunable"
    flag: bool = False
    count: int = 1
    ratio: float = 0.5
    label: str = "x"
    names: tuple[str, ...] = ()
    limit: int | None = None

    def run(self, fn):
        return fn


@dataclass(frozen=True)
class NeedsOption(Pass):
    name = "test-needs-option"
    level: int

    def run(self, fn):
        return fn


def test_parse_pipeline_converts_options_to_field_types():
    (p,) = parse_pipeline('test-tunable{flag=true, count=0x10, ratio=2e-3, label="a,b{c}", names=[u, v], limit=none}')
    assert p == Tunable(flag=True, count=16, ratio=2e-3, label="a,b{c}", names=("u", "v"), limit=None)
    (p,) = parse_pipeline("test-tunable{flag=off,names=solo,limit=3}")
    assert p == Tunable(flag=False, names=("solo",), limit=3)
    assert [type(p) for p in parse_pipeline(" cse , dce,canonicalize{} ")] == [CSE, DCE, Canonicalize]
    assert parse_pipeline("") == []


@pytest.mark.parametrize("text,words,column", [
    ("cse,nope", ["unknown pass 'nope'", "canonicalize, cse, dce"], 4),
    ("test-tunable{count=many}", ["option 'count' of pass 'test-tunable'", "expected an integer, got 'many'"], 19),
    ("test-tunable{flag=maybe}", ["expected true or false, got 'maybe'"], 18),
    ("test-tunable{ratio=fast}", ["expected a number, got 'fast'"], 19),
    ("test-tunable{colour=red}", ["has no option 'colour'", "flag, count, ratio, label, names, limit"], 13),
    ("test-tunable{count=1,count=2}", ["option 'count' of pass 'test-tunable' is given twice"], 21),
    ("test-tunable{count=[1,2]}", ["expected one int value, got a list"], 19),
    ("test-tunable{count=1", ["expected ','"], 20),
    ("cse dce", ["expected ','"], 4),
    ("test-needs-option", ["needs option(s) level", "test-needs-option{level=...}"], 0),
    ("canonicalize{max_constant_size=-2}", ["rejects these options", "max_constant_size must be >= 0"], 0),
    ('test-tunable{label="open}', ["unterminated string"], 19),
    (",cse", ["expected a pass name"], 0),
])
def test_parse_pipeline_errors_point_at_the_fault(text, words, column):
    with pytest.raises(ParseError) as info:
        parse_pipeline(text)
    message = str(info.value)
    for word in words:
        assert word in message, message
    assert info.value.column == column
    assert message.splitlines()[-1] == "    " + " " * column + "^"


def test_pass_options_are_listed():
    listed = {name: (kind, default) for name, kind, default in options.pass_options(Tunable)}
    assert listed["count"] == ("int", 1) and listed["flag"] == ("bool", False)


# ------------------------------------------------------------------------------------------ docs
@pytest.mark.parametrize("module", [base, canonicalize, cse, dce, fold, options, rewriter,
                                    named.compiler.pipeline, named.compiler.checker])
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
