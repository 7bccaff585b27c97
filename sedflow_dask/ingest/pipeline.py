"""``ingest_catalog``: the ingestion stage as a sequence of Dask steps on a distributed client.

The catalog's reader (:mod:`~sedflow_dask.ingest.readers`: NSA, SDSS export, column map) is the
only part that knows the file; every step below sees its standard frame.

1. scan: per row range, read the ids and RA/Dec, check positions, hash ids into buckets; per
   flags-companion part (NSA only), evaluate the flag predicate and hash into the same buckets;
   sha256 of the inputs, concurrently;
2. join: per bucket, the companion's verdict for each catalog row (duplicated companion NSAIDs
   are a hard error; duplicated catalog ids are counted);
3. write: hats-import with :class:`~sedflow_dask.ingest.writer.CatalogChunkReader` (read, convert,
   cut, flag out-of-support rows, HEALPix-partition);
4. check: per output partition, additive counts (reasons, §3 sanity checks), then provenance
   into ``hats.properties`` and ``provenance.json``.

Everything is written under a temporary sibling of the output directory and renamed into place
at the end, so a failed run never leaves a half catalog under the output name.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .. import __version__
from ..cluster import iter_completed
from ..config import IngestConfig, NoiseConfig
from ..console import STDERR, MessageStream, resolve_stream
from ..files import remove_work_dir, write_json_atomic
from ..noise.proposal import NoiseProposal, load_noise_proposal
from ..ranges import row_ranges
from .core import check_colour_quantiles, merge_summaries, sanity_problems, summarise
from .flags import FlagLayout, has_flag_columns, resolve_flag_layout
from .io import PROVENANCE_FILE, artifact_name, file_fingerprint, ingested_data_files
from .join import bucket_flags_part, join_bucket, n_buckets, scan_range
from .loaders import FlagsTable, open_flags_table
from .readers.base import CatalogReader
from .readers.detect import open_catalog
from .reasons import IngestReason
from .writer import CatalogChunkReader, run_hats_import, write_properties, write_range_specs


@dataclass(frozen=True)
class IngestResult:
    """What an ingest wrote and found.

    Attributes:
        path: the HATS catalog directory.
        rows: rows written (= rows in the catalog file).
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


def _print_warnings(stream: TextIO | None, texts: list[str], label: str = "WARNING") -> None:
    """Print each of ``texts`` as a line ``label: text`` (nothing when ``stream`` is None)."""
    if stream is not None:
        for text in texts:
            print(f"{label}: {text}", file=stream, flush=True)


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


@dataclass(frozen=True)
class SupportReference:
    """What the out-of-support flags measure a catalog against: the flow's training set.

    Attributes:
        proposal: the training noise proposal; ``oos_noise`` is a σ_f outside its per-band range
            (its sha256 is recorded as the catalog's ``noise_proposal``, which ``sedflow infer``
            compares with the model's ``proposal_sha256``).
        colour_quantiles: (10,) the training set's 0.1th-percentile noiseless colours [mag]
            (``COLOUR_PAIRS`` order) for ``oos_color``.
        outlier_sigma: a colour is out of support when it lies more than ``outlier_sigma`` times
            its error below the quantile.
        proposal_source, colour_source: where the two came from (provenance).
    """

    proposal: NoiseProposal
    colour_quantiles: tuple[float, ...]
    outlier_sigma: float = 3.0
    proposal_source: str = "default (shipped)"
    colour_source: str = "default (shipped)"

    def __post_init__(self) -> None:
        object.__setattr__(self, "colour_quantiles", tuple(float(v) for v in check_colour_quantiles(self.colour_quantiles)))
        if not self.outlier_sigma > 0:
            raise ValueError(f"outlier_sigma must be > 0; got {self.outlier_sigma}")

    @classmethod
    def load(cls, proposal: str | Path | NoiseProposal | None = None, training_set: str | Path | None = None,
             outlier_sigma: float = 3.0) -> SupportReference:
        """The reference from a noise proposal (a proposal JSON file, one already loaded, or None for
        the shipped one) and a training set's colour quantiles (a directory or JSON file; None: shipped)."""
        from ..simulate import training_colour_quantiles

        if isinstance(proposal, NoiseProposal):
            loaded, source = proposal, str(proposal.provenance.get("noise_model") or "given")
        else:
            loaded, source = load_noise_proposal(proposal), str(proposal) if proposal else "default (shipped)"
        return cls(proposal=loaded, colour_quantiles=tuple(training_colour_quantiles(training_set)),
                   outlier_sigma=outlier_sigma, proposal_source=source,
                   colour_source=f"training set {training_set}" if training_set else "default (shipped)")

    @classmethod
    def from_config(cls, noise: NoiseConfig, training_set: str | Path | None = None) -> SupportReference:
        """The reference of a ``[noise]`` config: the proposal file ``noise.proposal``, else the
        proposal built on ``noise.model`` (``noise.proposal.resolve_proposal``), else the shipped
        one; colours at ``noise.outlier_sigma``."""
        from ..noise.proposal import resolve_proposal

        proposal = noise.proposal or (resolve_proposal(None, noise.model) if noise.model else None)
        return cls.load(proposal, training_set, noise.outlier_sigma)


