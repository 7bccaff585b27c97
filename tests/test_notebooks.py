"""The notebooks run, top to bottom, on tiny sizes (so they cannot rot), and match their generator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _execute(name: str, cwd: Path) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    # kernel "python3" runs this interpreter (jupyter_client maps a kernelspec's "python" to sys.executable)
    NotebookClient(nb, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def _text(nb: nbformat.NotebookNode) -> str:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            out.append(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")))
    return "\n".join(out)


def _images(nb: nbformat.NotebookNode) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory):
    d = tmp_path_factory.mktemp("notebooks")
    env = {"SEDFLOW_NB_N": "300", "SEDFLOW_NB_SAMPLES": "200", "SEDFLOW_NB_MAX_FALLBACK": "0",
           "SEDFLOW_NB_WORKERS": "1", "SEDFLOW_NB_WORKDIR": str(d / "run")}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        nb = _execute("walkthrough.ipynb", d)
    return d, nb


def test_walkthrough_runs(walkthrough):
    d, nb = walkthrough
    text = _text(nb)
    assert "302 rows" in text and "infer: 302 galaxies in, 302 rows out" in text
    assert _images(nb) >= 2  # the corner plot and the M*-SFR plane
    assert (d / "run" / "catalogs" / "walkthrough" / "hats.properties").is_file()


def test_validation_runs_on_the_walkthrough_catalog(walkthrough, monkeypatch):
    d, _ = walkthrough
    run = d / "run"
    monkeypatch.setenv("SEDFLOW_NB_N_VALIDATE", "100")
    monkeypatch.setenv("SEDFLOW_NB_VALIDATE_SAMPLES", "500")
    monkeypatch.setenv("SEDFLOW_NB_WORKDIR", str(run))
    monkeypatch.setenv("SEDFLOW_NB_CATALOG", str(run / "catalogs" / "walkthrough"))
    monkeypatch.setenv("SEDFLOW_NB_TRUTH", str(run / "nsa_mock_truth.parquet"))
    nb = _execute("validation.ipynb", d)
    text = _text(nb)
    assert "galaxies with all 500 draws" in text and "coverage_68" in text
    assert "no catalog at" not in text  # the catalog part ran
    assert _images(nb) >= 4  # p-p, SBC, recovery, the catalog's p-p
    assert (run / "validation" / "summary.json").is_file()


def test_committed_notebooks_are_generated_and_clean():
    res = subprocess.run([sys.executable, str(NOTEBOOKS / "make_notebooks.py"), "--check"], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr
    for path in NOTEBOOKS.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), path
