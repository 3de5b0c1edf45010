"""The ``rkhsmtl demo`` command."""

import io

import numpy as np
import pytest

from rkhsmtl.cli import main, run_demo


def test_demo_prints_a_table_with_every_method():
    out = io.StringIO()
    rows = run_demo(n_schools=12, out=out)
    text = out.getvalue()
    assert [r["method"] for r in rows] == ["independent", "mean-regularised", "pooled"]
    for r in rows:
        assert r["method"] in text
        assert np.isfinite(r["explained_variance"]) and r["fit_seconds"] >= 0
        # Better than predicting nothing at all on 12 schools.
        assert r["explained_variance"] > 0
    assert "explained var." in text


def test_demo_is_reproducible():
    first = run_demo(n_schools=8, seed=3, out=io.StringIO())
    second = run_demo(n_schools=8, seed=3, out=io.StringIO())
    for a, b in zip(first, second, strict=True):
        assert a["explained_variance"] == pytest.approx(b["explained_variance"])


def test_main_runs_the_demo(capsys):
    assert main(["demo", "--n-schools", "6", "--seed", "1"]) == 0
    assert "mean-regularised" in capsys.readouterr().out


def test_main_requires_a_command():
    with pytest.raises(SystemExit):
        main([])
