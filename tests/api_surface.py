"""The public surface of acwa, rendered as ``docs/api.md``: one section per public package,
one line per name of its ``__all__`` with the first line of its docstring.

Regenerate with ``python tests/api_surface.py > docs/api.md``; ``tests/test_api_surface.py``
fails when the file and the code disagree."""

from __future__ import annotations

import importlib
import inspect
import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # the Keras adapter's module imports keras

PACKAGES = (
    "acwa",
    "acwa.adaptive",
    "acwa.tasks",
    "acwa.metrics",
    "acwa.weights",
    "acwa.losses",
    "acwa.sampling",
    "acwa.posthoc",
    "acwa.auto",
    "acwa.autobalance",
    "acwa.splits",
    "acwa.data",
    "acwa.bench",
    "acwa.integrations",
    "acwa.integrations.lightning",
    "acwa.integrations.huggingface",
    "acwa.integrations.keras",
)


def _summary(obj: object) -> str:
    if inspect.ismodule(obj) or inspect.isclass(obj) or inspect.isroutine(obj):
        doc = inspect.getdoc(obj) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""
    return f"a {type(obj).__name__}"


def _attribute(module: object, attr: str) -> object:
    """``module.attr``, importing it when it is a submodule that is not loaded yet."""
    if not hasattr(module, attr):
        return importlib.import_module(f"{module.__name__}.{attr}")  # type: ignore[attr-defined]
    return getattr(module, attr)


def render() -> str:
    lines = [
        "# Public API",
        "",
        "Generated from each public package's `__all__` by `python tests/api_surface.py > docs/api.md`;",
        "`tests/test_api_surface.py` keeps it true. Import names from the package listed; modules whose",
        "name starts with `_` are private.",
        "",
    ]
    for name in PACKAGES:
        module = importlib.import_module(name)
        lines += [f"## `{name}`", ""]
        for attr in getattr(module, "__all__", []):
            value = _attribute(module, attr)
            summary = _summary(value).replace("|", "\\|")
            lines.append(f"- `{attr}`" + (f": {summary}" if summary else ""))
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