@dataclass(frozen=True)
class IngestPlan:
    """An ingest checked before any work: the catalog's reader, the flag cuts, the output directory.

    Attributes:
        catalog: the opened reader.
        out: the output directory (absolute).
        config: the ingest options.
        flags: the flags companion, or None.
        in_table: the flag layout inside the catalog itself, or None.
        flag_source, flag_cuts: what the provenance says about the flag cuts.
        warnings: what the user must know before the run (no flags, OR-ed per-band words).
    """

    catalog: CatalogReader
    out: Path
    config: IngestConfig
    flags: FlagsTable | None = None
    in_table: FlagLayout | None = None
    flag_source: str | None = None
    flag_cuts: str = "on"
    warnings: tuple[str, ...] = ()


def plan_ingest(source: str | Path | CatalogReader, out: str | Path, *, config: IngestConfig | None = None,
                flags_path: str | Path | None = None, overwrite: bool = False) -> IngestPlan:
    """Check the catalog, the flags companion and the output directory; ValueError naming what is wrong.

    Reads headers (or a CSV's first lines) only and needs no cluster: ``sedflow ingest`` calls it
    before starting one. Arguments as :func:`ingest_catalog`.
    """
    config = config or IngestConfig()
    out = Path(out).resolve()
    catalog = source if isinstance(source, CatalogReader) else open_catalog(source, config)
    _check_output(out, overwrite)
    layout_kwargs: dict[str, Any] = dict(mode=config.flag_mode, preset=config.flag_preset,
                                         bands=tuple(config.flag_bands), psf_err_band=config.psf_err_band)
    warn: list[str] = []
    flags = None
    in_table = None
    table_columns = catalog.flag_columns()
    if table_columns is None:
        if flags_path is not None:
            raise ValueError(f"--flags {flags_path}: flag companions are keyed by NSAID and apply to the nsa preset; "
                             f"{catalog.source} is read with preset {catalog.preset}, which has no flag cuts")
        flag_source = None
        flag_cuts = f"none (preset {catalog.preset} has no SDSS flag cuts)"
    elif flags_path is not None:
        flags = open_flags_table(flags_path, partition_rows=config.partition_rows, **layout_kwargs)
        if flags.version and catalog.version and flags.version.strip().lower() != catalog.version.strip().lower():
            raise ValueError(f"flags table {flags.path} was built against NSA {flags.version}, but the catalog "
                             f"{catalog.path} is NSA {catalog.version}: NSAIDs differ between versions")
        flag_source = f"companion {flags.path} ({flags.format}; {flags.layout.describe()})"
        flag_cuts = "on"
    elif has_flag_columns(table_columns):
        in_table = resolve_flag_layout(table_columns, source=catalog.source, **layout_kwargs)
        flag_source = f"columns of the NSA table ({in_table.describe()})"
        flag_cuts = "on"
    else:
        flag_source = None
        flag_cuts = "OFF (no flags table)"
        warn.append(f"NO SDSS FLAGS: {catalog.path} has no flag columns and no --flags companion was given; "
                    f"the photometric quality cuts ({config.flag_preset}) are OFF and no row gets "
                    f"FLAGS_MISSING/FLAGS_UNCLEAN. Give --flags FILE to apply the paper's cuts.")
    layout = flags.layout if flags is not None else in_table
    if layout is not None and layout.or_of_bands:
        warn.append(f"{layout.source}: object-level flags built as the OR of the per-band words (the table has no "
                    f"object FLAGS; an approximation, objc_flags are not a plain OR for every bit)")
    return IngestPlan(catalog=catalog, out=out, config=config, flags=flags, in_table=in_table,
                      flag_source=flag_source, flag_cuts=flag_cuts, warnings=tuple(warn))


