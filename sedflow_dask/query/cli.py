"""``sedflow query CATALOG "SQL"`` and ``sedflow cone CATALOG --ra --dec --radius-arcsec``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

FORMATS = ("table", "csv", "parquet", "json")
_BY_SUFFIX = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".json": "json", ".txt": "table"}


def register(sub) -> None:
    from ..cli_args import add_config_args

    q = sub.add_parser(
        "query", help="SQL (DuckDB) over a catalog's data partitions, as the table `catalog`",
        description="Run one SQL statement with DuckDB over the data partitions of a HATS catalog (the output of "
                    "`sedflow infer` or `sedflow ingest`), registered as the table `catalog`. Only the data files "
                    "are read (never _metadata or margins), so every galaxy counts once; DuckDB reads only the "
                    "columns the query names. The partition columns Norder, Dir, Npix prune files: "
                    "WHERE Norder = 1 AND Npix = 4 opens that partition only. `DESCRIBE catalog` lists the columns.",
        epilog='example: sedflow query catalogs/demo "SELECT status, count(*) AS n FROM catalog GROUP BY status"')
    add_config_args(q)
    q.add_argument("catalog", metavar="CATALOG", help="HATS catalog directory")
    q.add_argument("sql", metavar="SQL", help="the query; the catalog is the table `catalog`")
    _output_args(q)
    q.set_defaults(func=cmd_query)

    c = sub.add_parser(
        "cone", help="galaxies within a radius of a sky position (lsdb cone search)",
        description="Cone search through lsdb: only the HEALPix pixels the cone overlaps are read. Rows come "
                    "nearest first with their separation sep_arcsec.")
    add_config_args(c)
    c.add_argument("catalog", metavar="CATALOG", help="HATS catalog directory")
    c.add_argument("--ra", type=float, required=True, help="centre right ascension [deg]")
    c.add_argument("--dec", type=float, required=True, help="centre declination [deg]")
    c.add_argument("--radius-arcsec", type=float, required=True, help="radius [arcsec]")
    c.add_argument("--columns", metavar="A,B,...", help="columns to return (default: all but the stored draws; "
                                                         "ra, dec and sep_arcsec always)")
    _output_args(c)
    c.set_defaults(func=cmd_cone)


def _output_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="output format (default: from --out's suffix, else table)")
    p.add_argument("--out", metavar="FILE", help="write the result here instead of stdout (needed for parquet)")
    p.add_argument("--max-rows", type=int, default=50,
                   help="rows shown by --format table on the terminal (default 50; 0 = all)")


def output_format(fmt: str | None, out: str | None) -> str:
    """The format to write: ``--format``, else from ``--out``'s suffix, else ``table``."""
    if fmt is None:
        fmt = _BY_SUFFIX.get(Path(out).suffix.lower(), "table") if out else "table"
    if fmt == "parquet" and not out:
        raise ValueError("--format parquet needs --out FILE")
    return fmt


def _cell(v) -> str:
    """One list-valued cell (the stored draws) as a compact JSON array; other cells as they are."""
    if hasattr(v, "__len__") and not isinstance(v, str | bytes):
        return json.dumps([None if x is None else float(x) for x in v], separators=(",", ":"))
    return v


def _lists_as_text(frame):
    obj = [c for c in frame.columns if frame[c].dtype == object]
    if not obj:
        return frame
    out = frame.copy()
    for c in obj:
        out[c] = out[c].map(_cell)
    return out


def write_frame(frame, fmt: str, out: str | None = None, *, max_rows: int = 50, arrow=None) -> None:
    """Write ``frame`` (pandas) as ``fmt`` to ``out`` or stdout; ``arrow``: the same rows as Arrow for parquet."""
    import pandas as pd

    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(arrow if arrow is not None else _to_arrow(frame), out)
    elif fmt == "csv":
        text = _lists_as_text(frame).to_csv(index=False)
        _emit(text, out)
    elif fmt == "json":
        text = frame.to_json(orient="records", double_precision=15, date_format="iso")
        _emit(json.dumps(json.loads(text), indent=1) + "\n", out)
    else:
        shown = frame if out or max_rows <= 0 or len(frame) <= max_rows else frame.head(max_rows)
        with pd.option_context("display.max_columns", None, "display.width", 250, "display.max_colwidth", 60):
            text = _lists_as_text(shown).to_string(index=False) if len(shown.columns) else "(no columns)"
        more = len(frame) - len(shown)
        _emit(text + "\n" + (f"... {more} more rows (--max-rows 0 shows all; --out FILE writes all)\n"
                             if more else ""), out)


def _to_arrow(frame):
    import pyarrow as pa

    return pa.Table.from_pandas(frame, preserve_index=False)


def _emit(text: str, out: str | None) -> None:
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text)
    else:
        sys.stdout.write(text)


def cmd_query(args: argparse.Namespace, config) -> int:
    from .duck import query_arrow

    fmt = output_format(args.format, args.out)
    table = query_arrow(args.catalog, args.sql)
    frame = table.to_pandas()
    write_frame(frame, fmt, args.out, max_rows=args.max_rows, arrow=table)
    if args.out:
        print(f"query: {table.num_rows} rows -> {args.out}", file=sys.stderr)
    return 0


def cmd_cone(args: argparse.Namespace, config) -> int:
    from .cone import cone_search

    fmt = output_format(args.format, args.out)
    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    frame = cone_search(args.catalog, args.ra, args.dec, args.radius_arcsec, columns=columns)
    write_frame(frame, fmt, args.out, max_rows=args.max_rows)
    print(f"cone: {len(frame)} galaxies within {args.radius_arcsec:g} arcsec of ({args.ra:g}, {args.dec:g})"
          + (f" -> {args.out}" if args.out else ""), file=sys.stderr)
    return 0
