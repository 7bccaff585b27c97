"""Write ``walkthrough.ipynb`` and ``validation.ipynb`` from the cell sources below, executed.

Edit the cells here and run ``python notebooks/make_notebooks.py``: it builds both notebooks and
executes them in this directory at their default sizes (a few minutes on 2 cores), so a reader
browsing the repository sees their output and figures. ``--no-execute`` writes them without
outputs; ``--check`` exits 1 when the committed notebooks' cells differ from the ones below or
were not executed without error (the test suite runs it; outputs themselves are not compared:
they hold timings and dashboard links).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

#: Shown figures are shrunk to this width [px] so the committed notebooks stay small.
SHOW = """import io
from IPython.display import Image, display
from PIL import Image as PILImage


def show(path, width=900):
    \"\"\"Display a PNG written by sedflow_dask, shrunk to ``width`` pixels (keeps the notebook small).\"\"\"
    image = PILImage.open(path)
    image.thumbnail((width, width))
    buffer = io.BytesIO()
    image.save(buffer, format="png", optimize=True)
    display(Image(data=buffer.getvalue()))"""

WALKTHROUGH = [
    ("md", """\
# sedflow_dask walkthrough: real SDSS galaxies to a posterior catalog

This notebook runs the pipeline through the Python API, step by step, on **real galaxies**: the
10,000 SDSS main-sample galaxies shipped inside the `kcorrect` package (Blanton & Roweis 2007;
BSD-3-Clause; SDSS `MODELFLUX` photometry, Galactic extinction and spectroscopic redshifts).

1. the **SDSS export** as SkyServer would give it (`sedflow_dask.datasets`);
2. **ingestion** into a HEALPix-partitioned HATS catalog with the SDSS reader (`sedflow ingest`);
3. **inference** with the shipped posterior model on a Dask cluster (`sedflow infer`);
4. **queries** on the output catalog with DuckDB (`sedflow query`);
5. one galaxy's **re-drawn posterior** (`sedflow resample`) next to kcorrect's mass for it;
6. the **real-galaxy report**: a posterior-predictive check, log M\\* against kcorrect's template
   fit, the M\\*–SFR plane, and how much the data constrain each property.

Real galaxies have no true parameters: calibration against truths is in `validation.ipynb` (on a
mock). `make demo` does all of this on the 10,000 galaxies from the shell. The sizes below are
environment variables (`SEDFLOW_NB_*`); the test suite runs this notebook with tiny ones."""),
    ("code", """\
import os
from pathlib import Path

N_GALAXIES = int(os.environ.get("SEDFLOW_NB_N", 2000))          # the first N of the 10,000 real galaxies
N_SAMPLES = int(os.environ.get("SEDFLOW_NB_SAMPLES", 1000))     # posterior draws per galaxy
MAX_FALLBACK = int(os.environ.get("SEDFLOW_NB_MAX_FALLBACK", 4))  # galaxies the MCMC fallback may take
WORKERS = int(os.environ.get("SEDFLOW_NB_WORKERS", 2))          # Dask worker processes
WORKDIR = Path(os.environ.get("SEDFLOW_NB_WORKDIR", "walkthrough_run"))
WORKDIR.mkdir(parents=True, exist_ok=True)"""),
    ("code", SHOW),
    ("md", """\
## 1. An SDSS export of real galaxies

The file inside `kcorrect` has the columns of a SkyServer/CasJobs export: `MODELFLUX` and its
inverse variance in SDSS nanomaggies (not extinction-corrected, on the SDSS system), `EXTINCTION`
[mag], `Z`, `RA`, `DEC`. It has no object id, so a galaxy's id (`nsaid` in the catalogs) is its row
number. We take the first `N_GALAXIES` rows as our own export."""),
    ("code", """\
import fitsio
import pandas as pd
from sedflow_dask.datasets import kcorrect_sdss_path

