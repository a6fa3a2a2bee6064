"""Text someone else chose (labels, a server's error body, a command line), made safe for where it goes.

Three places text leaves this package: a terminal (where ESC and BEL sequences retitle the window or hide lines),
a spreadsheet (where a cell starting with ``=`` is a formula) and a record's notes (which a person reads later,
in a terminal or an HTML page). Each function here is for one of them. A leaf module (standard library only):
the stores, the reports' renderers and the command-line commands all use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

REPLACEMENT = "\ufffd"
NOTE_LIMIT = 300  # characters of a foreign error text kept in a note (a server's HTML page is not a reason)

_SPACE_LIKE = str.maketrans({"\t": " ", "\n": " ", "\r": " "})


def printable(value: Any) -> str:
    """``value`` for a terminal: every character that is not printable (ESC, BEL, NUL, C1 controls, other
    format characters) replaced by U+FFFD, so that nothing the data holds reaches the terminal as a command."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else REPLACEMENT for c in text)


def foreign_error(text: str, limit: int = NOTE_LIMIT) -> str:
    """An error text from elsewhere (an HTTP body, an exception from a driver) for a note: whitespace runs and
    line breaks made single spaces, other control characters replaced, at most ``limit`` characters."""
    flat = " ".join(text.translate(_SPACE_LIKE).split())
    flat = printable(flat)
    return flat if len(flat) <= limit else flat[: max(0, limit - 1)] + "…"


# -- command lines ------------------------------------------------------------------------------------------

SECRET = "***"
_SECRET_NAME = re.compile(r"passw(or)?d|passphrase|token|secret|key|credential", re.IGNORECASE)
_OPTION = re.compile(r"^(-{1,2}[^=\s]+)(=(.*))?$", re.DOTALL)


def redact_argv(argv: Iterable[str]) -> list[str]:
    """A command line as it may be stored: the value of every argument whose name looks like a secret
    (``password``, ``token``, ``secret``, ``key``, ...) replaced by ``***``, in the forms ``--name=value``,
    ``--name value`` and ``NAME=value`` (an environment assignment, ``env API_TOKEN=... cmd``)."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            hide_next = False
            if not arg.startswith("-"):
                out.append(SECRET)
                continue
        option = _OPTION.match(arg)
        if option is not None and _SECRET_NAME.search(option.group(1)):
            if option.group(2) is None:
                hide_next = True  # the value is the next argument
                out.append(arg)
            else:
                out.append(f"{option.group(1)}={SECRET}")
            continue
        name, equals, _ = arg.partition("=")
        if equals and not arg.startswith("-") and name.isidentifier() and _SECRET_NAME.search(name):
            out.append(f"{name}={SECRET}")
            continue
        out.append(arg)
    return out


# -- URLs ---------------------------------------------------------------------------------------------------

# A URL in free text: scheme, then everything up to whitespace. Its userinfo runs to the last "@" before the
# path (a password may hold an unencoded "@"), its query and fragment from the first "?" or "#".
_URL = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://)(\S+)")


def _public(match: re.Match[str]) -> str:
    rest = re.split(r"[?#]", match.group(2), maxsplit=1)[0]
    authority, slash, path = rest.partition("/")
    host = authority.rpartition("@")[2]
    return f"{match.group(1)}{host}{slash}{path}"


def redact_urls(text: str) -> str:
    """``text`` with every URL's userinfo (``user:password@``) and query/fragment (``?code=KEY``) removed: what a
    record's ``scheduled_by``, a note or a log line may show of a configured service's address. Credentials are
    often put there (an Azure Functions ``?code=``, a proxy's ``user:password@``); the host and path say enough."""
    return _URL.sub(_public, text)


# -- CSV -------------------------------------------------------------------------------------------------------

#: a cell starting with one of these is read as a formula by spreadsheets (OWASP, "CSV Injection")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NEEDS_QUOTES = re.compile(r'[",\r\n]')


def defuse(text: str) -> str:
    """A text cell that a spreadsheet will not run: a leading apostrophe before ``= + - @``, a tab or a
    carriage return."""
    return "'" + text if text.startswith(FORMULA_START) else text


def defuse_reversibly(text: str) -> str:
    """As :func:`defuse`, and an apostrophe before a cell that already starts with one: :func:`restore` then
    removes exactly one, and every text reads back as it was written (the CSV store)."""
    return "'" + text if text.startswith((*FORMULA_START, "'")) else text


def restore(text: str) -> str:
    """The text :func:`defuse_reversibly` was given."""
    return text[1:] if text.startswith("'") else text


def csv_field(value: Any) -> str:
    """One field of a CSV line (RFC 4180): quoted when it holds a quote, a comma, a CR or a LF.

    The standard library's writer quotes only the characters of its own line terminator, so with ``"\\n"`` a
    bare CR went out unquoted and readers split the row there."""
    text = "" if value is None else str(value)
    return '"' + text.replace('"', '""') + '"' if _NEEDS_QUOTES.search(text) else text


def csv_line(values: Iterable[Any]) -> str:
    """A CSV line of already defused values, ending with ``\\n``."""
    return ",".join(csv_field(v) for v in values) + "\n"
