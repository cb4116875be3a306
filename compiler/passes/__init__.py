"""The pass manager and the built-in passes."""

from .base import PASSES, Pass, PassManager
from .cse import CSE
from .dce import DCE

DEFAULT_PASSES = (CSE(), DCE())

__all__ = ["PASSES", "Pass", "PassManager", "CSE", "DCE", "DEFAULT_PASSES"]
