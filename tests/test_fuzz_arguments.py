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


def test_typed_errors_name_the_parameter_in_the_merged_helpers():
    x = named.arange(named.Axis("i", 4), dtype="f32")
    ragged = [[1, 2], [3]]
    cases = [(lambda: named.fft.ifft(x, "i", x.array), "`norm`"), (lambda: named.fft.hfft(None), "`a`"),
             (lambda: named.fft.rfft(x, {"i": object()}), "`axis`"), (lambda: named.fft.fftshift(x, 1.5), "`axes`"),
             (lambda: named.geomspace(named.Axis("n", 3), "1", 10.0), "`start`"),
             (lambda: named.tile(x, None), "`reps`"), (lambda: named.freeze(None), "`ref`"),
             (lambda: named.swap(x, {"i": 0}, 1.0), "`ref`"), (lambda: named.is_axis_compatible(x, "i"), "`ax1`"),
             (lambda: named.without_axes(("i",), (), x.array), "`allow_mismatched_sizes`"),
             (lambda: named.export(None), "`fn`"), (lambda: named.psum(x, [slice(0, 1)]), "`axis_name`"),
             (lambda: named.pshuffle(x, "i", "0123"), "`perm`"), (lambda: named.ppermute(x, "i", [0, 1]), "`perm`"),
             (lambda: named.all_gather(x, "i", 1.5), "`new_axis`"), (lambda: named.pspec_for_axis(None), "`axis`"),
             (lambda: named.physical_axis_name(("a", "b")), "`axis`"),
             (lambda: named.round_axis_for_partitioning("vocab"), "`axis`"),
             (lambda: named.polyadd(ragged, [1.0]), "`p1`"), (lambda: named.polydiv([1.0], ragged), "`v`"),
             (lambda: named.roots(ragged), "`p`"), (lambda: named.trim_zeros(ragged), "`f`")]
    for call, word in cases:
        try:
            call()
        except (TypeError, ValueError) as e:
            assert wrong_arguments.on_purpose(e), (word, repr(e))
            assert word in str(e), (word, str(e))
        else:
            raise AssertionError(f"no error for a call needing {word}")


def test_a_mesh_dict_with_a_bad_size_is_a_sharding_error():
    x = named.ones(named.make_axes(b=8))
    for call in (lambda: named.shard(x, {"b": "data"}, {"data": "4"}),
                 lambda: named.sharding_for_axis("b", {"b": "data"}, {"data": 2.0})):
        try:
            call()
        except named.ShardingError as e:
            assert "mesh" in str(e) and "data" in str(e), str(e)
        else:
            raise AssertionError("no error for a mesh size that is not an int")


def test_typing_aliases_are_not_swept_as_functions():
    swept = {name for name, _ in wrong_arguments.public_functions()}
    assert not swept & {"named.AxisSpec", "named.AxisSelection", "named.ResourceMapping"}
    assert {"named.psum", "named.tile", "named.geomspace"} <= swept
