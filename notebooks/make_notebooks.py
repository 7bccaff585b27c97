"""Write ``walkthrough.ipynb`` and ``validation.ipynb`` from the cell sources below (no outputs).

Edit the cells here and run ``python notebooks/make_notebooks.py``; ``--check`` exits 1 when the
committed notebooks differ from what this script writes (the test suite runs it).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

WALKTHROUGH = [
    ("md", """\
# sedflow_dask walkthrough: from a mock NSA catalog to a posterior catalog

This notebook runs the pipeline through the Python API, step by step:

1. a **mock NSA catalog** with known true parameters (`sedflow mock-nsa`);
2. **ingestion** into a HEALPix-partitioned HATS catalog (`sedflow ingest`);
3. **inference** with the shipped posterior model on a Dask cluster (`sedflow infer`), with the MCMC
   fallback for out-of-support galaxies;
4. **queries** on the output catalog with DuckDB (`sedflow query`);
5. a **corner plot** of one galaxy's re-drawn posterior (`sedflow resample`) against its truth;
6. the **M\\*–SFR plane** of the catalog, next to the true one.

`make demo` does steps 1–4 from the shell. The sizes below are small enough for a laptop; the
test suite runs this notebook with tiny ones (environment variables `SEDFLOW_NB_*`)."""),
    ("code", """\
import os
from pathlib import Path

N_GALAXIES = int(os.environ.get("SEDFLOW_NB_N", 2000))          # mock galaxies
N_SAMPLES = int(os.environ.get("SEDFLOW_NB_SAMPLES", 1000))     # posterior draws per galaxy
MAX_FALLBACK = int(os.environ.get("SEDFLOW_NB_MAX_FALLBACK", 8))  # galaxies the MCMC fallback may take
WORKERS = int(os.environ.get("SEDFLOW_NB_WORKERS", 2))          # Dask worker processes
SEED = 1
WORKDIR = Path(os.environ.get("SEDFLOW_NB_WORKDIR", "walkthrough_run"))
WORKDIR.mkdir(parents=True, exist_ok=True)"""),
    ("md", """\
## 1. A mock NSA catalog

NSA-schema FITS with SDSS photo-flag companions and a truth table keyed by NSAID. Galaxies come from
the forward model (PROVABGS on a BC03 table) and the noise model, with injected bad values and
out-of-support galaxies (`docs/mock-nsa.md`)."""),
    ("code", """\
import pandas as pd
from sedflow_dask.mock.write import write_mock_nsa

mock = write_mock_nsa(WORKDIR / "nsa_mock.fits", N_GALAXIES, seed=SEED)
truth = pd.read_parquet(mock.truth)
print(f"{mock.n_rows} rows -> {mock.catalog}")
truth[["nsaid", "z", "log_mstar", "tburst", "tau_ism", "mag_r", "ingest_reason", "pathology"]].head()"""),
    ("md", """\
## 2. Ingestion and 3. inference on a Dask cluster

One LocalCluster of worker processes serves both stages (`dask_client` prints its dashboard link).
Ingestion converts fluxes to magnitudes, applies the SDSS flag cuts from the companion and flags
out-of-support galaxies; every galaxy stays in the catalog with a reason bitmask. Inference samples
each galaxy's posterior with the flow, one task per HEALPix pixel; galaxies the flow cannot handle
go to the MCMC fallback, at most `MAX_FALLBACK` of them — the others keep the flow's posterior and
are marked `timeout`."""),
    ("code", """\
import dataclasses
from sedflow_dask.cluster import dask_client
from sedflow_dask.config import ClusterConfig, Config
from sedflow_dask.infer import infer_catalog
from sedflow_dask.ingest.pipeline import format_counts, ingest_nsa
from sedflow_dask.simulate import training_colour_quantiles

