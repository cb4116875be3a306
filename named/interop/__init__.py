"""named and the JAX ecosystem, both ways: named code under jax transformations
(:mod:`named.interop.primitives`) and JAX code inside named programs (:func:`call_jax`)."""

from .call_jax import call_jax, jax_function  # noqa: F401
from .primitives import FunctionRef, call_function, is_tracer, named_call_p, op_function

__all__ = ["FunctionRef", "call_function", "call_jax", "is_tracer", "jax_function", "named_call_p", "op_function"]
