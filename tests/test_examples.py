"""Every script in examples/ runs to completion on small data."""

import os
import pathlib
import subprocess
import sys

import pytest

EXAMPLES = sorted((pathlib.Path(__file__).parents[1] / "examples").glob("*.py"))


def test_examples_are_found():
    assert len(EXAMPLES) >= 3


# The examples that take ten seconds or more even in small mode (still run in CI).
SLOW = {"school_protocol.py", "linear_models.py"}


@pytest.mark.parametrize("script", [
    pytest.param(p, marks=pytest.mark.slow) if p.name in SLOW else p for p in EXAMPLES
], ids=lambda p: p.name)
def test_example_runs(script, tmp_path):
    env = dict(os.environ, RKHSMTL_EXAMPLE_SMALL="1", MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip(), "an example prints its results"
