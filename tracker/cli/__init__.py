"""The ``tracker`` command. Each sub-command lives in its own module of this package.

A command module defines ``register(sub)``: it adds its parser to the sub-parsers and sets ``func`` (a
function from the parsed arguments to an exit code) as the parser's default. Modules are found by listing this
package, so adding a command means adding a file; ``ORDER`` (default 100) sorts them in ``--help``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

from tracker._version import __version__
from tracker.errors import ConfigError, TrackerError

logger = logging.getLogger("tracker.cli")


def _commands() -> list[object]:
    modules = [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in pkgutil.iter_modules(__path__)
        if not info.name.startswith("_")
    ]
    return sorted((m for m in modules if hasattr(m, "register")), key=lambda m: (getattr(m, "ORDER", 100), m.__name__))


def parser() -> argparse.ArgumentParser:
    """The whole command line: global flags and one sub-parser per command module."""
    top = argparse.ArgumentParser(prog="tracker", description="Measure the energy and carbon of code.")
    top.add_argument("--version", action="version", version=f"tracker {__version__}")
    top.add_argument("-v", "--verbose", action="store_true", help="log what is detected and why")
    sub = top.add_subparsers(dest="command", required=True)
    for module in _commands():
        module.register(sub)  # type: ignore[attr-defined]
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="tracker: %(levelname)s: %(message)s"
    )
    try:
        return int(args.func(args))
    except BrokenPipeError:  # `tracker zones | head`: the reader left; say nothing more
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 0
    except ConfigError as exc:
        print(f"tracker: configuration error: {exc}", file=sys.stderr)
        return 2
    except TrackerError as exc:
        print(f"tracker: {exc}", file=sys.stderr)
        return 1
