"""A small, safe expression language for skip logic, cross-field checks and targets.

Plan authors write Python-like expressions (`a <= b`, `x / y * 100 > 80`, `co_vi_pham`).
They are parsed with `ast` and only a whitelist of node types is allowed, so a plan file can
never run code.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class ExpressionError(ValueError):
    pass


class _Missing(Exception):
    """Raised while evaluating when a referenced value is absent."""


_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
}
_CMPOPS: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_NAMED_CONSTANTS = {"true": True, "false": False, "True": True, "False": False}


@dataclass(frozen=True)
class Expression:
    source: str
    tree: ast.Expression
    names: frozenset[str]

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        """Evaluate; raises KeyError-like `_Missing` internally, returns None when a name is
        unanswered or a division by zero happens."""
        try:
            return _eval(self.tree.body, values)
        except (_Missing, ZeroDivisionError, TypeError, OverflowError):
            return None

    def holds(self, values: Mapping[str, Any]) -> bool | None:
        """True/False for a condition, None when it cannot be decided (missing values)."""
        result = self.evaluate(values)
        if result is None:
            return None
        return bool(result)


def parse(source: str, allowed_names: set[str] | frozenset[str] | None = None) -> Expression:
    """Parse and check an expression. Raises ExpressionError with a readable reason."""
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("empty expression")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse expression {source!r}: {exc.msg}") from None
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if node.id not in _NAMED_CONSTANTS:
                names.add(node.id)
        elif not isinstance(node, _ALLOWED_NODES):
            raise ExpressionError(
                f"{type(node).__name__.lower()} is not allowed in expression {source!r}"
            )
        if isinstance(node, ast.Constant) and not isinstance(node.value, int | float | str):
            raise ExpressionError(f"constant {node.value!r} is not allowed in {source!r}")
    if allowed_names is not None:
        unknown = sorted(names - set(allowed_names))
        if unknown:
            raise ExpressionError(
                f"unknown name(s) {', '.join(unknown)} in expression {source!r}"
            )
    return Expression(source.strip(), tree, frozenset(names))


_ALLOWED_NODES = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.BinOp,
    ast.Compare,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.List,
    ast.Tuple,
    *_BINOPS,
    *_CMPOPS,
)


def _eval(node: ast.AST, values: Mapping[str, Any]) -> Any:
    match node:
        case ast.Constant(value=value):
            return value
        case ast.Name(id=name):
            if name in _NAMED_CONSTANTS:
                return _NAMED_CONSTANTS[name]
            value = values.get(name)
            if value is None:
                raise _Missing(name)
            return value
        case ast.List(elts=elts) | ast.Tuple(elts=elts):
            return [_eval(e, values) for e in elts]
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            return not _eval(operand, values)
        case ast.UnaryOp(op=ast.USub(), operand=operand):
            return -_eval(operand, values)
        case ast.UnaryOp(op=ast.UAdd(), operand=operand):
            return +_eval(operand, values)
        case ast.BoolOp(op=ast.And(), values=parts):
            result: Any = True
            for part in parts:
                result = _eval(part, values)
                if not result:
                    return result
            return result
        case ast.BoolOp(op=ast.Or(), values=parts):
            result = False
            for part in parts:
                result = _eval(part, values)
                if result:
                    return result
            return result
        case ast.BinOp(left=left, op=op, right=right):
            return _BINOPS[type(op)](_eval(left, values), _eval(right, values))
        case ast.Compare(left=left, ops=ops, comparators=comparators):
            current = _eval(left, values)
            for cmp_op, comp in zip(ops, comparators, strict=True):
                other = _eval(comp, values)
                if not _CMPOPS[type(cmp_op)](current, other):
                    return False
                current = other
            return True
    raise ExpressionError(f"unsupported expression node {type(node).__name__}")
