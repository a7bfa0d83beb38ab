"""Where packaged data lives: package folders and the cache of derived data."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

__all__ = ["cache_dir", "package_dir"]


def cache_dir() -> Path:
    """Where derived data (text embeddings) is cached: ``$ACWA_CACHE_DIR`` or ``~/.cache/acwa``."""
    root = os.environ.get("ACWA_CACHE_DIR")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "acwa"


def package_dir(module: str) -> Path | None:
    """The folder of an installed package (not imported), or None."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])
