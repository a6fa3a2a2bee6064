"""The configuration flags of the commands, derived from the settings' declarations (``tracker.config.Config``).

A command asks for its flags by name (``add_settings(parser, "run")``): every setting whose declared flag lists
that command gets it, in its declared form. :func:`settings` turns the parsed flags back into configuration
arguments, raw as typed: :func:`tracker.config.resolve` coerces and checks them like any other layer's values.
"""

from __future__ import annotations

import argparse
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from tracker.config import SETTINGS
from tracker.settings import Flag, Setting


@dataclass(frozen=True)
class Option:
    """One command-line flag and the setting(s) it sets (two for a composite flag such as ``--cloud``)."""

    flag: Flag
    keys: tuple[str, ...]
    setting: Setting  # the first key's: its help and choices

    @property
    def name(self) -> str:
        return self.flag.name or "--" + self.keys[0].replace("_", "-")

    @property
    def dest(self) -> str:
        return self.name[2:].replace("-", "_") if self.flag.split else self.keys[0]

    def arguments(self) -> dict[str, Any]:
        """``add_argument``'s keywords. Values stay text (no ``type=``): the configuration coerces them."""
        text = self.flag.help or self.setting.help
        kwargs: dict[str, Any] = {"dest": self.dest, "default": None, "help": text}
        if self.flag.form == "switch":
            kwargs["action"] = "store_true"
        else:
            kwargs["metavar"] = self.flag.metavar
            if self.flag.form == "repeat":
                kwargs.update(action="append", help=f"{text} (repeatable)")
            if self.setting.choices and not self.flag.split:
                kwargs["choices"] = self.setting.choices
        return kwargs

    def values(self, given: Any) -> dict[str, Any]:
        """The configuration arguments a parsed flag stands for."""
        if self.flag.split is not None:
            return dict(self.flag.split(given))
        if self.flag.form == "repeat":
            return {self.keys[0]: ",".join(given)}  # the key's text form, as in TRACKER_TAGS
        return {self.keys[0]: given}


def options(command: str | None = None) -> Iterator[Option]:
    """The flags of ``command`` (every command's when None), in the order the settings are declared."""
    composites: set[int] = set()
    for key, declaration in SETTINGS.items():
        flag = declaration.flag
        if flag is None or (command is not None and command not in flag.commands):
            continue
        if flag.split is None:
            yield Option(flag, (key,), declaration)
        elif id(flag) not in composites:  # one composite flag object is declared on each key it sets
            composites.add(id(flag))
            yield Option(flag, tuple(k for k, s in SETTINGS.items() if s.flag is flag), declaration)


def add_settings(parser: argparse.ArgumentParser, command: str, *, exclusive: Collection[str] = ()) -> None:
    """The configuration flags of ``command``; those whose dest is in ``exclusive`` in one mutually exclusive
    group (``tracker intensity``: one of ``--zone``, ``--country``, ``--cloud``)."""
    group = parser.add_mutually_exclusive_group() if exclusive else None
    for option in options(command):
        target = group if group is not None and option.dest in exclusive else parser
        target.add_argument(option.name, **option.arguments())


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """The configuration arguments that were given (a flag left out lets the other layers decide)."""
    values: dict[str, Any] = {}
    for option in options():
        given = getattr(args, option.dest, None)
        if given is not None:
            values.update(option.values(given))
    return values


def command(args: argparse.Namespace, usage: str) -> list[str] | None:
    """The command given after ``--`` (``tracker run``, ``tracker wait``); None, having said ``usage`` on stderr,
    when there is none."""
    import sys

    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        print(usage, file=sys.stderr)
        return None
    return cmd
