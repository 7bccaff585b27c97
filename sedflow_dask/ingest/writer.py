"""Writing the ingested catalog as a HATS catalog with hats-import.

The writer is hats-import's map/split/reduce pipeline (HEALPix pixels bounded by
``pixel_threshold`` rows, ``_healpix_29`` spatial index, ZSTD, ``hats.properties``), fed by
:class:`CatalogChunkReader`: each input "file" of the pipeline is a small JSON spec of one row
range of the catalog, which the reader turns into already-converted catalog rows with the
catalog's reader and the pure core. Memory is bounded by one row range (reading) and one pixel
(reducing), whatever the file size. Reading the catalog back is :mod:`.io`'s, which does not
import hats-import (a ~2 s import every inference worker and ``sedflow resample`` would pay).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from hats_import.catalog.file_readers import InputReader

from ..layout import ZSTD_LEVEL
from ..noise.proposal import NoiseProposal
from .core import ingest_frame
from .flags import FlagLayout, evaluate_clean
from .join import read_joined
from .readers.base import CatalogReader


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


def write_properties(catalog: str | Path, extra: dict[str, Any]) -> None:
    """Add ``extra`` keys (values as text; dicts and lists as compact JSON) to hats.properties."""
    from hats.catalog import TableProperties

    props = TableProperties.read_from_dir(catalog)
    text = {k: v if isinstance(v, str) else json.dumps(v, sort_keys=True, separators=(",", ":"))
            for k, v in extra.items()}
    props.copy_and_update(**text).to_properties_file(catalog)
