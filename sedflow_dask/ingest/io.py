"""Writing the ingested catalog as a HATS catalog, and reading it back.

The writer is ``hats-import``'s map/split/reduce pipeline (HEALPix pixels bounded by
``pixel_threshold`` rows, ``_healpix_29`` spatial index, ZSTD, ``hats.properties``), fed by
:class:`CatalogChunkReader`: each input "file" of the pipeline is a small JSON spec of one row
range of the catalog, which the reader turns into already-converted catalog rows with the
catalog's reader and the pure core. Memory is bounded by one row range (reading) and one pixel (reducing), whatever the
file size. The catalog is usable by ``lsdb.open_catalog``, pyarrow and DuckDB; queries read
only the data partitions ``dataset/Norder=*/Dir=*/Npix=*.parquet``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from hats_import.catalog.file_readers import InputReader

from ..files import file_sha256
from ..layout import DATA_GLOB, ZSTD_LEVEL
from ..noise.proposal import NoiseProposal
from .core import ingest_frame
from .flags import FlagLayout, evaluate_clean
from .join import read_joined
from .readers.base import CatalogReader

PROVENANCE_FILE = "provenance.json"


class CatalogChunkReader(InputReader):
    """hats-import reader yielding ingested catalog rows for one catalog row range per input file.

    The input file is a JSON spec ``{"chunk": k, "start": s, "stop": e}``. Asked for only
    ``ra``/``dec`` (the mapping stage), it reads just the positions.

    Args:
        catalog: the catalog reader (any preset: it returns the standard frame).
        proposal: the training noise proposal (its σ_f range is the noise support).
        colour_quantiles: the 10 training colour quantiles [mag].
        n_sigma: colour-outlier threshold, in units of the colour's error.
        dflags_cut, missing_flags: as ``IngestConfig``.
        flag_layout: flag words inside the catalog itself (a user-augmented NSA), or None.
        joined: the flags-join work directory (companion given), or None.
    """

    def __init__(self, catalog: CatalogReader, *, proposal: NoiseProposal, colour_quantiles: Iterable[float],
                 n_sigma: float = 3.0, dflags_cut: bool = False, missing_flags: Literal["exclude", "keep"] = "exclude",
                 flag_layout: FlagLayout | None = None, joined: str | None = None) -> None:
        self.catalog = catalog
        self.proposal = proposal
        self.colour_quantiles = [float(q) for q in colour_quantiles]
        self.n_sigma = float(n_sigma)
        self.dflags_cut = bool(dflags_cut)
        self.missing_flags = missing_flags
        self.flag_layout = flag_layout
        self.joined = joined

    def rows(self, chunk: int, start: int, stop: int) -> pd.DataFrame:
        """The ingested rows of catalog rows [start, stop) (range number ``chunk``)."""
        raw = self.catalog.read_frame(start, stop)
        clean = found = None
        if self.flag_layout is not None:
            clean = evaluate_clean(self.catalog.read_columns(self.flag_layout.columns, start, stop), self.flag_layout)
        elif self.joined is not None:
            found, clean = read_joined(self.joined, chunk, start, stop)
        return ingest_frame(raw, proposal=self.proposal, colour_quantiles=self.colour_quantiles,
                            n_sigma=self.n_sigma, flag_clean=clean, flag_found=found, dflags_cut=self.dflags_cut,
                            missing_flags=self.missing_flags)

    def read(self, input_file, read_columns=None) -> Iterator[pd.DataFrame]:
        spec = json.loads(Path(str(input_file)).read_text())
        start, stop = int(spec["start"]), int(spec["stop"])
        if read_columns is not None and set(read_columns) <= {"ra", "dec"}:
            yield self.catalog.read_positions(start, stop)[list(read_columns)]
            return
        frame = self.rows(int(spec["chunk"]), start, stop)
        yield frame if read_columns is None else frame[list(read_columns)]


def write_range_specs(directory: str | Path, ranges: Sequence[tuple[int, int]]) -> list[str]:
    """One JSON spec file per row range (the pipeline's input "files")."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, (start, stop) in enumerate(ranges):
        p = d / f"range_{k:06d}.json"
        p.write_text(json.dumps({"chunk": k, "start": start, "stop": stop}))
        paths.append(str(p))
    return paths


def artifact_name(out: str | Path) -> str:
    """A HATS catalog name (letters, digits, ``._-``) from the output directory's name."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", Path(out).name) or "catalog"


def run_hats_import(specs: Sequence[str], reader: CatalogChunkReader, output_path: str | Path, name: str, *, client,
                    total_rows: int, pixel_threshold: int, highest_order: int,
                    properties: dict[str, str] | None = None, progress: bool = True) -> Path:
    """Run hats-import's catalog pipeline on the row-range specs; returns the catalog directory.

    ``expected_total_rows`` makes hats-import fail rather than lose or duplicate a row.
    """
    from hats_import.catalog.arguments import ImportArguments
    from hats_import.pipeline import pipeline_with_client

    args = ImportArguments(
        output_path=str(output_path),
        output_artifact_name=name,
        input_file_list=list(specs),
        file_reader=reader,
        catalog_type="object",
        ra_column="ra",
        dec_column="dec",
        sort_columns="nsaid",
        pixel_threshold=int(pixel_threshold),
        highest_healpix_order=int(highest_order),
        expected_total_rows=int(total_rows),
        addl_hats_properties=properties or {},
        # queries read the data partitions, never a global _metadata (its size grows with
        # partitions x columns and it can swamp a worker: ecosystem notes §3)
        create_metadata=False,
        write_table_kwargs={"compression_level": ZSTD_LEVEL},
        resume=False,
        progress_bar=progress,
        simple_progress_bar=True,
    )
    pipeline_with_client(args, client)
    return Path(output_path) / name


def ingested_data_files(catalog: str | Path) -> list[Path]:
    """The data partitions of a HATS catalog, sorted."""
    root = Path(catalog)
    files = sorted(root.glob(DATA_GLOB))
    if not files and not (root / "dataset").is_dir():
        raise ValueError(f"{root} is not a HATS catalog (no dataset/ directory)")
    return files


def read_ingested(path: str | Path, columns: Sequence[str] | None = None, filters=None) -> pd.DataFrame:
    """An ingested catalog (or any HATS catalog) as one pandas DataFrame.

    Reads only the data partitions ``dataset/Norder=*/Dir=*/Npix=*.parquet`` with pyarrow, so
    every row counts once. ``columns`` projects; ``filters`` is a pyarrow expression or
    DNF list (``[("ingest_reason", "==", 0)]``) pushed down to the Parquet reader.
    """
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    files = ingested_data_files(path)
    if not files:
        raise ValueError(f"{path}: the catalog has no data partitions")
    # an explicit file list: no hive partition columns (Norder/Dir/Npix) are added
    dataset = ds.dataset([str(f) for f in files], format="parquet")
    if columns is not None:
        missing = [c for c in columns if c not in dataset.schema.names]
        if missing:
            raise ValueError(f"{path}: no column(s) {missing}; the catalog has {dataset.schema.names}")
    if filters is not None and not isinstance(filters, ds.Expression):
        filters = pq.filters_to_expression(filters)
    table = dataset.to_table(columns=list(columns) if columns is not None else None, filter=filters)
    return table.to_pandas()


def file_fingerprint(path: str | Path, block: int = 1 << 23) -> dict[str, Any]:
    """sha256 (streamed in 8 MiB blocks), size [bytes] and mtime of a file."""
    p = Path(path)
    st = p.stat()
    return {"path": str(p.resolve()), "sha256": file_sha256(p, block), "size_bytes": st.st_size, "mtime": st.st_mtime}


def write_properties(catalog: str | Path, extra: dict[str, Any]) -> None:
    """Add ``extra`` keys (values as text; dicts and lists as compact JSON) to hats.properties."""
    from hats.catalog import TableProperties

    props = TableProperties.read_from_dir(catalog)
    text = {k: v if isinstance(v, str) else json.dumps(v, sort_keys=True, separators=(",", ":"))
            for k, v in extra.items()}
    props.copy_and_update(**text).to_properties_file(catalog)


def read_provenance(catalog: str | Path) -> dict[str, Any]:
    """The ingest provenance stored beside the catalog (``provenance.json``)."""
    p = Path(catalog) / PROVENANCE_FILE
    try:
        return json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {p}: {exc}") from None
