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
from typing import Any

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


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in: what "the same host" means for credentials."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(scheme)


def retry_after(header: str | None, default: float) -> float:
    """Seconds to wait from a ``Retry-After`` header (seconds; a date or nonsense reads as ``default``), kept
    between 1 s and a day. "nan" parses as a float, and ``max(nan, 1.0)`` is nan: no cool-down at all, so it is
    ``default`` too."""
    try:
        seconds = float(header) if header else default
    except ValueError:
        seconds = default
    if seconds != seconds:  # nan
        seconds = default
    return min(max(seconds, 1.0), 24 * 3600.0)


def get_capped(
    requests: Any,
    url: str,
    *,
    params: Any,
    headers: dict[str, str],
    timeout: float,
    max_body: int,
    max_error_body: int,
    max_redirects: int,
    error: Callable[[str, str], Exception],
    name: str | None = None,
    auth: tuple[str, str] | None = None,
) -> tuple[int, Any, bytes]:
    """One GET: (status, headers, body), the body read within ``max_body`` (``max_error_body`` for an answer
    other than 200, of which only the start is kept), redirects followed only within ``url``'s origin.

    Credentials in ``headers`` (a token) go to that host and nowhere else: requests strips ``Authorization`` on a
    redirect to another host, not a header of a service's own, so redirects are followed here, by hand, and one
    that leaves the origin is refused; another host's answer is never taken for the service's. Faults are raised
    as ``error(kind, message)`` (kinds ``redirect``, ``malformed``) in the caller's own exception type, naming
    ``name`` (default: ``url``); network errors as ``requests.ConnectionError``.
    """
    from urllib.parse import urljoin

    name = name or url
    home = origin(url)
    query = params
    sent = {"Accept": "application/json", "Accept-Encoding": ACCEPT_ENCODING, **headers}
    for _ in range(max_redirects + 1):
        response = requests.get(
            url, params=query, headers=sent, auth=auth, timeout=timeout, stream=True, allow_redirects=False
        )
        try:
            status = response.status_code
            if response.is_redirect:
                target = urljoin(response.url, response.headers.get("location", ""))
                if origin(target) != home:
                    raise error("redirect", f"HTTP {status}: redirected away from {name}; not followed")
                url, query = target, None  # the Location carries its own query
                continue

            def read(n: int, raw: Any = response.raw) -> bytes:
                try:
                    return raw.read(n, decode_content=False)
                except Exception as exc:  # urllib3's read errors: a network failure, as requests says
                    raise requests.ConnectionError(exc) from exc

            try:
                body = read_capped(
                    read, max_body if status == 200 else max_error_body, response.headers.get("content-encoding")
                )
            except TooLarge as exc:
                if status == 200:
                    raise error("malformed", str(exc)) from exc
                body = b""
            except ValueError as exc:
                raise error("malformed", str(exc)) from exc
            return status, response.headers, body
        finally:
            response.close()
    raise error("redirect", f"more than {max_redirects} redirects from {name}")