columns = ["RA", "DEC", "Z", "MODELFLUX", "MODELFLUX_IVAR", "EXTINCTION"]
raw = fitsio.read(str(kcorrect_sdss_path()), columns=columns, rows=range(N_GALAXIES))
export = WORKDIR / "sdss_export.fits"
fitsio.write(str(export), raw, clobber=True)
print(f"{len(raw)} galaxies -> {export}")
pd.DataFrame({"RA": raw["RA"], "DEC": raw["DEC"], "Z": raw["Z"], "MODELFLUX_r": raw["MODELFLUX"][:, 2],
              "MODELFLUX_IVAR_r": raw["MODELFLUX_IVAR"][:, 2], "EXTINCTION_r": raw["EXTINCTION"][:, 2]}).head()"""),
    ("md", """\
## 2. Ingestion and 3. inference on a Dask cluster

One LocalCluster of worker processes serves both stages. The SDSS reader says what it detected and
did: Galactic extinction removed, the SDSS→AB offsets (u −0.04, z +0.02 mag) and kcorrect's error
floors added, each recorded in the catalog's provenance. Every galaxy stays in the catalog with a
reason bitmask; out-of-support galaxies (errors or colours the training set never saw) are flagged.
Inference samples each galaxy's posterior with the flow, one task per HEALPix pixel, weighs the draws
against the likelihood, and sends galaxies the flow cannot be trusted with to the MCMC fallback, at
most `MAX_FALLBACK` of them here."""),
    ("code", """\
import dataclasses
from sedflow_dask.cluster import dask_client
from sedflow_dask.config import ClusterConfig, Config, IngestConfig
from sedflow_dask.infer import infer_catalog
from sedflow_dask.ingest import ingest_catalog
from sedflow_dask.ingest.pipeline import format_counts

config = Config()
config = dataclasses.replace(
    config,
    sample=dataclasses.replace(config.sample, n_samples=N_SAMPLES, n_stored=min(100, N_SAMPLES)),
    fallback=dataclasses.replace(config.fallback, max_galaxies=MAX_FALLBACK, max_seconds_per_galaxy=10))
ingested, catalog = WORKDIR / "sdss_ingested", WORKDIR / "catalogs" / "walkthrough"

