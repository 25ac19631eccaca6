"""The ``restyle`` command: a thin layer over :mod:`restyle.api`.

``main(argv) -> exit status`` never raises for bad input: it prints one line to stderr and
returns 2. Sub-commands (``example``, ``score``, ``serve``, ``styles``) live in their own
modules and are imported only when used.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import IO

from ..errors import OutOfMemory, RestyleError
from .common import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, Parser

__all__ = ["COMMANDS", "EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "Parser",
           "guarded", "main", "run"]  # fmt: skip

#: Sub-command name -> (module with ``main(argv, stderr) -> status``, one-line help).
COMMANDS: dict[str, tuple[str, str]] = {
    "apply": ("restyle.cli.apply", "paint photos with a trained model or arbitrary:PAINTING"),
    "batch": ("restyle.cli.batch", "stylise many photos with many paintings into a folder"),
    "example": ("restyle.cli.example", "stylise a built-in example photo (no files needed)"),
    "score": ("restyle.cli.score", "measure content, style and colour distances of an image"),
    "serve": ("restyle.web", "start the local web app"),
    "styles": ("restyle.cli.styles", "list the built-in paintings, usable by name as styles"),
    "train": ("restyle.cli.train", "train a fast network for one painting (Johnson et al.)"),
    "video": ("restyle.cli.video", "stylise a video without flicker (Ruder et al. 2016)"),
}


def _dispatch(argv: list[str], err: IO[str]) -> int:
    if argv and argv[0] in COMMANDS:
        module = importlib.import_module(COMMANDS[argv[0]][0])
        status: int = module.main(argv[1:], err)
        return status
    from .stylise import stylise_command

    return stylise_command(argv, err)


def guarded(command: Callable[[list[str], IO[str]], int], argv: Sequence[str], err: IO[str]) -> int:
    """Run ``command(argv, err)`` so that bad input never raises: a :class:`RestyleError` becomes
    one line on ``err`` and status 2, out of memory status 1, Ctrl-C status 130."""
    try:
        with contextlib.redirect_stderr(err):
            return command(list(argv), err)
    except OutOfMemory as e:
        print(f"restyle: error: {e}", file=err)
        return EXIT_FAILURE
    except RestyleError as e:
        print(f"restyle: error: {e}", file=err)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("restyle: interrupted", file=err)
        return EXIT_INTERRUPTED
    except MemoryError:
        print(f"restyle: error: {OutOfMemory.DEFAULT}", file=err)
        return EXIT_FAILURE
    except SystemExit as e:  # argparse's --help and usage errors
        return e.code if isinstance(e.code, int) else EXIT_USAGE


def main(argv: Sequence[str] | None = None, stderr: IO[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status.

    Bad input never raises: one line goes to ``stderr`` and the status is 2.
    """
    return guarded(_dispatch, sys.argv[1:] if argv is None else argv, stderr or sys.stderr)


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
