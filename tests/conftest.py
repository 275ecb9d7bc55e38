"""Shared fixtures. The demo county is built once per test session (it is seeded, so deterministic)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("CIVGIS_PROGRESS", "0")
#: what the tests render for a person to look at (maps, screenshots, PDFs); made here so that a
#: fresh clone, where build/ does not exist yet, can write into it
SCREENSHOTS = REPO / "build" / "screenshots"
SCREENSHOTS.mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """Raw demo files (what a bureau would bring) plus manifest.json of planted facts."""
    from civgis.demo import generate_demo_files

    out = tmp_path_factory.mktemp("demo_raw")
    generate_demo_files(out)
    return out


@pytest.fixture(scope="session")
def demo_ws(tmp_path_factory):
    """The demo county imported through the real importers into a workspace (read-only use!)."""
    from civgis.demo import build_demo_workspace

    out = tmp_path_factory.mktemp("demo_ws")
    return build_demo_workspace(out)
