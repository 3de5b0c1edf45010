"""Every script in examples/ runs to completion on small data, and saves its figures
when there is no display."""

import os
import pathlib
import subprocess
import sys

import pytest

EXAMPLES = sorted((pathlib.Path(__file__).parents[1] / "examples").glob("*.py"))


def test_examples_are_found():
    assert len(EXAMPLES) >= 3


# The examples that take ten seconds or more of CPU time even in small mode (still
# run in CI).
SLOW = {"digits_related_tasks.py", "school_experiment.py"}

# How many figures an example draws; run as a script without a display (the Agg
# backend) it saves them as <name>_<n>.png in the current directory.
FIGURES = {
    "plot_datasets.py": 2,
    "plot_task_structures.py": 3,
    "plot_learned_structure.py": 3,
    "school_protocol.py": 3,
    "digits_related_tasks.py": 2,
    "distribution_matching.py": 3,
    "disease_progression.py": 2,
    "plot_new_tasks.py": 2,
    "plot_auxiliary_tasks.py": 2,
    "plot_task_relations.py": 2,
}


@pytest.mark.parametrize("script", [
    pytest.param(p, marks=pytest.mark.slow) if p.name in SLOW else p for p in EXAMPLES
], ids=lambda p: p.name)
def test_example_runs(script, tmp_path):
    env = dict(os.environ, RKHSMTL_EXAMPLE_SMALL="1", MPLBACKEND="Agg")
    # The problems are small: one BLAS thread is as fast, and spinning BLAS threads
    # double the CPU time on a busy machine.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip(), "an example prints its results"
    if script.name in FIGURES:
        saved = sorted(path.name for path in tmp_path.glob("*.png"))
        expected = [f"{script.stem}_{n}.png" for n in range(1, FIGURES[script.name] + 1)]
        assert saved == expected, result.stdout[-2000:]
