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


def test_tables_read_through_arrow_are_pyogrios_row_reader_frames(tmp_path):
    """``read_raw`` and ``read`` go through GDAL's Arrow stream; the frames are what pyogrio's row-by-row
    reader gives (the reference), dtypes and missing values included: text, integers, reals, booleans and
    datetimes with gaps, and the demo county's nine tables at full size."""
    import pandas as pd
    from geopandas.testing import assert_geodataframe_equal
    from shapely.geometry import Point

    from civgis.demo import demo_workspace
    from civgis.store.catalogue import layer_spec
    from civgis.store.workspace import apply_catalogue_dtypes

    ws = Workspace.create(tmp_path / "w.gpkg", crs=4527)
    ws.write("residential", gpd.GeoDataFrame({"res_id": ["R1", "R2", "R3"], "name": ["幸福小区", None, ""],
                                              "population": [1200, None, 0]},
                                             geometry=[box(X0, Y0, X0 + 50, Y0 + 50)] * 3, crs=4527))
    ws.write("toilets", gpd.GeoDataFrame({"toilet_id": ["T1", "T2"], "accessible": [True, None]},
                                         geometry=[Point(X0, Y0), Point(X0 + 9, Y0)], crs=4527))
    ws.write("inspections", gpd.GeoDataFrame(
        {"case_id": ["C1", "C2"], "category": ["0102", "0102"], "status": ["closed", "open"],
         "reported_at": pd.to_datetime(["2026-03-01 08:30", "2026-03-02 00:00"]),
         "deadline": pd.to_datetime(["2026-03-03", "2026-03-04"]), "closed_at": pd.to_datetime(["2026-03-02 17:05", None])},
        geometry=[Point(X0 + 5, Y0 + 5), Point(X0 + 6, Y0 + 6)], crs=4527))
    for workspace in (ws, demo_workspace()):
        for layer in [name for name in workspace.layers() if layer_spec(name).kind == "vector"]:
            reference = pyogrio.read_dataframe(workspace.path, layer=layer)   # the row reader
            _same_frame(workspace.read_raw(layer), reference)
            _same_frame(workspace.read(layer), apply_catalogue_dtypes(reference, layer_spec(layer)))


def _same_frame(ours: gpd.GeoDataFrame, theirs: gpd.GeoDataFrame) -> None:
    """Equal columns, dtypes, values (floats exactly) and geometries (to the last bit), and the same CRS."""
    import pandas as pd

    assert list(ours.columns) == list(theirs.columns) and ours.crs == theirs.crs
    pd.testing.assert_frame_equal(pd.DataFrame(ours.drop(columns=ours.geometry.name)),
                                  pd.DataFrame(theirs.drop(columns=theirs.geometry.name)), check_exact=True)
    assert ours.geometry.geom_equals_exact(theirs.geometry, tolerance=0).all()