config = Config(seed=SEED)
config = dataclasses.replace(
    config,
    ingest=dataclasses.replace(config.ingest, pixel_threshold=max(100, N_GALAXIES // 6)),
    sample=dataclasses.replace(config.sample, n_samples=N_SAMPLES, n_stored=min(100, N_SAMPLES)),
    fallback=dataclasses.replace(config.fallback, max_galaxies=MAX_FALLBACK))
ingested, catalog = WORKDIR / "nsa_ingested", WORKDIR / "catalogs" / "walkthrough"

with dask_client(ClusterConfig(n_workers=WORKERS, dashboard_address=":0")) as client:
    result = ingest_nsa(mock.catalog, ingested, client=client, flags_path=mock.flags_parquet, config=config.ingest,
                        colour_quantiles=training_colour_quantiles(None), overwrite=True, progress=False)
    print(format_counts(result))
    summary = infer_catalog(config, ingested, catalog, client=client, progress=False)  # prints its summary"""),
    ("md", """\
## 4. Querying the catalog

`query_catalog` runs SQL with DuckDB over the catalog's data partitions (the table `catalog`) and
returns pandas; `query_arrow` returns Arrow. Every galaxy of the input is one row, whatever its
status: `ok` (flow), `mcmc` (fallback converged), `timeout` (fallback out of time or not run),
`cut` (SDSS flags), `bad_input`."""),
    ("code", """\
from sedflow_dask.query import query_catalog

counts = query_catalog(catalog, "SELECT status, method, count(*) AS n FROM catalog GROUP BY ALL ORDER BY n DESC")
assert counts["n"].sum() == mock.n_rows == len(truth)
counts"""),
    ("code", """\
query_catalog(catalog, \"\"\"
    SELECT nsaid, z, log_mstar_p16, log_mstar_p50, log_mstar_p84, log_sfr_1gyr_p50, status
    FROM catalog
    WHERE status IN ('ok', 'mcmc') AND z < 0.05 AND log_sfr_1gyr_p50 - log_mstar_p50 > -11
    ORDER BY log_mstar_p50 DESC
    LIMIT 5\"\"\")"""),
    ("md", """\
## 5. One galaxy: corner plot of its posterior against the truth

The catalog keeps summaries and 100 draws per galaxy; `resample_galaxy` re-draws the full posterior
from the galaxy's seed (it reproduces the catalog's summaries). We pick a galaxy near the median mass
whose true parameters reproduce its fluxes (not an injected colour outlier) and compare with the
truth, including the derived properties computed from the true parameters by the forward model."""),
    ("code", """\
import numpy as np
from sedflow_dask.infer.resample import resample_galaxy
from sedflow_dask.sps import PROVABGSModel
from sedflow_dask.sps.parameters import PHYSICAL_NAMES

ok = query_catalog(catalog, "SELECT nsaid, log_mstar_p50 FROM catalog WHERE status = 'ok' ORDER BY log_mstar_p50")
ok = ok[ok["nsaid"].isin(truth.loc[truth["theta_reproduces_flux"], "nsaid"])]
nsaid = int(ok["nsaid"].iloc[len(ok) // 2])
draws = resample_galaxy(catalog, nsaid, n=max(N_SAMPLES, 2000)).frame()

true = truth.set_index("nsaid").loc[nsaid]
derived = PROVABGSModel().derived_properties(true[list(PHYSICAL_NAMES)].to_numpy(float)[None], [true["z"]])
truth_values = {**{k: float(true[k]) for k in PHYSICAL_NAMES}, **{k: float(v[0]) for k, v in derived.items()}}
print(f"NSAID {nsaid}: z = {true['z']:.4f}, {len(draws)} draws")"""),
    ("code", """\
import matplotlib.pyplot as plt

def corner(frame, names, truths, bins=30):
    \"\"\"A matplotlib-only corner plot: histograms on the diagonal, 2-D histograms below, truths in red.\"\"\"
    k = len(names)
    fig, axes = plt.subplots(k, k, figsize=(2.1 * k, 2.1 * k))
    for i, yi in enumerate(names):
        for j, xj in enumerate(names):
            ax = axes[i, j]
            if j > i:
                ax.set_visible(False)
                continue
            x = frame[xj].to_numpy()
            if i == j:
                ax.hist(x, bins=bins, histtype="step", color="k")
                ax.axvline(truths[xj], color="C3")
                ax.set_yticks([])
            else:
                ax.hist2d(x, frame[yi].to_numpy(), bins=bins, cmap="Greys")
                ax.axvline(truths[xj], color="C3", lw=0.8)
                ax.axhline(truths[yi], color="C3", lw=0.8)
                ax.plot(truths[xj], truths[yi], "s", color="C3", ms=3)
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

names = ["log_mstar", "log_sfr_1gyr", "log_z_mw", "t_mw", "tau_ism", "n_dust"]
fig = corner(draws, names, truth_values)
fig.suptitle(f"NSAID {nsaid}: posterior (black) and truth (red)", y=0.92);"""),
    ("md", """\
## 6. The M\\*–SFR plane of the catalog

Posterior medians of the galaxies with a posterior, next to the true values of the same galaxies
(derived from their true parameters), and the relation in mass bins computed by DuckDB."""),
    ("code", """\
plane = query_catalog(catalog, \"\"\"
    SELECT nsaid, status, log_mstar_p50, log_sfr_1gyr_p50 FROM catalog
    WHERE status IN ('ok', 'mcmc', 'timeout')\"\"\")
t = truth.set_index("nsaid").loc[plane["nsaid"]]
t = t[t["theta_reproduces_flux"]]  # the golden rows and injected colour outliers have no true parameters
true_props = PROVABGSModel().derived_properties(t[list(PHYSICAL_NAMES)].to_numpy(float), t["z"].to_numpy())
bins = query_catalog(catalog, \"\"\"
    SELECT floor(log_mstar_p50 / 0.5) * 0.5 + 0.25 AS log_mstar_bin, count(*) AS n,
           median(log_sfr_1gyr_p50) AS log_sfr_median,
           quantile_cont(log_sfr_1gyr_p50, 0.16) AS log_sfr_p16, quantile_cont(log_sfr_1gyr_p50, 0.84) AS log_sfr_p84
    FROM catalog WHERE status IN ('ok', 'mcmc')
    GROUP BY log_mstar_bin HAVING count(*) >= 5 ORDER BY log_mstar_bin\"\"\")

fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True, sharey=True)
axes[0].scatter(t["log_mstar"], true_props["log_sfr_1gyr"], s=3, alpha=0.5)
axes[0].set_title("truth")
for status, colour in (("ok", "C0"), ("mcmc", "C2"), ("timeout", "C1")):
    sel = plane[plane["status"] == status]
    if len(sel):
        axes[1].scatter(sel["log_mstar_p50"], sel["log_sfr_1gyr_p50"], s=3 if status == "ok" else 10, alpha=0.5,
                        color=colour, label=f"{status} ({len(sel)})")
axes[1].errorbar(bins["log_mstar_bin"], bins["log_sfr_median"],
                 yerr=[bins["log_sfr_median"] - bins["log_sfr_p16"], bins["log_sfr_p84"] - bins["log_sfr_median"]],
                 fmt="o-", color="k", label="median in 0.5 dex bins (16-84%)")
axes[1].set_title("posterior medians (catalog)")
axes[1].legend(fontsize=7)
for ax in axes:
    ax.set_xlabel(r"log $M_*$ [M$_\\odot$ formed]")
axes[0].set_ylabel(r"log SFR over 1 Gyr [M$_\\odot$/yr]")
bins"""),
    ("md", """\
The posterior medians scatter less than the truths: where the photometry constrains a galaxy's SFR
only loosely, its median sits near the bulk of the posterior mass rather than at the extreme true
value. Population statistics should use the full posteriors — the stored `samples` column, or
`sedflow resample` for more draws — rather than the medians.

Next: `notebooks/validation.ipynb` checks the calibration of the shipped model (SBC, p-p) on
held-out simulations and of this catalog against the mock's truths."""),
]

VALIDATION = [
    ("md", """\
# Validating the posterior estimator

Two checks:

1. **Simulation-based calibration** of the shipped model on held-out simulations from its prior,
   forward model and noise model (`sedflow validate`): SBC rank histograms, p-p coverage, TARP and
   recovery of derived properties. A calibrated posterior puts the truth at a uniform rank among its
   draws and covers it in a fraction α of its central α intervals.
2. **A catalog against its truths**: the stored draws of an output catalog of a mock NSA catalog
   (from `make demo` or the walkthrough) against the mock's true parameters. The mock's masses follow
   a target r magnitude, so its galaxies are not a prior sample: this is a check on a realistic
   population, not SBC.

The test suite runs this notebook with tiny sizes (`SEDFLOW_NB_*`); the shipped model's recorded
validation used 2,000 galaxies × 10,000 draws."""),
    ("code", """\
import os
from pathlib import Path

N_VALIDATE = int(os.environ.get("SEDFLOW_NB_N_VALIDATE", 500))       # held-out simulations
N_SAMPLES = int(os.environ.get("SEDFLOW_NB_VALIDATE_SAMPLES", 2000))  # draws per galaxy
OUT = Path(os.environ.get("SEDFLOW_NB_WORKDIR", "validation_run")) / "validation"
# an output catalog of a mock and the mock's truth (make demo writes these two)
CATALOG = Path(os.environ.get("SEDFLOW_NB_CATALOG", "../catalogs/demo"))
TRUTH = Path(os.environ.get("SEDFLOW_NB_TRUTH", "../demo/nsa_mock_truth.parquet"))"""),
    ("md", "## 1. SBC and p-p coverage on held-out simulations"),
    ("code", """\
import pandas as pd
from IPython.display import Image, display
from sedflow_dask.diagnostics.validate import validate_model
from sedflow_dask.posterior import load_posterior_model

model = load_posterior_model()
summary = validate_model(model, OUT, n=N_VALIDATE, n_samples=N_SAMPLES, n_derived=min(200, N_SAMPLES), seed=0,
                         label="shipped model", stream=None)
table = pd.DataFrame(summary["calibration"]["parameters"]).T
recorded = pd.DataFrame(model.meta["validation"]["calibration"]["parameters"]).T
table.merge(recorded, left_index=True, right_index=True,
            suffixes=("", f" (recorded, {model.meta['validation']['n_galaxies']} galaxies)")).round(3)"""),
    ("code", """\
print(f"{summary['n_complete']} of {summary['n_galaxies']} galaxies with all {N_SAMPLES} draws in the prior box; "
      f"min SBC KS p = {summary['calibration']['min_sbc_ks_p']:.3g}, "
      f"TARP max deviation = {summary['calibration']['tarp_max_deviation']:.3f}")
assert summary["n_complete"] >= 0.9 * N_VALIDATE
assert summary["calibration"]["max_coverage_95_error"] < 0.1   # loose: small samples in the test
display(Image(filename=str(OUT / summary["figures"]["pp"])))"""),
    ("code", "display(Image(filename=str(OUT / summary['figures']['sbc'])))"),
    ("code", """\
display(Image(filename=str(OUT / summary["figures"]["recovery"])))
pd.DataFrame(summary["recovery"]).T.round(3)"""),
    ("md", """\
## 2. A catalog against the mock's truths

The catalog stores 100 draws of the 11 box coordinates per galaxy (`samples`); their ranks of the
true values give p-p coverage as above. Only galaxies with status `ok` whose true parameters
reproduce their fluxes (not injected colour outliers) are used."""),
    ("code", """\
%matplotlib inline
# (inline again: the validation's figure code switched matplotlib to Agg)
import matplotlib.pyplot as plt
import numpy as np
from sedflow_dask.demo import catalog_with_truth
from sedflow_dask.diagnostics.calibration import PP_LEVELS, central_interval_coverage, sbc_ks_pvalues
from sedflow_dask.sps.parameters import BOX_NAMES

if CATALOG.is_dir() and TRUTH.is_file():
    frame, draws, theta = catalog_with_truth(CATALOG, TRUTH)
    cov = central_interval_coverage(draws, theta)
    fig, ax = plt.subplots(figsize=(5, 5))
    band = 2.576 * np.sqrt(PP_LEVELS * (1 - PP_LEVELS) / len(frame))
    ax.fill_between(PP_LEVELS, PP_LEVELS - band, PP_LEVELS + band, color="0.85")
    ax.plot([0, 1], [0, 1], "k:")
    for d, name in enumerate(BOX_NAMES):
        ax.plot(PP_LEVELS, cov[:, d], lw=1, label=name)
    ax.set(xlabel="credibility level", ylabel="fraction of truths inside", title=f"{CATALOG}: {len(frame)} galaxies")
    ax.legend(fontsize=6, ncol=2)
    levels = central_interval_coverage(draws, theta, [0.68, 0.95])
    result = pd.DataFrame({"coverage_68": levels[0], "coverage_95": levels[1],
                           "sbc_ks_p": sbc_ks_pvalues(draws, theta)}, index=BOX_NAMES)
    assert len(frame) > 0
else:
    result = f"no catalog at {CATALOG} (run `make demo`, or set SEDFLOW_NB_CATALOG and SEDFLOW_NB_TRUTH)"
result"""),
]


def build(cells) -> nbformat.NotebookNode:
    nb = new_notebook(cells=[new_markdown_cell(src) if kind == "md" else new_code_cell(src) for kind, src in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"  # stable ids: regenerating gives the same file
    return nb


NOTEBOOKS = {"walkthrough.ipynb": WALKTHROUGH, "validation.ipynb": VALIDATION}


def main(argv: list[str]) -> int:
    stale = []
    for name, cells in NOTEBOOKS.items():
        text = nbformat.writes(build(cells)) + "\n"
        path = HERE / name
        if "--check" in argv:
            if not path.is_file() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        print(f"out of date: {', '.join(stale)} (run python notebooks/make_notebooks.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
