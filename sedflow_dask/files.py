"""Small file helpers every stage shares: content hashes, JSON read/written safely, scratch removal."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any


def file_sha256(path: str | Path, block: int = 1 << 23) -> str:
    """Hex sha256 of a file's bytes, streamed in ``block``-byte pieces."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            h.update(chunk)
    return h.hexdigest()


def check_format(data: Any, fmt: str, version: int, source: str, what: str) -> dict[str, Any]:
    """``data`` as a dict whose ``format`` is ``fmt`` and ``format_version`` is ``version``.

    Raises ValueError naming ``source`` (a file or a field), the field and the value found, and
    what the document should have been (``what``: "noise model", "posterior model", ...).
    """
    got = data.get("format") if isinstance(data, dict) else None
    if not isinstance(data, dict) or got != fmt:
        raise ValueError(f"{source}: field 'format' is {got!r}, not {fmt!r}: not a sedflow_dask {what}")
    if data.get("format_version") != version:
        raise ValueError(f"{source}: field 'format_version' is {data.get('format_version')!r}; "
                         f"this version reads {version}")
    return data


def read_json(path: str | Path, what: str = "file") -> Any:
    """Parse a JSON file; ValueError naming ``what`` and the path if unreadable or invalid."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise ValueError(f"cannot read {what} {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} {path} is not valid JSON: {exc}") from None


def write_json_atomic(data: Any, path: str | Path) -> Path:
    """Write ``data`` as indented, key-sorted JSON to ``path`` atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path


def remove_work_dir(path: str | Path, attempts: int = 20, pause_s: float = 0.1) -> None:
    """Remove a run's scratch directory even while cancelled tasks still write into it.

    Dask cannot stop a task that is already running, so a file may appear during the removal;
    retrying until the directory stays gone bounds the wait (``attempts`` x ``pause_s`` seconds).
    """
    import shutil
    import time

    p = Path(path)
    for _ in range(attempts):
        shutil.rmtree(p, ignore_errors=True)
        if not p.exists():
            return
        time.sleep(pause_s)
