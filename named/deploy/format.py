"""The byte format of an exported program: a fixed preamble, a JSON header, the StableHLO artifact, and
a checksum over everything before it.

    b"NAMEDEXP" | format version (u32) | header length (u64) | header (JSON, UTF-8)
                | artifact length (u64) | artifact (portable StableHLO bytecode) | SHA-256 of all the above

Any truncation or changed byte fails the length checks or the checksum, and is reported as a
:class:`SerializationError` before anything is parsed.
"""

from __future__ import annotations

import hashlib
import json
import struct

from named.dialect import NamedError

__all__ = ["MAGIC", "FORMAT_VERSION", "SerializationError", "pack", "unpack"]

MAGIC = b"NAMEDEXP"
FORMAT_VERSION = 1
_DIGEST = 32


class SerializationError(NamedError, ValueError):
    """Bytes that are not a complete, unmodified exported program of a version this release reads."""


def pack(header: dict, artifact: bytes) -> bytes:
    """The bytes of one exported program.

    >>> unpack(pack({"name": "f"}, b"\\x00\\x01"))
    ({'name': 'f'}, b'\\x00\\x01')
    """
    head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    body = (MAGIC + struct.pack("<I", FORMAT_VERSION) + struct.pack("<Q", len(head)) + head
            + struct.pack("<Q", len(artifact)) + artifact)
    return body + hashlib.sha256(body).digest()


def unpack(data: bytes) -> tuple[dict, bytes]:
    """``(header, artifact)`` of bytes made by :func:`pack`; :class:`SerializationError` otherwise."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise SerializationError(f"named.deserialize takes bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data.startswith(MAGIC):
        raise SerializationError("these bytes are not an exported named program (they do not start with "
                                 f"{MAGIC!r})")
    fixed = len(MAGIC) + 4 + 8
    if len(data) < fixed + 8 + _DIGEST:  # preamble, artifact length, checksum
        raise SerializationError(f"the exported program is truncated ({len(data)} bytes)")
    (version,) = struct.unpack_from("<I", data, len(MAGIC))
    if version != FORMAT_VERSION:
        raise SerializationError(f"the exported program has format version {version}; this release of named "
                                 f"reads version {FORMAT_VERSION}")
    body, digest = data[:-_DIGEST], data[-_DIGEST:]
    if hashlib.sha256(body).digest() != digest:
        raise SerializationError(f"the exported program is corrupted or truncated: its SHA-256 checksum does not "
                                 f"match ({len(data)} bytes)")
    (head_len,) = struct.unpack_from("<Q", body, len(MAGIC) + 4)
    start = fixed
    if start + head_len + 8 > len(body):
        raise SerializationError("the exported program's header length is inconsistent")
    try:
        header = json.loads(body[start:start + head_len].decode())
    except (UnicodeDecodeError, ValueError) as e:
        raise SerializationError(f"the exported program's header is not valid JSON: {e}") from None
    (art_len,) = struct.unpack_from("<Q", body, start + head_len)
    art_start = start + head_len + 8
    if art_start + art_len != len(body):
        raise SerializationError("the exported program's artifact length is inconsistent")
    return header, body[art_start:]
