"""Reading an HTTP answer's body with a ceiling on its decoded size.

Why: a service that answers with a huge body, or a small gzip "bomb" that inflates to gigabytes, must not take
the measured program's memory with it. Clients ask for ``gzip``/``deflate`` only (:data:`ACCEPT_ENCODING`), read
the raw bytes a chunk at a time and inflate them here with ``zlib``'s ``max_length``, so no more than the ceiling
plus one chunk is ever held, whatever the compression ratio. Past the ceiling, :class:`TooLarge` is raised and
the caller treats the answer as malformed.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

ACCEPT_ENCODING = "gzip, deflate"  # what the clients ask for: the codings read_capped can inflate
CHUNK = 65536


class TooLarge(ValueError):
    """The body is (or inflates to) more than the ceiling."""


def _decoder(encoding: str | None) -> zlib._Decompress | None:
    coding = (encoding or "identity").strip().lower()
    if coding in ("", "identity"):
        return None
    if coding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if coding == "deflate":
        return zlib.decompressobj(zlib.MAX_WBITS)
    raise ValueError(f"unsupported content encoding {encoding!r}")


def read_capped(read: Callable[[int], bytes], limit: int, encoding: str | None = None) -> bytes:
    """The body that ``read(n)`` gives (the bytes as sent, at most ``n`` a call), decoded per ``encoding`` (the
    ``Content-Encoding`` header); :class:`TooLarge` once more than ``limit`` decoded bytes would be kept,
    ``ValueError`` for a coding we did not ask for or a corrupt stream."""
    decoder = _decoder(encoding)
    out = bytearray()
    while True:
        chunk = read(CHUNK)
        if not chunk:
            break
        if decoder is None:
            out += chunk
        else:
            try:
                out += decoder.decompress(chunk, limit + 1 - len(out))
                while decoder.unconsumed_tail and len(out) <= limit:
                    out += decoder.decompress(decoder.unconsumed_tail, limit + 1 - len(out))
            except zlib.error as exc:
                raise ValueError(f"corrupt {encoding} body: {exc}") from exc
        if len(out) > limit:
            raise TooLarge(f"the answer is larger than {limit} bytes")
    if decoder is not None:
        try:
            out += decoder.flush()
        except zlib.error as exc:
            raise ValueError(f"corrupt {encoding} body: {exc}") from exc
        if len(out) > limit:
            raise TooLarge(f"the answer is larger than {limit} bytes")
    return bytes(out)
