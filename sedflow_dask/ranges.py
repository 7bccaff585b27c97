"""How a table's rows are cut into consecutive pieces (ingest partitions, inference tasks)."""

from __future__ import annotations


def row_ranges(n_rows: int, max_rows: int, *, at_least_one: bool = False) -> list[tuple[int, int]]:
    """[start, stop) ranges of at most ``max_rows`` rows covering rows 0..n_rows-1 in order.

    ``n_rows = 0`` gives no range, or the one empty range (0, 0) with ``at_least_one`` (for a
    piece of work that must run even on no rows, e.g. to write an empty partition).
    ValueError when ``max_rows < 1`` or ``n_rows < 0``.
    """
    if max_rows < 1:
        raise ValueError(f"rows per range must be >= 1, got {max_rows}")
    if n_rows < 0:
        raise ValueError(f"the number of rows must be >= 0, got {n_rows}")
    ranges = [(s, min(s + max_rows, n_rows)) for s in range(0, n_rows, max_rows)]
    return ranges if ranges or not at_least_one else [(0, 0)]
