"""QGIS opens a workspace (and hotspots.gpkg) with the catalogue's styles: a headless QGIS test.

The workspace is built with civgis (the venv); Debian's QGIS (``python3-qgis``, installed by
scripts/install-system.sh) opens it with the system ``/usr/bin/python3`` in a subprocess and
reports what it loaded: renderer, categories and their labels, field aliases, value maps,
labelling. The expected values are read straight from the catalogue's TOML files, not from
civgis's style code. The styled county rendered by QGIS is saved to build/screenshots/qgis_county.png.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import tomllib
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "tests" / "qgis" / "open_workspace.py"
LAYERS = REPO / "civgis" / "data" / "layers"
SYSTEM_PYTHON = "/usr/bin/python3"


def catalogue(name: str) -> dict:
    with open(LAYERS / f"{name}.toml", "rb") as fh:
        return tomllib.load(fh)


@pytest.fixture(scope="module")
def qgis_report(demo_ws, tmp_path_factory):
    from civgis.run.hotspots import write_hotspots

    out = tmp_path_factory.mktemp("qgis")
    hot = write_hotspots(demo_ws, out / "hot", by="month")
    png = REPO / "build" / "screenshots" / "qgis_county.png"
    png.parent.mkdir(parents=True, exist_ok=True)
    report = out / "report.json"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["QT_QPA_PLATFORM"] = "offscreen"
    proc = subprocess.run([SYSTEM_PYTHON, str(SCRIPT), str(report), str(png), str(demo_ws.path),
                           str(hot.files["gpkg"])], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(report.read_text(encoding="utf-8")), png


VECTOR = ["built_up", "zones", "green", "roads", "lamps", "toilets", "residential", "inspections", "candidates"]


@pytest.mark.parametrize("name", VECTOR)
def test_each_layer_loads_with_the_catalogue_style(qgis_report, name):
    report, _ = qgis_report
    layer = report[f"county.gpkg:{name}"]
    spec = catalogue(name)
    assert layer["valid"] and layer["features"] > 0
    # Chinese aliases: every catalogue field's label_zh
    for field, f in spec["fields"].items():
        assert layer["aliases"][field] == f["label_zh"], field
    # value maps: every coded field shows its Chinese labels; booleans 是/否
    for field, f in spec["fields"].items():
        if "values" in f:
            assert layer["widgets"][field] == {str(k): v for k, v in f["values"].items()}
        if f["type"] == "bool":
            assert layer["widgets"][field] == {"1": "是", "0": "否"}
    by_value = spec["style"].get("by_value", {})
    if by_value:
        (field, colours), = by_value.items()
        assert layer["renderer"] == "categorizedSymbol" and layer["attr"] == field
        got = {c["value"]: c for c in layer["categories"]}
        assert set(got) == set(colours)
        for code, colour in colours.items():
            assert got[code]["label"].startswith(spec["fields"][field]["values"][code])
            assert got[code]["color"] == colour.lower()
    else:
        assert layer["renderer"] == "singleSymbol"


def test_zones_are_labelled_outlines(qgis_report):
    report, _ = qgis_report
    zones = report["county.gpkg:zones"]
    assert zones["fill_style"] == "no" and zones["labels"] and zones["label_field"] == "name"
    assert report["county.gpkg:built_up"]["fill_style"] == "no"


def test_hotspot_bins_and_emerging_categories_are_styled(qgis_report):
    report, _ = qgis_report
    cells = report["hotspots.gpkg:cells"]
    assert cells["attr"] == "Gi_Bin"
    labels = {c["value"]: c["label"] for c in cells["categories"]}
    assert labels == {"3": "热点 99%", "2": "热点 95%", "1": "热点 90%", "0": "不显著",
                      "-1": "冷点 90%", "-2": "冷点 95%", "-3": "冷点 99%"}
    colours = {c["value"]: c["color"] for c in cells["categories"]}
    assert colours["3"] == "#d62f27" and colours["-3"] == "#4575b5"   # ArcGIS's hot/cold 99 % colours
    assert cells["aliases"]["GiZScore"] == "Gi* z 值"
    emerging = report["hotspots.gpkg:emerging"]
    assert emerging["attr"] == "CATEGORY"
    got = {c["value"]: c["label"] for c in emerging["categories"]}
    assert len(got) == 17 and got["0"] == "无模式" and got["1"] == "新增热点" and got["-4"] == "持续冷点"


def test_the_styled_county_renders(qgis_report):
    from PIL import Image

    _, png = qgis_report
    img = np.asarray(Image.open(png).convert("RGB")).reshape(-1, 3)
    zones = tuple(int(catalogue("zones")["style"]["color"][i:i + 2], 16) for i in (1, 3, 5))
    park = tuple(int(catalogue("green")["style"]["by_value"]["category"]["G1"][i:i + 2], 16) for i in (1, 3, 5))
    white = (img == 255).all(axis=1).mean()
    assert 0.2 < white < 0.95   # something drawn, not everything filled by an opaque layer
    for colour in (zones, park):
        assert (np.abs(img.astype(int) - colour).sum(axis=1) < 30).sum() > 200, colour


def test_gpkg_12_option_and_canopy_band(tmp_path, demo_ws):
    import rasterio
    import geopandas as gpd
    from shapely.geometry import box

    from civgis.store.workspace import Workspace

    ws = Workspace.create(tmp_path / "old.gpkg", crs=4527, gpkg_version="1.2")
    ws.write("built_up", gpd.GeoDataFrame({"name": ["建成区"]}, geometry=[box(0, 0, 10, 10)], crs=4527))
    with sqlite3.connect(ws.path) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == 10200   # GeoPackage 1.2.0
    with rasterio.open(demo_ws.raster_uri("canopy")) as src:
        assert "Height" not in (src.descriptions[0] or "")
    with sqlite3.connect(demo_ws.path) as con:
        field, quantity = con.execute("SELECT field_name, quantity_definition FROM "
                                      "gpkg_2d_gridded_coverage_ancillary").fetchone()
    assert field == "canopy_cover" and "植被覆盖率" in quantity


def test_rewriting_a_layer_keeps_one_default_style(tmp_path):
    import geopandas as gpd
    from shapely.geometry import Point

    from civgis.store.workspace import Workspace

    ws = Workspace.create(tmp_path / "w.gpkg", crs=4527)
    lamps = gpd.GeoDataFrame({"lamp_id": ["a", "b"], "status": ["working", "broken"]},
                             geometry=[Point(0, 0), Point(5, 5)], crs=4527)
    ws.write("lamps", lamps)
    ws.write("lamps", lamps.assign(lamp_id=["c", "d"]), append=True)  # new ids: --append refuses stored ones
    with sqlite3.connect(ws.path) as con:
        rows = con.execute("SELECT f_table_name, f_geometry_column, useAsDefault FROM layer_styles").fetchall()
    assert rows == [("lamps", "geom", 1)]
    assert len(ws.read("lamps")) == 4