with dask_client(ClusterConfig(n_workers=WORKERS, dashboard_address=":0")) as client:
    result = ingest_catalog(export, ingested, client=client, overwrite=True, progress=False,
                            config=IngestConfig(preset="sdss", sdss_flux="model",
                                                pixel_threshold=max(100, N_GALAXIES // 6)))
    print(format_counts(result))
    summary = infer_catalog(config, ingested, catalog, client=client, progress=False)  # prints its summary"""),
    ("md", """\
## 4. Querying the catalog

`query_catalog` runs SQL with DuckDB over the catalog's data partitions (the table `catalog`) and
returns pandas. Every galaxy of the input is one row, whatever its status (`catalogs/README.md`):
`ok` and `reweighted` (the flow's draws, as drawn or importance-resampled), `mcmc` (the fallback
converged), `unconverged`, `skipped` (routed, but beyond the fallback cap: the flow's draws),
`cut`, `bad_input`."""),
    ("code", """\
from sedflow_dask.query import query_catalog

counts = query_catalog(catalog, "SELECT status, method, count(*) AS n FROM catalog GROUP BY ALL ORDER BY n DESC")
assert counts["n"].sum() == N_GALAXIES
counts"""),
    ("md", """\
The most massive blue galaxies nearby. They are chosen by their observed colour (u − r < 2.22
separates blue, mostly star-forming galaxies from red ones; Strateva et al. 2001), not by their
SFR posteriors: with ugriz alone, a galaxy's SFR is mostly the prior's (section 6)."""),
    ("code", """\
query_catalog(catalog, \"\"\"
    SELECT nsaid, z, mag_u - mag_r AS u_r, log_mstar_p16, log_mstar_p50, log_mstar_p84, status
    FROM catalog
    WHERE status IN ('ok', 'reweighted', 'mcmc') AND z < 0.05 AND mag_u - mag_r < 2.22
    ORDER BY log_mstar_p50 DESC
    LIMIT 5\"\"\")"""),
    ("md", """\
## 5. One galaxy: its posterior, re-drawn, and kcorrect's mass

The catalog keeps summaries and 100 draws per galaxy; `resample_galaxy` re-draws the full posterior
from the galaxy's seed (it reproduces the catalog's summaries). We pick a galaxy near the median
mass. There is no truth to compare with; kcorrect's template fit of the same photometry (red) is an
independent estimate of its formed mass (`docs/real-report.md` explains why the two differ by a
few tenths of a dex at most)."""),
    ("code", """\
import numpy as np
from sedflow_dask.diagnostics.real_report import kcorrect_masses
from sedflow_dask.infer.resample import resample_galaxy

trusted = query_catalog(catalog, "SELECT * EXCLUDE (samples) FROM catalog "
                                 "WHERE status IN ('ok', 'reweighted', 'mcmc') ORDER BY log_mstar_p50")
row = trusted.iloc[len(trusted) // 2]
nsaid = int(row["nsaid"])
draws = resample_galaxy(catalog, nsaid, n=max(N_SAMPLES, 2000)).frame()
kc = kcorrect_masses(row[[f"mag_{b}" for b in "ugriz"]].to_numpy(float)[None],
                     row[[f"sigma_{b}" for b in "ugriz"]].to_numpy(float)[None], np.array([row["z"]]))
print(f"NSAID {nsaid}: z = {row['z']:.4f}, status {row['status']}, {len(draws)} draws; "
      f"log M* = {row['log_mstar_p50']:.2f} (+{row['log_mstar_p84'] - row['log_mstar_p50']:.2f} "
      f"-{row['log_mstar_p50'] - row['log_mstar_p16']:.2f}); kcorrect: {kc.log_mstar_formed[0]:.2f}")"""),
    ("code", """\
import matplotlib.pyplot as plt

plt.rcParams["figure.dpi"] = 60


def corner(frame, names, marks=None, bins=30):
    \"\"\"A matplotlib-only corner plot: histograms on the diagonal, 2-D histograms below; ``marks`` in red.

    Draws with a non-finite value in any of ``names`` are left out (and counted on the figure):
    a history with no star formation in the last Gyr has log SFR = -inf.\"\"\"
    marks = marks or {}
    finite = np.isfinite(frame[names].to_numpy()).all(axis=1)
    frame = frame[finite]
    k = len(names)
    fig, axes = plt.subplots(k, k, figsize=(1.8 * k, 1.8 * k))
    if not finite.all():
        fig.text(0.55, 0.75, f"{(~finite).sum()} of {finite.size} draws left out (non-finite)", fontsize=9)
    for i, yi in enumerate(names):
        for j, xj in enumerate(names):
            ax = axes[i, j]
            if j > i:
                ax.set_visible(False)
                continue
            x = frame[xj].to_numpy()
            if i == j:
                ax.hist(x, bins=bins, histtype="step", color="k")
                if xj in marks:
                    ax.axvline(marks[xj], color="C3")
                ax.set_yticks([])
            else:
                ax.hist2d(x, frame[yi].to_numpy(), bins=bins, cmap="Greys")
                if xj in marks:
                    ax.axvline(marks[xj], color="C3", lw=0.8)
            if i == k - 1:
                ax.set_xlabel(xj, fontsize=8)
            else:
                ax.set_xticklabels([])
            if j == 0 and i > 0:
                ax.set_ylabel(yi, fontsize=8)
            elif j > 0:
                ax.set_yticklabels([])
            ax.tick_params(labelsize=6)
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    return fig

draws["log_ssfr_1gyr"] = draws["log_sfr_1gyr"] - draws["log_mstar"]
names = ["log_mstar", "log_ssfr_1gyr", "log_z_mw", "t_mw", "tau_ism"]
fig = corner(draws, names, marks={"log_mstar": kc.log_mstar_formed[0]})
fig.suptitle(f"NSAID {nsaid}: posterior (black), kcorrect's log M* (red)", y=0.92);"""),
    ("md", """\
## 6. The real-galaxy report

What can be checked without truths (`sedflow_dask.diagnostics.real_report`, the report `make demo`
writes; `docs/real-report.md`): the χ² of each galaxy's posterior-median model against its
photometry next to χ²(5); log M\\* against kcorrect's own template fit of the same photometry; the
M\\*–SFR plane with the ridge of the star-forming sequence; and how much the data narrow each
property's prior."""),
    ("code", """\
from sedflow_dask.diagnostics.plots import plot_real_report
from sedflow_dask.diagnostics.real_report import load_report_frame, real_report
from sedflow_dask.infer.resources import forward_model_for
from sedflow_dask.posterior import load_posterior_model

posterior = load_posterior_model()
report = real_report(load_report_frame(catalog), forward=forward_model_for(posterior), prior=posterior.prior)
s = report.summary
show(plot_real_report(report, WORKDIR / "real_report.png", title=f"{N_GALAXIES} real SDSS galaxies"))
ratios = pd.DataFrame(s["constraint"]["width_ratio"]).T[["prior_half_width", "posterior_half_width_median",
                                                          "ratio_median"]]
print(f"log M* - kcorrect: median {s['log_mstar_vs_kcorrect']['median']:+.3f} dex, "
      f"NMAD {s['log_mstar_vs_kcorrect']['nmad']:.3f} dex; chi2 above {s['predictive']['limit']:.1f}: "
      f"{s['predictive']['frac_over_limit']:.1%}; sSFR vs u-r: r = {s['constraint']['ssfr_vs_u_r']['pearson']:+.2f}")
ratios.round(3)"""),
    ("md", """\
Read the last panel and the table before using SFRs. Stellar mass is measured: its posterior is
a small fraction of the prior's width. The **specific SFR is largely the prior's**: its posterior is
nearly as wide as the prior, every galaxy's posterior median sits near the same value, and it barely
follows the observed u − r colour. With ugriz photometry and this prior (SFH, dust and burst
parameters all free), colour cannot separate a young population from dust or metallicity, so the
M\\*–SFR plane above mostly shows mass times the prior's sSFR; its "main sequence" is not a
measurement. Population statistics should use the full posteriors (the stored `samples`, or
`sedflow resample`) rather than medians, and never treat SFRs from ugriz as data.

Next: `notebooks/validation.ipynb` checks the calibration of the shipped model on held-out
simulations, and a mock catalog against its truths."""),
]

VALIDATION = [
    ("md", """\
# Validating the posterior estimator

Two checks, both on simulated galaxies (only they have truths):

1. **Simulation-based calibration** of the shipped model on held-out simulations from its prior,
   forward model and noise model (`sedflow validate`): SBC rank histograms, p-p coverage, TARP and
   recovery of derived properties. A calibrated posterior puts the truth at a uniform rank among its
   draws and covers it in a fraction α of its central α intervals.
2. **A catalog against its truths**: `make demo`'s pipeline on a mock NSA catalog (`sedflow demo
   --mock`), its stored draws against the mock's true parameters. The mock's masses follow a target
   r magnitude, so its galaxies are not a prior sample: this is a check on a realistic population,
   not SBC.

The test suite runs this notebook with tiny sizes (`SEDFLOW_NB_*`); the shipped model's recorded
validation used 2,000 galaxies × 10,000 draws."""),
    ("code", """\
import os
from pathlib import Path

N_VALIDATE = int(os.environ.get("SEDFLOW_NB_N_VALIDATE", 500))       # held-out simulations
N_SAMPLES = int(os.environ.get("SEDFLOW_NB_VALIDATE_SAMPLES", 2000))  # draws per galaxy
N_MOCK = int(os.environ.get("SEDFLOW_NB_N_MOCK", 1000))               # mock galaxies for part 2
MAX_FALLBACK = int(os.environ.get("SEDFLOW_NB_MAX_FALLBACK", 4))      # galaxies the MCMC fallback may take
WORKERS = int(os.environ.get("SEDFLOW_NB_WORKERS", 2))                # Dask worker processes
WORKDIR = Path(os.environ.get("SEDFLOW_NB_WORKDIR", "validation_run"))
OUT = WORKDIR / "validation\""""),
    ("code", SHOW),
    ("md", "## 1. SBC and p-p coverage on held-out simulations"),
    ("code", """\
import pandas as pd
from sedflow_dask.diagnostics.validate import validate_model
from sedflow_dask.posterior import load_posterior_model

model = load_posterior_model()
summary = validate_model(model, OUT, n=N_VALIDATE, n_samples=N_SAMPLES, n_derived=min(200, N_SAMPLES), seed=0,
                         label="shipped model", stream=None)
table = pd.DataFrame(summary["calibration"]["parameters"]).T
recorded = model.meta.get("validation") or {}  # written by `sedflow validate --record`
if recorded.get("calibration"):
    table = table.merge(pd.DataFrame(recorded["calibration"]["parameters"]).T, left_index=True, right_index=True,
                        suffixes=("", f" (recorded, {recorded['n_galaxies']} galaxies)"))
else:
    print("this model has no recorded validation (sedflow validate MODEL --record writes one)")
table.round(3)"""),
    ("code", """\
print(f"{summary['n_complete']} of {summary['n_galaxies']} galaxies with all {N_SAMPLES} draws in the prior box; "
      f"min SBC KS p = {summary['calibration']['min_sbc_ks_p']:.3g}, "
      f"TARP max deviation = {summary['calibration']['tarp_max_deviation']:.3f}")
assert summary["n_complete"] >= 0.9 * N_VALIDATE
show(OUT / summary["figures"]["pp"])"""),
    ("code", "show(OUT / summary['figures']['sbc'])"),
    ("code", """\
show(OUT / summary["figures"]["recovery"])
pd.DataFrame(summary["recovery"]).T.round(3)"""),
    ("md", """\
### Other catalogs' noise and missing bands

The model is trained on a broad noise proposal with bands dropped at random
(`docs/noise-proposal.md`), so the same held-out galaxies observed with σ × 3 in one band, without
u, or without g and u should stay calibrated. `sedflow validate --regime all --record` measured that
on 2,000 galaxies each; its record is in the model's `model.json`:"""),
    ("code", """\
regimes = (model.meta.get("validation") or {}).get("regimes", {})
pd.DataFrame({name: {"min SBC KS p": r["calibration"]["min_sbc_ks_p"],
                     "max |cov68 - 68%|": r["calibration"]["max_coverage_68_error"],
                     "max |cov95 - 95%|": r["calibration"]["max_coverage_95_error"],
                     "median |d log M*|": r["recovery"]["log_mstar"]["median_abs_error"],
                     "tolerance": r["regime_coverage_tolerance"], "passes": r["passes_regime_targets"]}
              for name, r in regimes.items()}).T"""),
    ("md", """\
## 2. A mock catalog against its truths

`run_demo(mock=True)` is `sedflow demo --mock`: a mock NSA catalog with truths → ingest → infer on a
LocalCluster → an output catalog (a re-run reuses it). The catalog stores 100 draws of the 11 box
coordinates per galaxy (`samples`); their ranks of the true values give p-p coverage as above. Only
galaxies with a trusted posterior (`ok`, `reweighted`, `mcmc`) whose true parameters reproduce their
fluxes (not injected colour outliers) are used."""),
    ("code", """\
import dataclasses
from sedflow_dask.config import ClusterConfig, Config
from sedflow_dask.demo import run_demo
from sedflow_dask.diagnostics.calibration import sbc_ks_pvalues
from sedflow_dask.diagnostics.plots import plot_truth_validation
from sedflow_dask.diagnostics.truth import catalog_with_truth, truth_validation
from sedflow_dask.sps.parameters import BOX_NAMES

config = Config()
config = dataclasses.replace(config, sample=dataclasses.replace(config.sample, n_samples=min(1000, N_SAMPLES)),
                             fallback=dataclasses.replace(config.fallback, max_galaxies=MAX_FALLBACK,
                                                          max_seconds_per_galaxy=10))
demo = run_demo(config, n=N_MOCK, mock=True, workdir=WORKDIR / "mock", out=WORKDIR / "catalogs" / "mock",
                cluster=ClusterConfig(n_workers=WORKERS, dashboard_address=":0"), progress=False, stream=None)
check = truth_validation(demo.catalog, demo.truth)
show(plot_truth_validation(check, WORKDIR / "mock_validation.png", title=f"{N_MOCK} mock galaxies, truths"))
_, draws, theta = catalog_with_truth(demo.catalog, demo.truth)
m = check.metrics
print(f"{m['n_galaxies']} galaxies ({'/'.join(m['statuses'])}); median |log M* - truth| "
      f"{m['log_mstar_median_abs_error']:.3f} dex; binomial sigma of a 68% coverage: "
      f"{m['coverage_binomial_sigma']['68']:.3f}")
result = pd.DataFrame({"coverage_68": m["coverage_box"]["68"], "coverage_95": m["coverage_box"]["95"],
                       "sbc_ks_p": dict(zip(BOX_NAMES, sbc_ks_pvalues(draws, theta)))})
assert m["n_galaxies"] > 0
result.round(3)"""),
]


def build(cells) -> nbformat.NotebookNode:
    nb = new_notebook(cells=[new_markdown_cell(src) if kind == "md" else new_code_cell(src) for kind, src in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"  # stable ids: regenerating gives the same file
    return nb


NOTEBOOKS = {"walkthrough.ipynb": WALKTHROUGH, "validation.ipynb": VALIDATION}


def execute(nb: nbformat.NotebookNode, cwd: Path, timeout: int = 1800) -> nbformat.NotebookNode:
    """Run ``nb`` top to bottom in ``cwd`` with this interpreter's kernel (raises on a failing cell)."""
    from nbclient import NotebookClient

    # kernel "python3" runs this interpreter (jupyter_client maps a kernelspec's "python" to sys.executable)
    NotebookClient(nb, kernel_name="python3", timeout=timeout, record_timing=False,
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def problems(path: Path, cells) -> list[str]:
    """Why the committed notebook at ``path`` is not the generated, executed one (empty: it is)."""
    if not path.is_file():
        return [f"{path.name} missing"]
    nb = nbformat.read(path, as_version=4)
    want = build(cells)
    out = []
    if [(c.cell_type, c.source, c.get("id")) for c in nb.cells] != [(c.cell_type, c.source, c.id) for c in want.cells]:
        out.append(f"{path.name}: cells differ from make_notebooks.py")
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        if c.get("execution_count") is None:
            out.append(f"{path.name} {c.get('id')}: not executed")
        if any(o.get("output_type") == "error" for o in c.get("outputs", [])):
            out.append(f"{path.name} {c.get('id')}: an error output")
    return out


def main(argv: list[str]) -> int:
    if "--check" in argv:
        found = [p for name, cells in NOTEBOOKS.items() for p in problems(HERE / name, cells)]
        if found:
            print("out of date (run python notebooks/make_notebooks.py):\n  " + "\n  ".join(found), file=sys.stderr)
            return 1
        return 0
    for name, cells in NOTEBOOKS.items():
        if len(argv) and not any(a.startswith("--") or a == name for a in argv):
            continue  # names given: only those
        nb = build(cells)
        if "--no-execute" not in argv:
            print(f"executing {name} in {HERE} ...", flush=True)
            execute(nb, HERE)
        path = HERE / name
        path.write_text(nbformat.writes(nb) + "\n")
        print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
