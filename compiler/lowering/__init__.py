"""Lowering of the named IR to StableHLO with Shardy sharding attributes."""

from . import rules  # noqa: F401  (registers the built-in rules)
from .registry import RULES, LoweringContext, LoweringRule, lower_function, register_lowering, sharding_attr
from .rules import broadcast_to, compare, reduce, scalar_constant

__all__ = ["RULES", "LoweringContext", "LoweringRule", "lower_function", "register_lowering",
           "sharding_attr", "broadcast_to", "compare", "reduce", "scalar_constant"]
