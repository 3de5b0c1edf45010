"""The ``rkhsmtl demo`` command."""

import io

import numpy as np
import pytest

from rkhsmtl.cli import main, run_demo


def test_demo_prints_a_table_with_every_method(tmp_path):
    pytest.importorskip("matplotlib")
    out = io.StringIO()
    rows = run_demo(n_schools=12, out=out, output_dir=str(tmp_path))
    text = out.getvalue()
    assert [r["method"] for r in rows] == ["independent", "mean-regularised", "pooled",
                                           "learned (relation)"]
    assert rows[-1]["n_iter"] > 1  # the structure was learned, not given
    heatmap = tmp_path / "school_learned_task_structure.png"
    assert heatmap.stat().st_size > 1000 and str(heatmap) in text
    for r in rows:
        assert r["method"] in text
        assert np.isfinite(r["explained_variance"]) and r["fit_seconds"] >= 0
        # Better than predicting nothing at all on 12 schools.
        assert r["explained_variance"] > 0
    assert "explained var." in text


def test_demo_is_reproducible():
    first = run_demo(n_schools=8, seed=3, out=io.StringIO(), output_dir=None)
    second = run_demo(n_schools=8, seed=3, out=io.StringIO(), output_dir=None)
    for a, b in zip(first, second, strict=True):
        assert a["explained_variance"] == pytest.approx(b["explained_variance"])


def test_main_runs_the_demo(capsys, tmp_path):
    assert main(["demo", "--n-schools", "6", "--seed", "1",
                 "--output-dir", str(tmp_path)]) == 0
    assert "mean-regularised" in capsys.readouterr().out


def test_main_requires_a_command():
    with pytest.raises(SystemExit):
        main([])


def test_demo_without_matplotlib_says_how_to_get_the_heatmap(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = io.StringIO()
    run_demo(n_schools=5, out=out, output_dir=str(tmp_path))
    assert "rkhsmtl[plot]" in out.getvalue()
    assert not list(tmp_path.iterdir())
