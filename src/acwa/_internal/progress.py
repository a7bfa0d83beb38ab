"""Progress display for the library's long loops (AutoBalance.fit, cross-fitting, the
generative oversampler): a tqdm bar when ``progress=True`` and tqdm is installed
(``pip install 'acwa-torch[bench]'``), otherwise the plain iterable with one note on stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from acwa._internal.validation import check_bool

__all__ = ["progress_iter"]

T = TypeVar("T")


def progress_iter(items: Iterable[T], progress: bool, desc: str, total: int | None = None) -> Iterator[T]:
    """``items`` wrapped in a tqdm bar on stderr when ``progress`` is true (``desc`` names it)."""
    if not check_bool(progress, "progress"):
        yield from items
        return
    try:
        from tqdm.auto import tqdm
    except ImportError:
        print(f"{desc}: no progress bar, tqdm is not installed (pip install tqdm)", file=sys.stderr)
        yield from items
        return
    yield from tqdm(items, desc=desc, total=total, file=sys.stderr, leave=False, dynamic_ncols=True)
