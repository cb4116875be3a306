"""named and the JAX ecosystem: JAX code inside named programs (:func:`call_jax`)."""

from .call_jax import call_jax, jax_function  # noqa: F401
