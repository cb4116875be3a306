"""named.typing: f32["batch embed"] annotations, matches_axes, the opt-in check, and the CLI reading them."""

import textwrap
from typing import Annotated, get_args, get_origin

import numpy as np
import pytest

import named
from named import AxisError, ParseError
from named.cli import main
from named.typing import Bool, Float, Int, Named, f32, i32, typechecked

B, E, H = named.make_axes(batch=2, embed=3, hidden=4)
X = named.zeros((B, E))


def test_annotations_are_namedarray_types():
    ann = f32["batch embed"]
    assert get_origin(ann) is Annotated and get_args(ann)[0] is named.NamedArray
    assert str(named.typing.as_axes_spec(ann)) == 'f32["batch embed"]'
    assert named.NamedArray["batch", ...] == Named["batch ..."]


@pytest.mark.parametrize("spec, expected", [
    (f32["batch embed"], True), (f32["embed batch"], False), (Named["{embed batch}"], True),
    (f32["batch"], False), (f32["batch ..."], True), (f32["... embed"], True), (f32["batch ... embed"], True),
    (f32["embed ..."], False), (f32["{embed ...}"], True), (f32["{hidden ...}"], False),
    (f32["batch=2 embed=3"], True), (f32["batch=3 embed"], False), (i32["batch embed"], False),
    (Float["batch embed"], True), (Int["..."], False), (Named["..."], True), (f32["batch, embed"], True),
    ("batch embed", True), (("batch", ...), True), ((B, "embed"), True), ((named.Axis("batch", 5), ...), False),
    (named.NamedArray["batch", "embed"], True),
])
def test_matches_axes(spec, expected):
    assert X.matches_axes(spec) is expected
    assert named.typing.matches(X, spec) is expected


def test_dtype_kinds_and_zero_axes():
    assert named.arange(B).matches_axes(Int["batch"]) and named.arange(B).matches_axes(i32["batch=2"])
    assert (X > 0).matches_axes(Bool["batch embed"])
    assert named.ones(()).matches_axes(f32[""]) and not X.matches_axes(f32[""])
    assert not named.typing.matches(np.zeros(3), Named["..."])


@pytest.mark.parametrize("text, words", [
    ("batch ... embed ...", "at most one"), ("{batch embed", "close"), ("batch batch", "named twice"),
    ("batch 3", "expected an axis name"),
])
def test_bad_spec_text_is_a_parse_error(text, words):
    with pytest.raises(ParseError, match=words):
        f32[text]


def test_typechecked_eager_and_compiled():
    @typechecked
    def project(x: f32["batch embed"], w: f32["embed hidden"]) -> f32["batch hidden"]:
        return named.dot(x, w, axis="embed")

    w = named.ones((E, H))
    xd = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = named.named(xd, (B, E))
    np.testing.assert_allclose(np.asarray(project(x, w)), xd @ np.ones((3, 4)))
    np.testing.assert_allclose(np.asarray(named.compile(project)(x, w)), xd @ np.ones((3, 4)))
    with pytest.raises(AxisError, match="parameter 'x' of .*project should be f32\\[\"batch embed\"\\].*order"):
        project(x.rearrange(("embed", "batch")), w)
    with pytest.raises(AxisError, match="parameter 'w'"):
        named.compile(project)(x, named.ones((H, E)))
    # one size per axis name across the annotations
    with pytest.raises(AxisError, match="'embed' .* size 3 in parameter 'x' but 5 in parameter 'w'"):
        project(x, named.ones((named.Axis("embed", 5), H)))
    with pytest.raises(AxisError, match="should be a NamedArray"):
        project(1.0, w)

    @typechecked
    def wrong_result(x: f32["batch embed"]) -> f32["batch"]:
        return x

    with pytest.raises(AxisError, match="the result of .*wrong_result"):
        wrong_result(x)


def test_arg_spec_for_the_cli():
    spec = named.typing.arg_spec(f32["batch=128 embed=64"])
    assert spec == named.spec({"batch": 128, "embed": 64}, "f32")
    assert named.typing.arg_spec(Int["t=3"]).dtype == "i32"
    assert named.typing.arg_spec(f32["batch embed"]) is None  # no sizes: the CLI needs --arg
    assert named.typing.arg_spec(f32["batch=2 ..."]) is None
    assert named.typing.arg_spec(int) is None


MODEL = '''
import named
from named.typing import f32, i32

def typed(x: f32["batch=8 embed=4"], idx: i32["batch=8"]):
    return x.sum("embed") + idx
'''


@pytest.mark.parametrize("future", [False, True])
def test_cli_reads_typing_annotations(tmp_path, monkeypatch, capsys, future):
    source = ("from __future__ import annotations\n" if future else "") + textwrap.dedent(MODEL)
    (tmp_path / "typed_model.py").write_text(source)
    monkeypatch.chdir(tmp_path)
    assert main(["dump", "typed_model.py:typed", "--stage", "traced"]) == 0
    out = capsys.readouterr().out
    assert "func @typed(%0: f32[batch=8, embed=4], %1: i32[batch=8])" in out
