"""The wrong-argument sweep (issue 11): every public function, given None, strings, slices, bools,
ragged lists, object arrays, unnamed arrays, huge ints... in each of its first positions, answers
with a typed error raised on purpose (never an AttributeError or a raw NumPy/jax error)."""

from __future__ import annotations

import named
import wrong_arguments


def test_every_public_function_refuses_wrong_arguments_with_typed_errors():
    functions = wrong_arguments.public_functions()
    assert len(functions) > 150
    failures = [f"{call}: {type(e).__name__}: {str(e)[:160]}" for call, e in wrong_arguments.sweep(functions)]
    assert not failures, f"{len(failures)} untyped errors:\n" + "\n".join(failures[:40])


def test_typed_errors_name_the_parameter():
    x = named.ones(named.make_axes(a=2))
    cases = [(lambda: named.rename(x, slice(0, 1)), "renames"), (lambda: named.pad(x, x), "pad_width"),
             (lambda: named.sum(x, True), "axis"), (lambda: named.zeros_like(None), "NamedArray"),
             (lambda: named.cumsum(x, named.named([1, 2], "a").array), "axis"),
             (lambda: named.named([[1, 2], [3]], ("a", "b")), "array"),
             (lambda: named.full(x.axes, "1"), "fill_value")]
    for call, word in cases:
        try:
            call()
        except (TypeError, ValueError) as e:
            assert word in str(e), (word, str(e))
        else:
            raise AssertionError(f"no error for a call needing {word}")
