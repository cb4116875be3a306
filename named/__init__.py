"""named: tensor programs with named axes, checked, partitioned and compiled to StableHLO.

>>> import named
>>> Batch, Embed = named.make_axes(batch=2, embed=3)
>>> x = named.ones((Batch, Embed))
>>> (x * 2).sum("embed").shape
{'batch': 2}
"""

import os as _os

# In a source checkout the layers sit beside this folder (dialect/, compiler/, runtime/; SPEC §1) and
# an installed wheel nests them here; let `named.dialect` etc. resolve in a checkout either way.
if not _os.path.isdir(_os.path.join(_os.path.dirname(__file__), "dialect")):
    _checkout = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
    if _os.path.isfile(_os.path.join(_checkout, "dialect", "__init__.py")):
        __path__.append(_checkout)

import jax as _jax  # noqa: E402

from named import dialect, compiler, runtime  # noqa: F401  (the layers, importable as named.dialect etc.)
from named.compiler import register_internal_dir as _register_internal_dir

_register_internal_dir(_os.path.dirname(__file__))
_register_internal_dir(_os.path.dirname(runtime.__file__))
_register_internal_dir(_os.path.dirname(_jax.__file__))

from named.dialect import (Axis, AxisError, NamedError, ParseError, ShardingError,  # noqa: E402
                           TracerError, VerifyError)
from . import nn  # noqa: E402
from . import state_dict  # noqa: E402,F401  (named.state_dict: parameters as flat dicts, safetensors)
from . import quantization  # noqa: E402,F401  (named.quantization: fp8/int8 dots)
from .core import NamedArray  # noqa: E402
from .creation import *  # noqa: E402,F401,F403
from .jit import Compiled, CompiledFunction, Lowered, compile, spec  # noqa: E402
from .ops import *  # noqa: E402,F401,F403
from .composite_ops import *  # noqa: E402,F401,F403
from .partitioning import axis_mapping, current_axis_mapping, use_mesh  # noqa: E402
from .partitioning import current_mesh, shard  # noqa: E402
from .xmap import XMapFunction  # noqa: E402,F401
from named.runtime import DeletedArrayError  # noqa: E402,F401  (using a donated argument again)
from .scope import scope  # noqa: E402,F401  (names in HLO op metadata for profiles)
from .distributed import RemoteDataError, process_allgather  # noqa: E402,F401  (jax.distributed runs)
from .deploy import Exported, SerializationError, deserialize, export  # noqa: E402,F401  (portable programs)
from .reductions import *  # noqa: E402,F401,F403
from .shape import *  # noqa: E402,F401,F403
from .einsum import einsum  # noqa: E402,F401
from .shape_ops import *  # noqa: E402,F401,F403
from .indexing import *  # noqa: E402,F401,F403
from .axiswise import *  # noqa: E402,F401,F403
from .set_ops import *  # noqa: E402,F401,F403
from . import fft  # noqa: E402,F401  (named.fft: callable module, named.fft.rfft etc.)
from .fft import fftfreq, fftshift, hfft, ifft, ifftshift, ihfft, irfft, rfft, rfftfreq  # noqa: E402,F401
from . import poly  # noqa: E402,F401  (named.poly)
from .poly import polyadd, polyder, polydiv, polyfit, polyint, polymul, polysub, polyval, roots  # noqa: E402,F401
from .collectives import *  # noqa: E402,F401,F403  (psum, pmean, ..., axis_index)
from . import random  # noqa: E402,F401  (named.random: keys and samplers)
from .autodiff import GradientError, grad, value_and_grad  # noqa: E402,F401
from .autodiff import stop_gradient  # noqa: E402,F401
from .control import cond, fold, scan, while_loop  # noqa: E402,F401
from .remat import (ScanCheckpointPolicy, checkpoint, checkpoint_name, checkpoint_policies,  # noqa: E402,F401
                    remat, tree_checkpoint_name)
from . import methods as _methods  # noqa: E402,F401  (operators and methods on NamedArray)
from . import extend  # noqa: E402,F401  (defining ops, lowerings and passes)
from .interop import call_jax, jax_function  # noqa: E402,F401  (JAX code inside named programs)
from .caches import cache_limits, clear_caches, set_cache_limits  # noqa: E402,F401  (bounded executable caches)
from . import axis  # noqa: E402,F401  (axis helpers, issue 13)
from .axis import (AxisSelection, AxisSelector, AxisSpec, axis_name, axis_size, concat_axes,  # noqa: E402,F401
                   eliminate_axes, ensure_tuple, intersect_axes, is_axis_compatible, replace_axis, selects_axis,
                   union_axes, without_axes)
from .vmap import vmap  # noqa: E402,F401
from . import tree  # noqa: E402,F401  (named.tree: pytree helpers)
from .tree import is_named_array  # noqa: E402,F401
from .partitioning_helpers import (PhysicalAxisSpec, ResourceAxis, ResourceMapping, auto_sharded,  # noqa: E402,F401
                                   fsdp, infer_resource_partitions, named_jit, physical_axis_name,
                                   physical_axis_size, pspec_for, pspec_for_axis, round_axis_for_partitioning,
                                   sharding_for_axis)
from . import typing  # noqa: E402,F401  (named.typing: f32["batch embed"] annotations)
from . import ref  # noqa: E402,F401  (named.ref: mutable references)
from .ref import NamedRef, freeze, new_ref, swap  # noqa: E402,F401
from . import debug  # noqa: E402,F401  (named.debug: shardings pictures, array summaries, model checks)

from ._traceback import install as _install_traceback_filter  # noqa: E402

_install_traceback_filter()
for _error in (NamedError, AxisError, ShardingError, ParseError, VerifyError, TracerError, DeletedArrayError,
               SerializationError, RemoteDataError):
    _error.__module__ = "named"  # shown, and importable, as named.AxisError etc.

__version__ = "0.1.0"
