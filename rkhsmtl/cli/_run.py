"""``rkhsmtl run FILE``: run a batch experiment described by a TOML or JSON file."""

from __future__ import annotations

from ._io import CommandError
from ._main import Command

__all__ = ["RUN"]


def _add_run_arguments(parser):
    from ..experiments._config_file import add_run_arguments

    add_run_arguments(parser)


def _run(args):
    from ..experiments._config_file import ExperimentFileError, run_from_args

    try:
        return run_from_args(args)
    except (ExperimentFileError, FileNotFoundError) as exc:
        raise CommandError(str(exc)) from exc


RUN = Command(
    name="run",
    help="run a batch experiment (estimators x data sets x splits) from a TOML or "
         "JSON file",
    description="Run every (data set, estimator, split) unit of the experiment "
                "described by a TOML or JSON file, in parallel through joblib, caching "
                "each finished unit so that a rerun resumes where a killed run "
                "stopped; print the summary table (and the transfer report when the "
                "file names a baseline) and write the results table.",
    add_arguments=_add_run_arguments,
    run=_run,
)
