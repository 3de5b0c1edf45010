"""The ``rkhsmtl`` console script: one parser, one sub-command per :class:`Command`.

A sub-command is a :class:`Command` (its name, its help, a function adding its
arguments to its sub-parser and a function running it on the parsed arguments).
Adding one is one entry in :func:`commands`. A :class:`~._io.CommandError` raised
while a command runs becomes an argparse error of its sub-parser (one line, exit
status 2); warnings are printed as one ``PROG: warning: ...`` line each.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from ._io import CommandError

__all__ = ["Command", "commands", "main"]


@dataclass(frozen=True)
class Command:
    """A sub-command of ``rkhsmtl``.

    Parameters
    ----------
    name : str
        What the user types (``rkhsmtl NAME ...``).
    help : str
        One line for ``rkhsmtl --help``.
    description : str
        The paragraph of ``rkhsmtl NAME --help``.
    add_arguments : callable
        ``add_arguments(parser)`` adds the command's arguments to its sub-parser.
    run : callable
        ``run(args)`` runs the command; returns the exit status (None means 0).
    """

    name: str
    help: str
    description: str
    add_arguments: Callable
    run: Callable


def commands():
    """The sub-commands, in the order ``--help`` lists them."""
    from ._commands import EVALUATE, FIT, PREDICT
    from ._demo import DEMO
    from ._run import RUN

    return [DEMO, FIT, PREDICT, EVALUATE, RUN]


@contextlib.contextmanager
def _warnings_as_lines(prog):
    """Print each warning as one line on stderr, without the source line."""
    def show(message, category, filename, lineno, file=None, line=None):
        kind = "warning" if category is UserWarning else category.__name__
        print(f"{prog}: {kind}: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def build_parser():
    """The parser of the ``rkhsmtl`` command and its sub-parsers.

    Returns
    -------
    parser : argparse.ArgumentParser
    subparsers : dict
        Sub-command name -> ``(Command, sub-parser)``.
    """
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="rkhsmtl",
        description="Multi-task learning with separable-kernel vector-valued RKHS "
                    "models: fit, predict and evaluate on your own data files, run batch "
                    "experiments, or run the demo.")
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    subparsers = {}
    for command in commands():
        subparser = sub.add_parser(command.name, help=command.help,
                                   description=command.description)
        command.add_arguments(subparser)
        subparsers[command.name] = (command, subparser)
    return parser, subparsers


def main(argv=None):
    """Entry point of the ``rkhsmtl`` console script.

    Parameters
    ----------
    argv : list of str, default=None
        Command-line arguments without the program name; ``None`` reads
        ``sys.argv``.

    Returns
    -------
    status : int
        The exit status of the command (argparse errors exit with status 2).
    """
    parser, subparsers = build_parser()
    args = parser.parse_args(argv)
    command, subparser = subparsers[args.command]
    try:
        with _warnings_as_lines(subparser.prog):
            status = command.run(args)
    except CommandError as exc:
        subparser.error(str(exc))
    except BrokenPipeError:
        # The reader of a pipe stopped early (``rkhsmtl predict ... | head``): no
        # traceback, and none either when Python flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return 0 if status is None else int(status)
