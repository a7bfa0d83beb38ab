import importlib
from pathlib import Path

import pytest

from api_surface import PACKAGES, _attribute, render

ROOT = Path(__file__).resolve().parents[1]


def test_docs_api_md_lists_the_public_surface():
    expected = render()
    actual = (ROOT / "docs" / "api.md").read_text()
    assert actual == expected, "docs/api.md is out of date: run `python tests/api_surface.py > docs/api.md`"


@pytest.mark.parametrize("name", PACKAGES)
def test_every_exported_name_exists_and_is_public(name):
    module = importlib.import_module(name)
    for attr in getattr(module, "__all__", []):
        assert not attr.startswith("_") or attr == "__version__"
        _attribute(module, attr)  # raises when the package does not define it
