"""Every notebook in notebooks/ runs top to bottom (on the demo county)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

MAP_NOTEBOOKS = {"02_patrol_maps.ipynb", "04_greening.ipynb"}
NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
#: hosts folium's own notebook display loads Leaflet, jQuery, Bootstrap … from
CDN = re.compile(r"cdn\.jsdelivr\.net|unpkg\.com|cdnjs\.cloudflare\.com|code\.jquery\.com|netdna\.bootstrapcdn"
                 r"|maxcdn\.bootstrapcdn|rawcdn\.githack|googleapis\.com")
EXPECTED = {"01_indicators.ipynb", "02_patrol_maps.ipynb", "03_hotspots.ipynb", "04_greening.ipynb"}


def test_the_notebooks_are_all_there():
    assert EXPECTED <= {p.name for p in NOTEBOOKS.glob("*.ipynb")}


@pytest.mark.notebook
@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_notebook_runs(path):
    nb = nbformat.read(path, as_version=4)
    assert not any(cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), \
        f"{path.name} is committed with outputs; clear them"
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    errors = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    html = [str(o.get("data", {}).get("text/html", "")) for cell in nb.cells if cell.cell_type == "code"
            for o in cell.get("outputs", [])]
    maps = [h for h in html if "L.map(" in h or "leaflet" in h.lower()]
    assert all(not CDN.search(h) for h in maps), f"{path.name}: a map output loads from a CDN (blank offline)"
    if path.name in MAP_NOTEBOOKS:
        assert maps, f"{path.name} shows no map"
