"""The notebooks run, top to bottom, on tiny sizes (so they cannot rot), and the committed ones are
their generator's cells, executed, with their figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
sys.path.insert(0, str(NOTEBOOKS))

from make_notebooks import execute  # noqa: E402


def _text(nb: nbformat.NotebookNode) -> str:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            out.append(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")))
    return "\n".join(out)


def _images(nb: nbformat.NotebookNode) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


def _run(name: str, cwd: Path, env: dict[str, str]) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    for cell in nb.cells:  # run the committed cells afresh, their committed outputs dropped
        if cell.cell_type == "code":
            cell.update(outputs=[], execution_count=None)
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        return execute(nb, cwd, timeout=600)


def test_walkthrough_runs_on_real_galaxies(tmp_path):
    nb = _run("walkthrough.ipynb", tmp_path, {"SEDFLOW_NB_N": "300", "SEDFLOW_NB_SAMPLES": "200",
                                             "SEDFLOW_NB_MAX_FALLBACK": "0", "SEDFLOW_NB_WORKERS": "1",
                                             "SEDFLOW_NB_WORKDIR": str(tmp_path / "run")})
    text = _text(nb)
    assert "300 galaxies -> " in text and "infer: 300 galaxies in, 300 rows out" in text
    assert "preset sdss" in text and "kcorrect:" in text and "log M* - kcorrect: median" in text
    assert _images(nb) >= 2  # the corner plot and the report
    assert (tmp_path / "run" / "catalogs" / "walkthrough" / "hats.properties").is_file()
    assert (tmp_path / "run" / "real_report.png").is_file()


def test_validation_runs_with_its_own_mock(tmp_path):
    nb = _run("validation.ipynb", tmp_path, {"SEDFLOW_NB_N_VALIDATE": "100", "SEDFLOW_NB_VALIDATE_SAMPLES": "500",
                                            "SEDFLOW_NB_N_MOCK": "200", "SEDFLOW_NB_MAX_FALLBACK": "0",
                                            "SEDFLOW_NB_WORKERS": "1", "SEDFLOW_NB_WORKDIR": str(tmp_path / "run")})
    text = _text(nb)
    assert "galaxies with all 500 draws" in text and "coverage_68" in text and "median |log M* - truth|" in text
    assert _images(nb) >= 4  # p-p, SBC, recovery, the mock's validation
    assert (tmp_path / "run" / "validation" / "summary.json").is_file()
    assert (tmp_path / "run" / "catalogs" / "mock" / "hats.properties").is_file()


def test_committed_notebooks_are_generated_executed_and_small():
    res = subprocess.run([sys.executable, str(NOTEBOOKS / "make_notebooks.py"), "--check"], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr
    for name, min_images in (("walkthrough.ipynb", 2), ("validation.ipynb", 4)):
        path = NOTEBOOKS / name
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert _images(nb) >= min_images, name
        assert path.stat().st_size < 1_500_000, f"{name}: {path.stat().st_size} bytes"
