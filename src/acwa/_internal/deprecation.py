"""Deprecated names kept for one release: a module-level ``__getattr__`` that warns and forwards."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any


def deprecated_names(module: str, renamed: dict[str, tuple[Callable[[], Any], str]]) -> Callable[[str], Any]:
    """A module ``__getattr__``: ``renamed[name] = (load, new_name)`` warns
    ``DeprecationWarning`` naming ``new_name`` and returns ``load()``."""

    def __getattr__(name: str) -> Any:
        if name in renamed:
            load, new = renamed[name]
            warnings.warn(f"{module}.{name} is deprecated; use {new}", DeprecationWarning, stacklevel=2)
            return load()
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
