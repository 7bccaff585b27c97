"""``ingest_nsa``: the NSA ingestion stage as a sequence of Dask steps on a distributed client.

1. scan: per NSA row range, read NSAID/RA/DEC, check positions, hash NSAIDs into buckets;
   per companion part, evaluate the flag predicate and hash into the same buckets; sha256 of
   the inputs, concurrently;
2. join: per bucket, the companion's verdict for each NSA row (duplicated companion NSAIDs
   are a hard error; duplicated NSA ones are counted);
3. write: hats-import with :class:`~sedflow_dask.ingest.io.NSAChunkReader` (convert, cut, flag
   out-of-support rows, HEALPix-partition);
4. check: per output partition, additive counts (reasons, §3 sanity checks), then provenance
   into ``hats.properties`` and ``provenance.json``.

Everything is written under a temporary sibling of the output directory and renamed into place
at the end, so a failed run never leaves a half catalog under the output name.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .. import __version__
from ..cluster import iter_completed
from ..config import IngestConfig
from ..noise.model import NoiseModel, load_noise_model
from ..files import remove_work_dir, write_json_atomic
from .core import check_colour_quantiles, merge_summaries, sanity_problems, summarise
from .flags import resolve_flag_layout
from .io import (
    PROVENANCE_FILE,
    NSAChunkReader,
    artifact_name,
    ingested_data_files,
    file_fingerprint,
    run_hats_import,
    write_properties,
    write_range_specs,
)
from .join import bucket_flags_part, join_bucket, n_buckets, scan_nsa_range
from .loaders import open_flags_table, open_nsa, row_ranges
from .reasons import IngestReason


@dataclass(frozen=True)
class IngestResult:
    """What an ingest wrote and found.

    Attributes:
        path: the HATS catalog directory.
        rows: rows written (= rows in the NSA file).
        summary: additive counts (``core.summarise`` keys, merged).
        provenance: the document stored as ``provenance.json``.
        problems: failed §3 sanity checks (warnings; an error under ``strict``).
        warnings: other things the user must know (no flags table, missing NSAIDs...).
    """

    path: Path
    rows: int
    summary: dict[str, Any]
    provenance: dict[str, Any]
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _gather(client, futures: list, description: str, progress: bool, stream: TextIO | None) -> list:
    """Results of ``futures`` in order; the first failure cancels the rest and is re-raised as is."""
    try:
        for fut in iter_completed(futures, description, stream=stream if progress else None):
            if fut.status == "error":
                fut.result()  # re-raises the task's own exception (a ValueError naming the row)
        return [f.result() for f in futures]
    finally:
        client.cancel([f for f in futures if not f.done()])


def _check_output(out: Path, overwrite: bool) -> None:
    if out.exists():
        if not overwrite:
            raise ValueError(f"output {out} exists; pass --overwrite to replace it")
        if not out.is_dir() or not ((out / "hats.properties").exists() or not any(out.iterdir())):
            raise ValueError(f"refusing to overwrite {out}: it is not a HATS catalog (no hats.properties)")


def _summarise_file(path: str) -> dict[str, Any]:
    import pyarrow.parquet as pq

    from .core import CATALOG_COLUMNS

    cols = [c for c in CATALOG_COLUMNS if c not in ("nsaid", "ra", "dec", "z")]
    return summarise(pq.read_table(path, columns=cols).to_pandas())


def ingest_nsa(nsa_path: str | Path, out: str | Path, *, client, flags_path: str | Path | None = None,
               config: IngestConfig | None = None, noise_model: NoiseModel | None = None,
               noise_model_source: str = "default", outlier_sigma: float = 3.0, colour_quantiles,
               colour_source: str = "given", overwrite: bool = False, progress: bool = True,
               stream: TextIO | None = sys.stderr) -> IngestResult:
    """Ingest an NSA FITS catalog into the HATS catalog of ``docs/data-contracts.md`` §4.

    Args:
        nsa_path: the NSA FITS file (v1 ``SERSIC_NMGY`` or v0 ``NMGY`` schema).
        out: the catalog directory to create.
        client: a ``distributed.Client`` (workers must see the input and output paths).
        flags_path: the SDSS-flags companion (FITS or Parquet, keyed by NSAID); None uses flag
            columns inside the NSA table if it has them, else runs with the flag cuts off.
        config: ingest options (preset, mode, partition_rows, pixel_threshold, ...).
        noise_model: p(σ | m) for ``oos_noise`` (None: the package default); its
            ``noise_model_source`` is recorded.
        outlier_sigma: σ > μ + outlier_sigma · s is a noise outlier.
        colour_quantiles: the 10 training colour quantiles [mag] (``COLOUR_PAIRS`` order) for
            ``oos_color``; ``colour_source`` says where they came from (provenance).
        overwrite: replace an existing catalog at ``out``.
        progress, stream: progress bars and messages (None: silent).

    Every input row is in the output with its ``ingest_reason``; bad files and columns raise
    ValueError naming the file, column and rows.
    """
    config = config or IngestConfig()
    out = Path(out).resolve()
    q = check_colour_quantiles(colour_quantiles)
    noise_model = noise_model or load_noise_model()
    nsa = open_nsa(nsa_path, config.photometry, need_dflags=config.dflags_cut)
    _check_output(out, overwrite)
    layout_kwargs = dict(mode=config.flag_mode, preset=config.flag_preset, bands=tuple(config.flag_bands),
                         psf_err_band=config.psf_err_band)
    warn: list[str] = []
    flags = None
    in_table = None
    if flags_path is not None:
        flags = open_flags_table(flags_path, partition_rows=config.partition_rows, **layout_kwargs)
        if flags.version and nsa.version and flags.version.strip().lower() != nsa.version.strip().lower():
            raise ValueError(f"flags table {flags.path} was built against NSA {flags.version}, but the catalog "
                             f"{nsa.path} is NSA {nsa.version}: NSAIDs differ between versions")
        flag_source = f"companion {flags.path} ({flags.format}; {flags.layout.describe()})"
    elif nsa.has_flags():
        in_table = resolve_flag_layout(nsa.table.columns, source=f"NSA catalog {nsa.path}", **layout_kwargs)
        flag_source = f"columns of the NSA table ({in_table.describe()})"
    else:
        flag_source = None
        warn.append(f"NO SDSS FLAGS: {nsa.path} has no flag columns and no --flags companion was given; "
                    f"the photometric quality cuts ({config.flag_preset}) are OFF and no row gets "
                    f"FLAGS_MISSING/FLAGS_UNCLEAN. Give --flags FILE to apply the paper's cuts.")
    layout = flags.layout if flags is not None else in_table
    if layout is not None and layout.or_of_bands:
        warn.append(f"{layout.source}: object-level flags built as the OR of the per-band words (the table has no "
                    f"object FLAGS; an approximation, objc_flags are not a plain OR for every bit)")
    if stream is not None:
        for w in warn:
            print(f"WARNING: {w}", file=stream, flush=True)

    work = out.parent / f".{out.name}.ingest-tmp"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    hashes: list = []
    try:
        ranges = row_ranges(nsa.nrows, config.partition_rows)
        buckets = n_buckets(max(nsa.nrows, flags.nrows if flags else 0), config.partition_rows)
        jwork = str(work / "join")
        Path(jwork).mkdir()  # tasks create directories below it, never it (see join._make_dirs_under)
        scan = [client.submit(scan_nsa_range, nsa, s, e, jwork, buckets, pure=False) for s, e in ranges]
        if flags is not None:
            scan += [client.submit(bucket_flags_part, flags, k, part, jwork, buckets, config.partition_rows,
                                   pure=False) for k, part in enumerate(flags.parts)]
        hashes = [client.submit(file_fingerprint, p, pure=False)
                  for p in (nsa.path, *([flags.path] if flags else []))]
        _gather(client, scan, "ingest: scan", progress, stream)
        joins = [client.submit(join_bucket, b, jwork, [s for s, _ in ranges], flags is not None,
                               f"flags table {flags.path}" if flags else "", pure=False) for b in range(buckets)]
        join_info = _gather(client, joins, "ingest: join", progress, stream)
        nsa_dups = sum(i["nsa_duplicates"] for i in join_info)
        missing = sum(i.get("missing", 0) for i in join_info)
        if flags is not None and missing:
            examples = [x for i in join_info for x in i.get("missing_examples", [])][:5]
            action = ("get FLAGS_MISSING (cut)" if config.missing_flags == "exclude"
                      else "are kept without a flag cut (ingest.missing_flags = keep)")
            warn.append(f"{missing} of {nsa.nrows} galaxies have no row in the flags table {flags.path} and "
                        f"{action}; e.g. NSAID {', '.join(map(str, examples))}")

        reader = NSAChunkReader(nsa, noise_model=noise_model, colour_quantiles=q, n_sigma=outlier_sigma,
                                dflags_cut=config.dflags_cut, missing_flags=config.missing_flags,
                                flag_layout=in_table, joined=jwork if flags is not None else None)
        specs = write_range_specs(work / "ranges", ranges)
        name = artifact_name(out)
        catalog = run_hats_import(specs, reader, work, name, client=client, total_rows=nsa.nrows,
                                  pixel_threshold=config.pixel_threshold, highest_order=config.highest_order,
                                  progress=progress)

        parts = client.map(_summarise_file, [str(f) for f in ingested_data_files(catalog)], pure=False)
        summary = merge_summaries(_gather(client, parts, "ingest: check", progress, stream))
        if summary["rows"] != nsa.nrows:
            raise RuntimeError(f"internal error: {summary['rows']} rows written for {nsa.nrows} input rows")
        problems = sanity_problems(summary, duplicate_nsaids=nsa_dups, source=f"NSA catalog {nsa.path}")
        if problems and config.strict:
            raise ValueError("ingest sanity checks failed (ingest.strict = true):\n  " + "\n  ".join(problems))
        fingerprints = [h.result() for h in hashes]
        provenance = {
            "stage": "ingest",
            "package_version": __version__,
            "input": {**fingerprints[0], "nsa_schema": nsa.schema.version, "nsa_version": nsa.version,
                      "rows": nsa.nrows, "flux": config.photometry, "flux_column": nsa.schema.flux,
                      "ivar_column": nsa.schema.ivar},
            "flags": ({**fingerprints[1], "nsa_version": flags.version, "format": flags.format,
                       "columns": list(flags.layout.columns)} if flags else None),
            "flag_source": flag_source,
            "flag_cuts": "on" if flag_source else "OFF (no flags table)",
            "flag_preset": config.flag_preset,
            "flag_mode": config.flag_mode,
            "flag_bands": list(config.flag_bands),
            "missing_flags": config.missing_flags,
            "dflags_cut": config.dflags_cut,
            "noise_model": {"sha256": noise_model.sha256(), "source": noise_model_source,
                            "outlier_sigma": outlier_sigma},
            "colour_quantiles": {"source": colour_source, "values": [float(v) for v in q]},
            "config": {"partition_rows": config.partition_rows, "pixel_threshold": config.pixel_threshold,
                       "highest_order": config.highest_order, "strict": config.strict},
            "rows": summary["rows"],
            "usable": summary["usable"],
            "reason_counts": summary["reasons"],
            "oos_counts": {"noise": summary["oos_noise"], "color": summary["oos_color"],
                           "color_not_noise": summary["oos_color_only"]},
            "nsa_duplicate_nsaids": nsa_dups,
            "flags_missing_rows": missing,
            "sanity_problems": problems,
            "warnings": warn,
        }
        write_json_atomic(provenance, catalog / PROVENANCE_FILE)
        write_properties(catalog, {
            "sedflow_stage": "ingest",
            "sedflow_version": __version__,
            "sedflow_input": provenance["input"]["path"],
            "sedflow_input_sha256": provenance["input"]["sha256"],
            "sedflow_nsa_schema": nsa.schema.version,
            "sedflow_flux": config.photometry,
            "sedflow_flag_preset": config.flag_preset,
            "sedflow_flag_mode": config.flag_mode,
            "sedflow_flag_cuts": provenance["flag_cuts"],
            "sedflow_noise_sha256": noise_model.sha256(),
            "sedflow_colour_source": colour_source,
            "sedflow_usable": str(summary["usable"]),
            "sedflow_reason_counts": summary["reasons"],
        })
        if out.exists():
            shutil.rmtree(out)
        os.replace(catalog, out)
    finally:
        client.cancel([h for h in hashes if not h.done()])  # a failed run leaves no task behind
        remove_work_dir(work)
    return IngestResult(path=out, rows=summary["rows"], summary=summary, provenance=provenance,
                        problems=problems, warnings=warn)


def format_counts(result: IngestResult) -> str:
    """Per-reason counts and out-of-support counts as a small text table."""
    s = result.summary
    lines = [f"{result.rows} galaxies ingested into {result.path}; {s['usable']} usable (ingest_reason = 0)"]
    width = max(len(r.name) for r in IngestReason)
    for r in IngestReason:
        lines.append(f"  {r.name:<{width}}  {s['reasons'][r.name]:>10}   (bit {int(r).bit_length() - 1})")
    lines.append(f"  {'oos_noise':<{width}}  {s['oos_noise']:>10}   (usable rows with sigma > mu + n s)")
    lines.append(f"  {'oos_color':<{width}}  {s['oos_color']:>10}   ({s['oos_color_only']} of them not oos_noise)")
    return "\n".join(lines)
