"""named and JAX: named code under jax transformations (:mod:`named.interop.primitives`)."""

from .primitives import FunctionRef, call_function, is_tracer, named_call_p, op_function

__all__ = ["FunctionRef", "call_function", "is_tracer", "named_call_p", "op_function"]
