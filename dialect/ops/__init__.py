"""Op families of the named dialect; importing this package registers every op class."""

from .elementwise import *  # noqa: F401,F403
from .creation import *  # noqa: F401,F403
from .reduce import *  # noqa: F401,F403
from .shape import *  # noqa: F401,F403
from .sharding import *  # noqa: F401,F403
from .control import *  # noqa: F401,F403
from .indexing import *  # noqa: F401,F403
from .axiswise import *  # noqa: F401,F403
from .random import *  # noqa: F401,F403
from .structure import *  # noqa: F401,F403
from .interop import *  # noqa: F401,F403
from .remat import *  # noqa: F401,F403
from .fft import *  # noqa: F401,F403
from .quant import *  # noqa: F401,F403
