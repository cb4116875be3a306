"""haliax's ``tree_util`` spelling of :mod:`named.tree` (``named.tree_util.tree_map`` etc.).

>>> import named.tree_util as ntu
>>> ntu.tree_map(lambda x: x + 1, [1, 2])
[2, 3]
"""

from .tree import *  # noqa: F401,F403
from .tree import __all__  # noqa: F401
