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


def test_version_and_python_dash_m(capsys):
    import subprocess
    import sys

    import rkhsmtl

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"rkhsmtl {rkhsmtl.__version__}"
    result = subprocess.run([sys.executable, "-m", "rkhsmtl", "--version"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and rkhsmtl.__version__ in result.stdout


@pytest.mark.parametrize("argv, message", [
    (["demo", "--train-size", "1.5"], "must be between 0 and 1"),
    (["demo", "--train-size", "half"], "invalid fraction value"),
    (["demo", "--n-schools", "1"], "must be an integer >= 2"),
    (["demo", "--output-dir", "/nonexistent/folder"], "not an existing folder"),
])
def test_bad_values_are_argparse_errors_before_any_fit(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_help_is_plain_text(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    text = capsys.readouterr().out
    assert "``" not in text and "School" in text


def test_rows_are_printed_as_the_models_finish():
    out = io.StringIO()
    run_demo(n_schools=5, out=out, output_dir=None)
    lines = out.getvalue().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("method"))
    first_row = next(i for i, line in enumerate(lines) if line.startswith("independent"))
    assert header < first_row
