"""Package namespaces whose names are imported on first use (PEP 562).

Building the ``sedflow`` parser imports every stage's ``cli`` module, and importing a submodule
runs its package's ``__init__``; eager re-exports there pulled in torch, sbi, hats-import and
lsdb before any command ran (5–7 s per command). Packages declare their public names instead,
and import the same names again under ``if TYPE_CHECKING:``, which never runs, so that IDEs and
type checkers see them (``tests/test_import_graph.py`` keeps the two lists equal).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: ``exports`` maps each public name to its submodule."""

    def __getattr__(name: str) -> Any:
        try:
            module = exports[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(exports) | set(vars(sys.modules[package])))

    return __getattr__, __dir__
