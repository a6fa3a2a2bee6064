"""How a setting is declared: once, as field metadata on :class:`tracker.config.Config`.

A declaration says everything about a key: its default, how a raw value (TOML, an environment variable, an
argument, a command-line flag) becomes the field's type, the values it may take, its help text and the form of
its command-line flag, or that it has none. ``tracker.config`` derives the coercion and the per-key checks from
it, ``tracker.cli._common`` the flags of every command. Adding a key means one ``setting(...)`` field and the code
that uses it.

This module only holds the vocabulary of declarations and the coercions and checks shared by several keys; a
rule that belongs to one key lives next to that key's declaration in ``tracker/config.py``.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import Field, field, fields
from typing import Any

from tracker.errors import ConfigError

#: raw value to the field's type; raises ConfigError(key, value, why)
Coerce = Callable[[str, Any], Any]
#: a coerced, non-None value: raises ConfigError(key, value, why) when it is out of bounds
Check = Callable[[str, Any], None]
#: a composite flag's text to the values of the keys it sets (``--cloud aws:eu-west-1``)
Split = Callable[[str], dict[str, str]]

#: the commands that start a measurement and take the measurement settings
MEASURING = ("run", "detect", "monitor")
_METADATA = "tracker.setting"


class Flag:
    """The command-line form of a setting.

    ``form``: ``"value"`` (``--key VALUE``), ``"repeat"`` (``--tag K=V --tag K2=V2``: joined with commas, as
    the key reads them from the environment) or ``"switch"`` (``--geoip``: sets True). ``commands``: the
    commands that take the flag. A ``split`` flag is composite: the same object declared on each key it sets,
    its text split into their values (``--cloud aws:eu-west-1``).

    Plain classes, not dataclasses, here: ``import tracker`` loads this module, and each dataclass costs
    about a millisecond to define.
    """

    __slots__ = ("commands", "form", "help", "metavar", "name", "split")

    def __init__(
        self,
        name: str = "",
        *,
        form: str = "value",
        metavar: str | None = None,
        help: str = "",
        commands: tuple[str, ...] = MEASURING,
        split: Split | None = None,
    ) -> None:
        self.name = name  # "--cpu-watts"; empty: from the key
        self.form = form
        self.metavar = metavar
        self.help = help  # empty: the setting's help
        self.commands = commands
        self.split = split

    def __repr__(self) -> str:
        return f"Flag({self.name!r}, form={self.form!r}, commands={self.commands!r})"


class Setting:
    """One key's declaration (the key is the field's name)."""

    __slots__ = ("check", "choices", "coerce", "flag", "help")

    def __init__(
        self,
        help: str,
        coerce: Coerce,
        choices: tuple[str, ...] = (),
        check: Check | None = None,
        flag: Flag | None = None,
    ) -> None:
        self.help = help
        self.coerce = coerce
        self.choices = choices
        self.check = check
        self.flag = flag

    def validate(self, key: str, value: Any) -> None:
        """The key's own checks on its coerced, non-None value."""
        if self.choices and value not in self.choices:
            raise ConfigError(key, value, f"expected one of {', '.join(self.choices)}")
        if self.check is not None:
            self.check(key, value)

    def __repr__(self) -> str:
        return f"Setting({self.help!r}, choices={self.choices!r}, flag={self.flag!r})"


#: the usual flag: ``--key-name VALUE`` for the commands that measure
VALUE = Flag()


def setting(
    default: Any = None,
    *,
    help: str,
    coerce: Coerce,
    choices: tuple[str, ...] = (),
    check: Check | None = None,
    flag: Flag | None = VALUE,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """A :class:`Config` field that is a setting. ``flag=None``: no command-line flag; ``factory``: a mutable
    default (``dict``)."""
    metadata = {_METADATA: Setting(help, coerce, choices, check, flag)}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def declared(cls: type) -> dict[str, Setting]:
    """The settings of a dataclass, by key, in declaration order (fields that are not settings left out)."""
    found: tuple[Field[Any], ...] = fields(cls)
    return {f.name: f.metadata[_METADATA] for f in found if _METADATA in f.metadata}


# -- coercions shared by several keys ------------------------------------------------------------------------


def to_text(key: str, value: Any) -> str:
    return str(value)


def to_lower(key: str, value: Any) -> str:
    return str(value).strip().lower()


def to_float(key: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ConfigError(key, value, "expected a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(key, value, "expected a number") from None
    except OverflowError:  # an integer of 10**309 or more: no float holds it
        raise ConfigError(key, value, "too large a number") from None


def to_count(key: str, value: Any) -> int:
    """A whole number from 1 up (a number of steps)."""
    number = to_float(key, value)
    if not (math.isfinite(number) and number.is_integer() and number >= 1):
        raise ConfigError(key, value, "expected a whole number from 1 up")
    return int(number)


def to_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(key, value, "expected true or false")


def to_port(key: str, value: Any) -> int:
    number = to_float(key, value)
    if not (number.is_integer() and 0 <= number <= 65535):
        raise ConfigError(key, value, "expected a TCP port number from 0 to 65535")
    return int(number)


def to_tags(key: str, value: Any) -> dict[str, str]:
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, str):
        tags: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in value.split(","))):
            name, sep, val = part.partition("=")
            if not sep or not name.strip():
                raise ConfigError(key, value, "expected comma-separated key=value pairs")
            tags[name.strip()] = val.strip()
        return tags
    raise ConfigError(key, value, "expected a table of key = value, or 'k=v,k2=v2'")


# -- checks shared by several keys ---------------------------------------------------------------------------


def within(low: float, high: float = math.inf, *, why: str, above: bool = False) -> Check:
    """A finite number from ``low`` (excluded when ``above``) to ``high`` (included)."""

    def check(key: str, value: float) -> None:
        inside = (value > low if above else value >= low) and value <= high
        if not (math.isfinite(value) and inside):
            raise ConfigError(key, value, why)

    return check


def not_blank(key: str, value: str) -> None:
    if not value.strip():
        raise ConfigError(key, value, "labels must not be empty")


def storable(key: str, value: str) -> None:
    """A label every store can hold and every terminal can show: no control character (NUL, which PostgreSQL
    refuses; ESC, tab, line breaks) and no lone surrogate (a byte that was not UTF-8, e.g. from the environment:
    SQLite cannot encode it). Refused at start, so that no record is refused at its end."""
    if value.isprintable():  # the common case, in C
        return
    for position, char in enumerate(value):
        category = unicodedata.category(char)
        if category == "Cs":
            raise ConfigError(key, value, f"not valid UTF-8 text (a byte that is not UTF-8 at position {position})")
        if category == "Cc":
            raise ConfigError(key, value, f"labels must not hold control characters ({char!r} at position {position})")
