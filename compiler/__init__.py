"""The compiler: tracer, axis checker, partitioner, passes and lowering to StableHLO."""

from .checker import check, collect_errors, format_error
from .lowering import LoweringContext, RULES, lower_function, register_lowering, sharding_attr
from .partition import normalize_mapping, partition, sharding_of
from .passes import (DEFAULT_PASSES, PASSES, Pass, PassManager, PatternRewriter, RewritePass, RewritePattern,
                     apply_patterns, parse_pipeline)
from .pipeline import STAGES, Stages, run_pipeline
from .rewrite import clone_block, clone_function, clone_op
from .tracer import Builder, current_builder, register_internal_dir, tracing, user_location
from .autodiff import GradientError, VJP_RULES, VJPContext, grad_function, register_vjp, vjp_block

__all__ = ["check", "collect_errors", "LoweringContext", "RULES", "lower_function", "register_lowering",
           "sharding_attr", "normalize_mapping", "partition", "sharding_of", "PASSES", "Pass", "PassManager",
           "STAGES", "Stages", "run_pipeline", "clone_block", "clone_function", "clone_op", "Builder",
           "current_builder", "register_internal_dir", "tracing", "user_location",
           "GradientError", "VJP_RULES", "VJPContext", "grad_function", "register_vjp", "vjp_block",
           "format_error", "DEFAULT_PASSES", "PatternRewriter", "RewritePass", "RewritePattern", "apply_patterns",
           "parse_pipeline"]
