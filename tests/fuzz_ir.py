"""IR-text mutation fuzzing helpers (issue 11): seed programs printed by `named`, mutations of their
text, and the check that reading, printing and lowering a mutant ends in success or a typed error.

Run as a script (``python tests/fuzz_ir.py FILE``) it compiles every IR text in FILE (one JSON list)
with XLA: the risky step, run in a child process by tests/test_fuzz_ir.py so that a crash fails a
test instead of killing the run."""

from __future__ import annotations

import json
import os
import sys

if __name__ == "__main__":
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")

import named  # noqa: E402
from named.compiler.lowering import lower_function, module_text  # noqa: E402
from named.dialect import parse, print_function  # noqa: E402

ALPHABET = ['"', "\\", "\x00", "\x01", "\n", "[", "]", "(", ")", "{", "}", "%", "@", "=", ",", ":", "-", "0",
            "9", "e", "a", "\ud800", "\u00e9", " ", "'", "#", "^", "<", ">", "j", "nan", "inf", "complex(",
            "99999999999999999999999999", "-1", "1e999", "\\u0000", "\\x", "loc(\"f.py\":4294967296)",
            "[" * 2000, "named.rem", "c64", "bool", "f64", "u8"]


def seed_texts() -> list[str]:
    """Printed programs covering the op families, shardings, constants and locations."""
    A, B = named.make_axes(a=4, b=2)
    x = named.ones((A, B))
    c = named.ones((A,), "c64")
    const = named.NamedArray(named.arange(A).array * 1j, (A,))
    fns = [
        (lambda x: named.nn.softmax(x * 2.0 + 1, "a").sum("b"), (x,), {}),
        (lambda x: named.where(x > 0, named.exp(x), -x)[{"a": 1}], (x,), {}),
        (lambda x: named.rearrange(x, "a b -> b a").astype("i32") // 3, (x,), {}),
        (lambda c: c * (1 + 2j) + const, (c,), {}),
        (lambda c: named.rint(c * 1.5) + named.log10(c), (c,), {}),  # named.complex
        (lambda x: named.dot(x, x, axis="b") + named.cumsum(x, "a").sum("b"), (x,),
         {"axis_resources": {"a": "data"}, "mesh": {"data": 4, "model": 2}}),
        (lambda x: named.scan(lambda carry, row: (carry + row, carry * 2), "a")(named.zeros((B,)), x)[1],
         (x,), {}),
    ]
    texts = []
    for fn, args, options in fns:
        lowered = named.compile(fn, **options).lower(*args)
        texts.append(lowered.as_text(locations=True))
        texts.append(lowered.as_text("traced"))
    return texts


def mutate(text: str, ops: list[tuple[int, int, int]]) -> str:
    """Apply mutations (kind, position, choice) to ``text``."""
    for kind, pos, choice in ops:
        if not text:
            break
        pos %= len(text)
        if kind == 0:  # delete a span
            text = text[:pos] + text[pos + 1 + choice % 8:]
        elif kind == 1:  # insert
            text = text[:pos] + ALPHABET[choice % len(ALPHABET)] + text[pos:]
        elif kind == 2:  # replace a character
            text = text[:pos] + ALPHABET[choice % len(ALPHABET)] + text[pos + 1:]
        elif kind == 3:  # duplicate a span
            end = pos + 1 + choice % 40
            text = text[:end] + text[pos:end] + text[end:]
        else:  # swap two lines
            lines = text.split("\n")
            i, j = pos % len(lines), choice % len(lines)
            lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
    return text


def check_text(text: str) -> str:
    """Read, print, re-read and lower ``text``; returns how far it got ("parse-error", "verify-error",
    "lowered"). Any error other than a NamedError propagates (the fuzzer's failure)."""
    try:
        fn = parse(text)
    except named.ParseError:
        return "parse-error"
    printed = print_function(fn, locations=True)
    again = print_function(parse(printed), locations=True)
    assert again == printed, f"the text form does not round-trip:\n{printed}\n---\n{again}"
    try:
        module_text(lower_function(fn))
    except named.NamedError:
        return "verify-error"
    return "lowered"


def compile_all(texts: list[str]) -> dict:
    """Compile each text with XLA (the step that can crash a process); count the outcomes."""
    from named.compiler.lowering import lower_function as lower
    from named.runtime import pjrt
    from named.runtime.mesh import device_mesh
    counts = {"compiled": 0, "refused": 0}
    for text in texts:
        fn = parse(text)
        try:
            module = module_text(lower(fn))
            mesh = device_mesh(fn.mesh) if fn.mesh is not None else None
            devices = list(mesh.devices.flat) if mesh is not None else pjrt.devices()[:1]
            pjrt.compile(module, devices, sharded=mesh is not None)
            counts["compiled"] += 1
        except Exception:  # noqa: BLE001 - an XLA refusal is an outcome; only a crash fails
            counts["refused"] += 1
    return counts


if __name__ == "__main__":
    with open(sys.argv[1]) as fh:
        print(json.dumps(compile_all(json.load(fh))))
