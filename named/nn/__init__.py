"""named.nn: the module layer (haliax.nn): activations, losses, attention, equinox modules and layer stacks.

>>> import named
>>> E, H = named.make_axes(embed=4, hidden=3)
>>> layer = named.nn.Linear.init(E, H, key=named.random.key(0))
>>> named.nn.relu(layer(named.ones(E))).shape
{'hidden': 3}
"""

from . import activations, attention, loss  # noqa: F401
from .activations import *  # noqa: F401,F403
from .activations import logsumexp, tanh  # noqa: F401
from .attention import dot_product_attention, dot_product_attention_weights, self_attention  # noqa: F401
from .layers import MLP, Dropout, Embedding, LayerNorm, RmsNorm  # noqa: F401
from .linear import Linear, MoELinear  # noqa: F401
from .loss import (binary_cross_entropy_loss, cross_entropy_loss,  # noqa: F401
                   cross_entropy_loss_and_log_normalizers, maybe_reduce_loss, reduce_loss)
from .scan import BlockSeq, Stacked  # noqa: F401
from .conv import Conv, ConvTranspose  # noqa: F401
from .pool import max_pool, mean_pool, min_pool  # noqa: F401
