"""The output catalog on disk: a HATS catalog of one Parquet partition per input HEALPix pixel.

Layout (``hats`` conventions, ``docs/data-contracts.md`` §6): ``dataset/Norder=k/Dir=d/Npix=n.parquet``
(ZSTD), ``dataset/_common_metadata`` (the schema), ``partition_info.csv`` and ``hats.properties``
with the run's provenance under ``sedflow_*`` keys, plus ``provenance.json``. No ``_metadata``,
no margin cache: queries read the data partitions only, so each galaxy counts once.

Each partition is written atomically and carries, in its Parquet footer, the run fingerprint
(model weights + configuration) and the sha256 of the input partition it came from; a re-run
skips a partition only when both match, so partitions made by another model, configuration or
input are redone, never reused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..files import file_sha256, write_json_atomic
from ..ingest.io import ingested_data_files
from ..layout import DATA_GLOB, ZSTD_LEVEL
from ..parquet import read_sedflow_metadata, write_table_atomic

FORMAT = "sedflow_dask.catalog"
FORMAT_VERSION = 1
PROVENANCE_FILE = "provenance.json"


@dataclass(frozen=True)
class InputPixel:
    """One data partition of the ingested catalog: HEALPix order and pixel, file, rows, sha256."""

    order: int
    pixel: int
    path: Path
    n_rows: int
    sha256: str


def input_pixels(catalog: str | Path) -> list[InputPixel]:
    """The ingested catalog's data partitions, in (order, pixel) order.

    Raises ValueError naming the catalog when it is not a HATS catalog or has no partitions,
    and the file when a partition is not readable Parquet.
    """
    from hats.io.paths import get_healpix_from_path

    files = ingested_data_files(catalog)
    if not files:
        raise ValueError(f"{catalog}: the ingested catalog has no data partitions ({DATA_GLOB})")
    pixels = []
    for f in files:
        hp = get_healpix_from_path(str(f))
        try:
            n = pq.ParquetFile(f).metadata.num_rows
        except (OSError, pa.ArrowInvalid) as exc:
            raise ValueError(f"{f}: not a readable Parquet partition: {exc}") from None
        pixels.append(InputPixel(order=int(hp.order), pixel=int(hp.pixel), path=f, n_rows=int(n),
                                 sha256=file_sha256(f)))
    return sorted(pixels, key=lambda p: (p.order, p.pixel))


def partition_path(catalog: str | Path, order: int, pixel: int) -> Path:
    """``catalog/dataset/Norder=k/Dir=d/Npix=n.parquet`` (hats' path scheme)."""
    from hats.io.paths import pixel_catalog_file
    from hats.pixel_math.healpix_pixel import HealpixPixel

    return Path(str(pixel_catalog_file(Path(catalog), HealpixPixel(order, pixel))))


def run_fingerprint(model_sha256: str, settings: dict[str, Any]) -> str:
    """sha256 of the model weights' hash and the settings that shape the catalog's values."""
    text = json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION, "model_sha256": model_sha256,
                       "settings": settings}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def partition_is_complete(path: Path, fingerprint: str, source: InputPixel) -> bool:
    """True when ``path`` is a finished partition of this run's fingerprint made from ``source``."""
    if not path.exists():
        return False
    try:
        meta = read_sedflow_metadata(path)
        n = pq.ParquetFile(path).metadata.num_rows
    except (ValueError, OSError, pa.ArrowInvalid):
        return False
    return (meta.get("fingerprint") == fingerprint and meta.get("input_sha256") == source.sha256
            and n == source.n_rows == meta.get("n_rows"))


def write_partition(table: pa.Table, path: Path, metadata: dict[str, Any]) -> Path:
    """Write one pixel's rows atomically (ZSTD) with ``metadata`` in the footer."""
    return write_table_atomic(table, path, metadata, compression="zstd", compression_level=ZSTD_LEVEL)


def remove_stale_partitions(catalog: str | Path, keep: set[Path]) -> list[Path]:
    """Delete data partitions (and leftover ``*.tmp`` files) that are not in ``keep``; return them."""
    root = Path(catalog)
    stale = [f for f in root.glob(DATA_GLOB) if f not in keep]
    stale += list(root.glob("dataset/Norder=*/Dir=*/.*.tmp"))
    for f in stale:
        f.unlink(missing_ok=True)
    return stale


def finalize_catalog(catalog: str | Path, name: str, pixels: list[InputPixel], provenance: dict[str, Any]) -> None:
    """Write the HATS metadata once every partition is in place.

    ``partition_info.csv``, ``dataset/_common_metadata`` (schema only; no ``_metadata``),
    ``hats.properties`` (with ``sedflow_*`` provenance keys) and ``provenance.json``.
    """
    import hats
    from hats.catalog import PartitionInfo, TableProperties
    from hats.io.parquet_metadata import write_parquet_metadata
    from hats.pixel_math.healpix_pixel import HealpixPixel

    from .. import __version__

    root = Path(catalog)
    PartitionInfo([HealpixPixel(p.order, p.pixel) for p in pixels]).write_to_file(catalog_path=root)
    write_parquet_metadata(root, create_metadata=False)
    extra = {f"sedflow_{k}": v if isinstance(v, str) else json.dumps(v, sort_keys=True, separators=(",", ":"))
             for k, v in provenance.items()}
    props = TableProperties(
        catalog_name=name, catalog_type="object", total_rows=sum(p.n_rows for p in pixels),
        ra_column="ra", dec_column="dec", healpix_column="_healpix_29", healpix_order=29,
        hats_max_rows=max((p.n_rows for p in pixels), default=0),
        **{"hats_builder": f"sedflow_dask v{__version__}, hats v{hats.__version__}", **extra},
    )
    props.to_properties_file(root)
    write_json_atomic(provenance, root / PROVENANCE_FILE)


def read_catalog_provenance(catalog: str | Path) -> dict[str, Any]:
    """The provenance an inference run stored beside its catalog (``provenance.json``)."""
    from ..files import read_json

    data = read_json(Path(catalog) / PROVENANCE_FILE, "catalog provenance")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{Path(catalog) / PROVENANCE_FILE}: not a sedflow_dask output catalog")
    return data
