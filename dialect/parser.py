"""Read the named IR's text form back into a :class:`Function` (lark LALR grammar in grammar.lark).

Every fault, syntactic or semantic (unknown op, undefined value, a type the op's type rule
disagrees with), raises :class:`ParseError` quoting the line with a caret under the fault.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import lark
import numpy as np

from .core import OPS, Block, Function, Location, Op, Value
from .errors import NamedError, ParseError
from .types import DTYPE_NAMES, Axis, Mesh, TensorType, to_numpy_dtype
from .verify import verify_function


@lru_cache(maxsize=1)
def _parser() -> lark.Lark:
    grammar = (Path(__file__).parent / "grammar.lark").read_text()
    return lark.Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True)


def parse(text: str) -> Function:
    """Parse IR text (as printed by :func:`print_function`) into a verified :class:`Function`."""
    try:
        tree = _parser().parse(text)
    except lark.exceptions.UnexpectedInput as e:
        line, column = getattr(e, "line", None), getattr(e, "column", None)
        if isinstance(e, lark.exceptions.UnexpectedEOF) or line is None or line < 1:
            lines = text.splitlines() or [""]
            line, column = len(lines), len(lines[-1]) + 1
        what = _describe(e)
        raise ParseError(f"IR text, line {line}, column {column}: {what}", text, column - 1, line) from None
    try:
        return _Builder(text).function(tree.children[0])
    except RecursionError:
        column = _deepest(text)
        line = text.count("\n", 0, column) + 1
        column -= text.rfind("\n", 0, column) + 1
        raise ParseError(f"IR text, line {line}, column {column + 1}: nesting too deep", text, column, line) from None


def _deepest(text: str) -> int:
    """Offset of the first bracket at the deepest nesting level of ``text``."""
    depth = best = at = 0
    for i, ch in enumerate(text):
        if ch in "[(":
            depth += 1
            if depth > best:
                best, at = depth, i
        elif ch in "])":
            depth -= 1
    return at


def _describe(e: lark.exceptions.UnexpectedInput) -> str:
    if isinstance(e, lark.exceptions.UnexpectedCharacters):
        return f"unexpected character {e.char!r}"
    if isinstance(e, lark.exceptions.UnexpectedToken):
        tok = e.token
        if tok.type == "$END":
            return "unexpected end of text"
        return f"unexpected {tok.value!r}"
    return "unexpected end of text"


class _Builder:
    def __init__(self, text: str):
        self.text = text

    def fail(self, node, message: str):
        meta = getattr(node, "meta", None)
        line = getattr(node, "line", None) or (getattr(meta, "line", None) if meta else None)
        column = getattr(node, "column", None) or (getattr(meta, "column", None) if meta else None)
        if line is None:
            raise ParseError(f"IR text: {message}")
        raise ParseError(f"IR text, line {line}, column {column}: {message}", self.text, column - 1, line)

    # -- structure ---------------------------------------------------------------------------------
    def function(self, tree) -> Function:
        name_node, *rest = tree.children
        args, result_types, mesh, ops, uses = [], [], None, [], []
        for child in rest:
            if child is None:
                continue
            if isinstance(child, lark.Tree) and child.data == "arg":
                args.append(child)
            elif isinstance(child, lark.Tree) and child.data == "type":
                result_types.append(self.type(child))
            elif isinstance(child, lark.Tree) and child.data == "mesh":
                mesh = self.mesh(child)
            elif isinstance(child, lark.Tree) and child.data == "op":
                ops.append(child)
            elif isinstance(child, lark.Tree) and child.data == "use":
                uses.append(child)
        scope: dict[str, Value] = {}
        block = self.block(args, ops, uses, scope)
        fn = Function(self.name(name_node), block, mesh)
        try:
            verify_function(fn)
        except NamedError as e:
            self.fail(tree, e.message)
        got = tuple(r.type for r in block.results)
        if got != tuple(result_types):
            self.fail(tree, f"the function returns ({', '.join(map(str, got))}) but its signature says "
                            f"({', '.join(map(str, result_types))})")
        return fn

    def block(self, args, ops, uses, scope: dict[str, Value]) -> Block:
        block = Block()
        for arg in args:
            token, type_node = arg.children
            value = Value(self.type(type_node))
            self.define(scope, token, value)
            block.args.append(value)
        for op in ops:
            block.ops.append(self.op(op, scope))
        block.results = [self.use(u, scope) for u in uses if u is not None]
        return block

    def op(self, tree, scope: dict[str, Value]) -> Op:
        defs, opname, *rest = tree.children
        cls = OPS.get(str(opname))
        if cls is None:
            self.fail(opname, f"unknown op {str(opname)!r}")
        operands, attrs, types, regions, loc = [], {}, [], [], None
        for child in rest:
            if child is None:
                continue
            kind = child.data
            if kind == "use":
                operands.append(self.use(child, scope))
            elif kind == "attrs":
                attrs = self.attrs(child)
            elif kind in ("one_type", "type_list"):
                types = [self.type(t) for t in child.children if t is not None]
            elif kind == "regions":
                regions = [self.region(r, dict(scope)) for r in child.children]
            elif kind == "loc":
                *scope_tok, file_tok, line_tok = child.children  # loc("scope"("file":line)) or loc("file":line)
                if int(line_tok) >= 2 ** 31:
                    self.fail(line_tok, f"location line {line_tok} is out of range (lines are below 2**31)")
                loc = Location(self.string(file_tok), int(line_tok), self.string(scope_tok[0]) if scope_tok else "")
        def_tokens = [t for t in defs.children] if defs is not None else []
        if len(def_tokens) != len(types):
            self.fail(tree, f"{cls.name} defines {len(def_tokens)} value(s) but lists {len(types)} type(s)")
        try:
            op = cls(operands, attrs, types, regions, loc)
            op.verify()
        except NamedError as e:
            self.fail(tree, e.message)
        for token, value in zip(def_tokens, op.results):
            self.define(scope, token, value)
        return op

    def region(self, tree, scope: dict[str, Value]) -> Block:
        args = [c for c in tree.children if isinstance(c, lark.Tree) and c.data == "arg"]
        ops = [c for c in tree.children if isinstance(c, lark.Tree) and c.data == "op"]
        uses = [c for c in tree.children if isinstance(c, lark.Tree) and c.data == "use"]
        return self.block(args, ops, uses, scope)

    def define(self, scope, token, value: Value) -> None:
        if str(token) in scope:
            self.fail(token, f"value {token} is defined twice")
        scope[str(token)] = value

    def use(self, tree, scope) -> Value:
        (token,) = tree.children
        try:
            return scope[str(token)]
        except KeyError:
            self.fail(token, f"value {token} is used before it is defined")

    # -- types and attributes ----------------------------------------------------------------------
    def name(self, tree) -> str:
        (tok,) = tree.children
        return self.string(tok) if tok.type == "STRING" else str(tok)

    def string(self, tok) -> str:
        """A quoted string token's value (JSON escapes); bad escapes, control characters and lone
        surrogates are ParseErrors pointing at the string."""
        try:
            value = json.loads(tok)
            value.encode("utf-8")
        except (ValueError, UnicodeError) as e:
            self.fail(tok, f"malformed string {str(tok)[:40]}: {e}")
        return value

    def mesh(self, tree) -> Mesh:
        try:
            mesh = Mesh(tuple((self.name(a.children[0]), int(a.children[1])) for a in tree.children if a is not None))
            if mesh.size >= 2 ** 63:
                self.fail(tree, f"mesh {mesh} is too large")
            return mesh
        except NamedError as e:
            self.fail(tree, e.message)

    def type(self, tree) -> TensorType:
        dtype_node, *axis_nodes = tree.children
        dtype = self.name(dtype_node)
        if dtype not in DTYPE_NAMES:
            self.fail(tree, f"unknown dtype {dtype!r}; expected one of {', '.join(DTYPE_NAMES)}")
        axes, sharding = [], []
        for node in axis_nodes:
            if node is None:
                continue
            name_node, size, shard = node.children
            try:
                axes.append(Axis(self.name(name_node), int(size)))
            except NamedError as e:
                self.fail(node, e.message)
            if shard is None:
                sharding.append(())
            else:
                sharding.append(tuple(self.name(n) for n in shard.children))
        try:
            return TensorType(dtype, tuple(axes), tuple(sharding) if any(sharding) else None)
        except NamedError as e:
            self.fail(tree, e.message)

    def attrs(self, tree) -> dict:
        out = {}
        for attr in tree.children:
            if attr is None:
                continue
            name_node, value = attr.children
            key = self.name(name_node)
            if key in out:
                self.fail(attr, f"attribute {key!r} is given twice")
            out[key] = self.value(value)
        return out

    def value(self, node):
        if isinstance(node, lark.Token):
            raise AssertionError(node)
        kind = node.data
        if kind == "int":
            return int(node.children[0])
        if kind == "float":
            return float(node.children[0])
        if kind == "inf":
            return float("inf")
        if kind == "neg_inf":
            return float("-inf")
        if kind == "nan":
            return float("nan")
        if kind == "true":
            return True
        if kind == "false":
            return False
        if kind == "none":
            return None
        if kind == "string":
            return self.string(node.children[0])
        if kind == "complex_number":
            re_node, im_node = node.children
            return complex(self.value(re_node), self.value(im_node))
        if kind == "list":
            return tuple(self.value(c) for c in node.children if c is not None)
        if kind == "axis":
            name_node, size = node.children
            try:
                return Axis(self.name(name_node), int(size))
            except NamedError as e:
                self.fail(node, e.message)
        if kind == "array":
            dtype_node, body = node.children
            dtype = self.name(dtype_node)
            if dtype not in DTYPE_NAMES:
                self.fail(node, f"unknown dtype {dtype!r}")
            nested = self.value(body)
            try:
                return np.array(nested, dtype=to_numpy_dtype(dtype))
            except (ValueError, OverflowError) as e:
                self.fail(node, f"malformed array: {e}")
        self.fail(node, f"unexpected {kind}")
