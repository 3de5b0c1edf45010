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


def _run_in_this_process(script, monkeypatch, capsys):
    """Run ``script`` as ``python script`` would (``__name__ == "__main__"``, its own
    ``sys.argv``, small mode, no display), in this worker: a subprocess per example
    would pay the three seconds of CPU of importing scikit-learn fourteen times."""
    import runpy

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.setenv("RKHSMTL_EXAMPLE_SMALL", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setattr(sys, "argv", [str(script)])
    plt.close("all")
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        plt.close("all")
    return capsys.readouterr().out


@pytest.mark.parametrize("script", [
    pytest.param(p, marks=pytest.mark.slow) if p.name in SLOW else p for p in EXAMPLES
], ids=lambda p: p.name)
def test_example_runs(script, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    stdout = _run_in_this_process(script, monkeypatch, capsys)
    assert stdout.strip(), "an example prints its results"
    if script.name in FIGURES:
        saved = sorted(path.name for path in tmp_path.glob("*.png"))
        expected = [f"{script.stem}_{n}.png" for n in range(1, FIGURES[script.name] + 1)]
        assert saved == expected, stdout[-2000:]


def test_an_example_runs_as_a_script(tmp_path):
    """One example in a fresh interpreter, as a user runs it (the others run in the
    test worker, above): nothing in them may depend on what the suite imported."""
    script = next(p for p in EXAMPLES if p.name == "solvers_and_memory.py")
    env = dict(os.environ, RKHSMTL_EXAMPLE_SMALL="1", MPLBACKEND="Agg")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip(), "an example prints its results"