def ingest_catalog(source: str | Path | CatalogReader, out: str | Path, *, client,
                   config: IngestConfig | None = None, flags_path: str | Path | None = None,
                   reference: SupportReference | None = None, overwrite: bool = False, progress: bool = True,
                   stream: MessageStream = STDERR, plan: IngestPlan | None = None) -> IngestResult:
    """Ingest a catalog (NSA, SDSS export or any table) into the HATS catalog of ``docs/data-contracts.md`` §4.

    Args:
        source: a FITS, Parquet or CSV catalog (its reader chosen by ``config.preset``; ``auto``
            detects it), or a reader already opened with :func:`~sedflow_dask.ingest.readers.open_catalog`.
        out: the catalog directory to create.
        client: a ``distributed.Client`` (workers must see the input and output paths).
        config: ingest options (preset, flux kinds, corrections, column map, flag cuts,
            partition_rows, pixel_threshold, ...).
        flags_path: the SDSS-flags companion (FITS or Parquet, keyed by NSAID; nsa preset only);
            None uses flag columns inside the NSA table if it has them, else runs with the flag
            cuts off. The other presets have no flag cuts (recorded in the provenance).
        reference: the training noise proposal and colour quantiles of the out-of-support flags
            (None: the shipped ones, :meth:`SupportReference.load`).
        overwrite: replace an existing catalog at ``out``.
        progress, stream: progress bars and messages, including the reader's statement of what
            it detected and did and every warning and failed sanity check as it is found (None:
            silent; they are in the result either way).
        plan: the result of :func:`plan_ingest` for these arguments, if already made.

    Every input row is in the output with its ``ingest_reason``; bad files and columns raise
    ValueError naming the file, column and rows, before any task is submitted where they can.
    """
    stream = resolve_stream(stream)
    plan = plan or plan_ingest(source, out, config=config, flags_path=flags_path, overwrite=overwrite)
    catalog, out, config, flags, in_table = plan.catalog, plan.out, plan.config, plan.flags, plan.in_table
    flag_source, flag_cuts, warn = plan.flag_source, plan.flag_cuts, list(plan.warnings)
    reference = reference or SupportReference.load()
    proposal, q = reference.proposal, np.asarray(reference.colour_quantiles)
    if stream is not None:
        print(f"ingest: {catalog.source}: {catalog.statement()}", file=stream, flush=True)
    _print_warnings(stream, warn)

    nrows = catalog.nrows
    work = out.parent / f".{out.name}.ingest-tmp"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    hashes: list = []
    try:
        ranges = row_ranges(nrows, config.partition_rows)
        buckets = n_buckets(max(nrows, flags.nrows if flags else 0), config.partition_rows)
        jwork = str(work / "join")
        Path(jwork).mkdir()  # tasks create directories below it, never it (see join._make_dirs_under)
        scan = [client.submit(scan_range, catalog, s, e, jwork, buckets, pure=False) for s, e in ranges]
        if flags is not None:
            scan += [client.submit(bucket_flags_part, flags, k, part, jwork, buckets, config.partition_rows,
                                   pure=False) for k, part in enumerate(flags.parts)]
        hashes = [client.submit(file_fingerprint, p, pure=False)
                  for p in (catalog.path, *([flags.path] if flags else []))]
        _gather(client, scan, "ingest: scan", progress, stream)
        joins = [client.submit(join_bucket, b, jwork, [s for s, _ in ranges], flags is not None,
                               f"flags table {flags.path}" if flags else "", pure=False) for b in range(buckets)]
        join_info = _gather(client, joins, "ingest: join", progress, stream)
        duplicate_ids = sum(i["nsa_duplicates"] for i in join_info)
        missing = sum(i.get("missing", 0) for i in join_info)
        if flags is not None and missing:
            examples = [x for i in join_info for x in i.get("missing_examples", [])][:5]
            action = ("get FLAGS_MISSING (cut)" if config.missing_flags == "exclude"
                      else "are kept without a flag cut (ingest.missing_flags = keep)")
            warn.append(f"{missing} of {nrows} galaxies have no row in the flags table {flags.path} and "
                        f"{action}; e.g. NSAID {', '.join(map(str, examples))}")
            _print_warnings(stream, warn[-1:])

        reader = CatalogChunkReader(catalog, proposal=proposal, colour_quantiles=q,
                                    n_sigma=reference.outlier_sigma, dflags_cut=config.dflags_cut,
                                    missing_flags=config.missing_flags, flag_layout=in_table,
                                    joined=jwork if flags is not None else None)
        specs = write_range_specs(work / "ranges", ranges)
        name = artifact_name(out)
        written = run_hats_import(specs, reader, work, name, client=client, total_rows=nrows,
                                  pixel_threshold=config.pixel_threshold, highest_order=config.highest_order,
                                  progress=progress)

        parts = client.map(_summarise_file, [str(f) for f in ingested_data_files(written)], pure=False)
        summary = merge_summaries(_gather(client, parts, "ingest: check", progress, stream))
        if summary["rows"] != nrows:
            raise RuntimeError(f"internal error: {summary['rows']} rows written for {nrows} input rows")
        problems = sanity_problems(summary, duplicate_nsaids=duplicate_ids, source=catalog.source)
        if problems and config.strict:
            raise ValueError("ingest sanity checks failed (ingest.strict = true):\n  " + "\n  ".join(problems))
        _print_warnings(stream, problems, "WARNING (sanity check)")
        fingerprints = [h.result() for h in hashes]
        reader_prov = catalog.provenance()
        provenance = {
            "stage": "ingest",
            "package_version": __version__,
            "input": {**fingerprints[0], "rows": nrows, **reader_prov},
            "preset": catalog.preset,
            "corrections": reader_prov.get("corrections"),
            "flags": ({**fingerprints[1], "nsa_version": flags.version, "format": flags.format,
                       "columns": list(flags.layout.columns)} if flags else None),
            "flag_source": flag_source,
            "flag_cuts": flag_cuts,
            "flag_preset": config.flag_preset,
            "flag_mode": config.flag_mode,
            "flag_bands": list(config.flag_bands),
            "missing_flags": config.missing_flags,
            "dflags_cut": config.dflags_cut,
            "noise_proposal": {"sha256": proposal.sha256(), "source": reference.proposal_source,
                               "sigma_flux_min": proposal.sigma_min.tolist(),
                               "sigma_flux_max": proposal.sigma_max.tolist()},
            "colour_quantiles": {"source": reference.colour_source, "values": [float(v) for v in q],
                                 "outlier_sigma": reference.outlier_sigma},
            "config": {"partition_rows": config.partition_rows, "pixel_threshold": config.pixel_threshold,
                       "highest_order": config.highest_order, "strict": config.strict},
            "rows": summary["rows"],
            "usable": summary["usable"],
            "usable_without_band": summary["usable_without"],
            "reason_counts": summary["reasons"],
            "oos_counts": {"noise": summary["oos_noise"], "color": summary["oos_color"],
                           "color_not_noise": summary["oos_color_only"]},
            "duplicate_ids": duplicate_ids,
            "flags_missing_rows": missing,
            "sanity_problems": problems,
            "warnings": warn,
        }
        write_json_atomic(provenance, written / PROVENANCE_FILE)
        properties = {
            "sedflow_stage": "ingest",
            "sedflow_version": __version__,
            "sedflow_input": provenance["input"]["path"],
            "sedflow_input_sha256": provenance["input"]["sha256"],
            "sedflow_preset": catalog.preset,
            "sedflow_flux": str(reader_prov.get("flux", "")),
            "sedflow_flag_preset": config.flag_preset,
            "sedflow_flag_mode": config.flag_mode,
            "sedflow_flag_cuts": flag_cuts,
            "sedflow_proposal_sha256": proposal.sha256(),
            "sedflow_colour_source": reference.colour_source,
            "sedflow_usable": str(summary["usable"]),
            "sedflow_reason_counts": summary["reasons"],
        }
        if "nsa_schema" in reader_prov:
            properties["sedflow_nsa_schema"] = reader_prov["nsa_schema"]
        write_properties(written, properties)
        if out.exists():
            shutil.rmtree(out)
        os.replace(written, out)
    finally:
        client.cancel([h for h in hashes if not h.done()])  # a failed run leaves no task behind
        remove_work_dir(work)
    return IngestResult(path=out, rows=summary["rows"], summary=summary, provenance=provenance,
                        problems=problems, warnings=warn)


def format_counts(result: IngestResult) -> str:
    """Per-reason counts and out-of-support counts as a small text table."""
    s = result.summary
    lines = [f"{result.rows} galaxies ingested into {result.path}; {s['usable']} usable (ingest_reason = 0)"]
    width = max(len(str(r.name)) for r in IngestReason)
    for r in IngestReason:
        lines.append(f"  {r.name:<{width}}  {s['reasons'][r.name]:>10}   (bit {int(r).bit_length() - 1})")
    without = ", ".join(f"{b} {n}" for b, n in s["usable_without"].items())
    lines.append(f"  {'without band':<{width}}  {without}   (usable rows whose bands_used lacks the band)")
    lines.append(f"  {'oos_noise':<{width}}  {s['oos_noise']:>10}   (usable rows with a sigma_f outside the "
                 f"training proposal's range)")
    lines.append(f"  {'oos_color':<{width}}  {s['oos_color']:>10}   ({s['oos_color_only']} of them not oos_noise)")
    return "\n".join(lines)
