"""Export for deployment: ``named.export(fn, *args_or_specs)`` and ``named.deserialize(bytes)``."""

from .exported import Exported, SerializationError, deserialize, export
from .format import FORMAT_VERSION

__all__ = ["Exported", "SerializationError", "deserialize", "export", "FORMAT_VERSION"]
