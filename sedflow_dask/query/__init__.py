"""Queries on catalogs: SQL through DuckDB over the data partitions, cone searches through lsdb.

``query_catalog(catalog, sql)`` returns pandas, ``query_arrow`` a pyarrow Table; the catalog is
the table ``catalog``. ``cone_search(catalog, ra, dec, radius_arcsec)`` reads only the HEALPix
pixels the cone touches. From the shell: ``sedflow query CATALOG "SQL"`` and ``sedflow cone``.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # the public names for IDEs and type checkers (see sedflow_dask._lazy)
    from .cone import angular_separation_arcsec, cone_search
    from .duck import PARTITION_COLUMNS, TABLE, QueryError, connect, data_files, query_arrow, query_catalog

#: Public names and the submodules they live in, imported on first use (keeps `sedflow` quick to start).
_EXPORTS = {
    "angular_separation_arcsec": ".cone",
    "cone_search": ".cone",
    "PARTITION_COLUMNS": ".duck",
    "TABLE": ".duck",
    "QueryError": ".duck",
    "connect": ".duck",
    "data_files": ".duck",
    "query_arrow": ".duck",
    "query_catalog": ".duck",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
