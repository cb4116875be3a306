"""Quantized dots (haliax's ``haliax.quantization``): fp8 with delayed scaling, int8, and the
helpers that update the fp8 scale state from the gradient.

>>> import named
>>> I, O = named.make_axes(inp=4, out=2)
>>> layer = named.nn.Linear.init(I, O, key=named.random.key(0))
>>> layer = named.quantization.quantize_linear_layers(layer, named.quantization.QuantizationConfig(fp8=True))
>>> type(layer.dot_general).__name__
'Fp8DotGeneralOp'
"""

from .config import QuantizationConfig, quantize_linear_layers
from .fp8 import AMAX_HISTORY, Fp8DotGeneralOp, in_qdq, out_qdq
from .int8 import Int8DotGeneralOp, quantize_int8
from .state import OverwriteWithGradient, apply_updates, partition_for_grad_overwrite

__all__ = ["QuantizationConfig", "quantize_linear_layers", "Fp8DotGeneralOp", "Int8DotGeneralOp",
           "OverwriteWithGradient", "apply_updates", "partition_for_grad_overwrite", "in_qdq", "out_qdq",
           "quantize_int8", "AMAX_HISTORY"]
