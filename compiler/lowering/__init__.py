"""Lowering of the named IR to StableHLO with Shardy sharding attributes."""

from . import rules  # noqa: F401  (registers the built-in rules)
from . import sharding  # noqa: F401  (named.sharding_constraint)
from . import control  # noqa: F401  (named.scan, named.cond, named.while)
from . import indexing, axiswise, random  # noqa: F401  (indexing, sorts/scans, random bits)
from . import structure  # noqa: F401  (concatenate, pad, reverse)
from . import interop  # noqa: F401  (named.call_jax)
from . import remat  # noqa: F401  (named.checkpoint, checkpoint_name, optimization_barrier)
from . import fft  # noqa: F401  (named.fft)
from . import quant  # noqa: F401  (named.stop_gradient, named.qdq, named.qdq_grad)
from .registry import RULES, LoweringContext, LoweringRule, lower_function, register_lowering, sharding_attr
from .rules import broadcast_to, compare, reduce, scalar_constant
from .mlir import module_text

__all__ = ["RULES", "LoweringContext", "LoweringRule", "lower_function", "register_lowering",
           "sharding_attr", "broadcast_to", "compare", "reduce", "scalar_constant", "module_text"]
