"""The pass manager, the rewrite-pattern driver and the built-in passes."""

from .base import PASSES, Pass, PassManager, pass_name
from .canonicalize import Canonicalize
from .cse import CSE, eliminate_common_subexpressions
from .dce import DCE, eliminate_dead_code
from .options import parse_pipeline, pass_options
from .rewriter import PatternRewriter, RewritePass, RewritePattern, apply_patterns, full_value

DEFAULT_PASSES = (Canonicalize(), CSE(), DCE())
"""The built-in passes ``named.compile`` runs after the user's (``builtin_passes=False`` skips them)."""

__all__ = ["PASSES", "Pass", "PassManager", "pass_name", "Canonicalize", "CSE", "DCE", "DEFAULT_PASSES",
           "eliminate_common_subexpressions", "eliminate_dead_code", "parse_pipeline", "pass_options",
           "PatternRewriter", "RewritePass", "RewritePattern", "apply_patterns", "full_value"]
