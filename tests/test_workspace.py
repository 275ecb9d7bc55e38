"""The GeoPackage workspace: CRS, layers, log, raster table, atomic commit, clear errors."""

from __future__ import annotations

import sqlite3

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box

from civgis.store.crs import choose_crs
from civgis.store.workspace import LayerMissingError, Workspace, WorkspaceError

X0, Y0 = 39490000.0, 3686000.0


def test_choose_crs_gauss_kruger_and_utm():
    # zone n has central meridian 3n°: 116.9°E → zone 39 (117°E) → EPSG:4527
    assert choose_crs(116.9, 33.3).to_epsg() == 4527
    assert choose_crs(113.26, 23.13).to_epsg() == 4526  # Guangzhou: 114°E, zone 38
    assert choose_crs(87.6, 43.8).to_epsg() == 4517  # Ürümqi: 87°E, zone 29 = 4513 + (29 − 25)
    assert choose_crs(-74.0, 40.7).to_epsg() == 32618  # New York: UTM 18N
    assert choose_crs(151.2, -33.9).to_epsg() == 32756  # Sydney: UTM 56S


def test_workspace_is_a_plain_geopackage(tmp_path):
    ws = Workspace.create(tmp_path / "c.gpkg", crs=4527)
    ws.write("zones", gpd.GeoDataFrame({"zone_id": ["Z1"], "name": ["东区"]},
                                       geometry=[box(X0, Y0, X0 + 500, Y0 + 400)], crs=4527))
    cover = np.full((20, 30), 0.25, dtype="float32")
    ws.write_raster("canopy", cover, from_origin(X0, Y0 + 200, 10, 10), nodata=-1)
    # any GDAL client (QGIS) opens both the vector table and the raster table
    assert ("zones", "MultiPolygon") in [tuple(r) for r in pyogrio.list_layers(ws.path)]
    with rasterio.open(f"GPKG:{ws.path}:canopy") as src:
        assert src.read(1).sum() == pytest.approx(0.25 * 600)
    con = sqlite3.connect(ws.path)
    kinds = dict(con.execute("SELECT table_name, data_type FROM gpkg_contents").fetchall())
    con.close()
    assert kinds["zones"] == "features" and kinds["canopy"] == "2d-gridded-coverage"
    assert ws.layers() == ["zones", "canopy"]
    summary = ws.summary().set_index("layer")
    assert summary.loc["zones", "count"] == 1 and summary.loc["zones", "crs"] == "EPSG:4527"
    assert ws.read("zones").area.iloc[0] == pytest.approx(200_000.0)
    assert [e["layer"] for e in ws.log()] == ["zones", "canopy"]
    # a second raster import replaces the first
    ws.write_raster("canopy", np.ones((5, 5), "float32"), from_origin(X0, Y0, 10, 10))
    with rasterio.open(ws.raster_uri()) as src:
        assert src.shape == (5, 5)


def test_clear_errors(tmp_path):
    with pytest.raises(WorkspaceError, match="civgis init"):
        Workspace(tmp_path / "missing.gpkg")
    ws = Workspace.create(tmp_path / "c.gpkg", crs=4527)
    with pytest.raises(LayerMissingError, match="civgis import .* lamps FILE"):
        ws.read("lamps")
    with pytest.raises(WorkspaceError, match="projected in metres"):
        Workspace.create(tmp_path / "d.gpkg", crs=4326)
    with pytest.raises(KeyError, match="unknown layer 'lamp'"):
        ws.read("lamp")
