"""Queries on catalogs: SQL through DuckDB over the data partitions, cone searches through lsdb.

``query_catalog(catalog, sql)`` returns pandas, ``query_arrow`` a pyarrow Table; the catalog is
the table ``catalog``. ``cone_search(catalog, ra, dec, radius_arcsec)`` reads only the HEALPix
pixels the cone touches. From the shell: ``sedflow query CATALOG "SQL"`` and ``sedflow cone``.
"""

from .cone import angular_separation_arcsec, cone_search
from .duck import PARTITION_COLUMNS, TABLE, QueryError, connect, data_files, query_arrow, query_catalog

__all__ = ["PARTITION_COLUMNS", "TABLE", "QueryError", "angular_separation_arcsec", "cone_search", "connect",
           "data_files", "query_arrow", "query_catalog"]
