"""Importers: every format, the Chinese offsets, field mapping, append, atomicity, export."""

from __future__ import annotations

import hashlib

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import LineString, Point, Polygon, box

from civgis.store import coords
from civgis.cli import main
from civgis.store.importers import export_layer, import_file
from civgis.store.validate import ValidationError
from civgis.store.workspace import Workspace

# A street in a county town near 116.9°E 33.3°N (CGCS2000 GK zone 39, EPSG:4527).
LON0, LAT0 = 116.90, 33.30


def sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture
def ws(tmp_path):
    return Workspace.create(tmp_path / "county.gpkg")


def lamp_points(n=50, seed=0):
    rng = np.random.default_rng(seed)
    lon = LON0 + rng.uniform(0, 0.03, n)
    lat = LAT0 + rng.uniform(0, 0.03, n)
    return lon, lat


def built_up_frame():
    return gpd.GeoDataFrame({"名称": ["示范县建成区"]},
                            geometry=[box(LON0 - 0.01, LAT0 - 0.01, LON0 + 0.05, LAT0 + 0.05)], crs=4326)


# ---------------------------------------------------------------- CRS and formats
def test_first_import_chooses_gauss_kruger_and_reprojects(ws, tmp_path):
    src = tmp_path / "built_up.geojson"
    built_up_frame().to_file(src)
    report = import_file(ws, "built_up", src)
    assert ws.crs.to_epsg() == 4527  # CGCS2000 3-degree GK zone 39, central meridian 117°E
    stored = ws.read("built_up")
    assert stored.crs.to_epsg() == 4527
    assert stored["name"].tolist() == ["示范县建成区"]  # 名称 → name by the catalogue alias
    # area worked out independently on the ellipsoid by pyproj.Geod
    geod_area = abs(gpd.GeoSeries(built_up_frame().geometry, crs=4326).iloc[0].area)  # degrees², just >0
    from pyproj import Geod
    area_m2 = abs(Geod(ellps="GRS80").geometry_area_perimeter(built_up_frame().geometry.iloc[0])[0])
    assert geod_area > 0
    assert stored.area.iloc[0] == pytest.approx(area_m2, rel=5e-4)
    assert report.count == 1


@pytest.mark.parametrize("suffix,driver", [(".gpkg", "GPKG"), (".geojson", "GeoJSON"),
                                           (".fgb", "FlatGeobuf"), (".kml", "KML")])
def test_vector_formats(ws, tmp_path, suffix, driver):
    src = tmp_path / f"toilets{suffix}"
    gdf = gpd.GeoDataFrame({"toilet_id": ["T1", "T2"], "name": ["人民公园公厕", "北街公厕"],
                            "accessible": ["是", "否"]},
                           geometry=[Point(LON0, LAT0), Point(LON0 + 0.01, LAT0)], crs=4326)
    if driver == "KML":
        gdf = gdf.rename(columns={"name": "Name"})
    pyogrio.write_dataframe(gdf, src, driver=driver)
    import_file(ws, "toilets", src)
    out = ws.read("toilets").sort_values("toilet_id")
    assert out["toilet_id"].tolist() == ["T1", "T2"]
    assert out["accessible"].tolist() == [True, False]
    # 0.01° of longitude at 33.3°N is 931 m on the ellipsoid
    assert out.geometry.iloc[0].distance(out.geometry.iloc[1]) == pytest.approx(931.0, abs=2.0)


def test_gbk_shapefile_needs_encoding_and_cpg_is_honoured(ws, tmp_path):
    src = tmp_path / "roads.shp"
    gdf = gpd.GeoDataFrame({"道路名称": ["人民路", "解放街"], "等级": ["主干道", "背街小巷"], "编号": ["R1", "R2"]},
                           geometry=[LineString([(LON0, LAT0), (LON0 + 0.01, LAT0)]),
                                     LineString([(LON0, LAT0), (LON0, LAT0 + 0.01)])], crs=4326)
    pyogrio.write_dataframe(gdf, src, encoding="GBK")
    src.with_suffix(".cpg").unlink(missing_ok=True)  # as many office files come: no .cpg
    raw = open(src.with_suffix(".dbf"), "rb").read()
    assert "人民路".encode("gbk") in raw  # the fixture really is GBK
    import_file(ws, "roads", src, encoding="gbk")
    roads = ws.read("roads").sort_values("road_id")
    assert roads["name"].tolist() == ["人民路", "解放街"]
    assert roads["road_class"].tolist() == ["arterial", "alley"]
    # with a .cpg the file says its own encoding and no option is needed
    src.with_suffix(".cpg").write_text("GBK")
    import_file(ws, "roads", src)
    assert ws.read("roads").sort_values("road_id")["name"].tolist() == ["人民路", "解放街"]


@pytest.mark.parametrize("system,fmt", [("gcj02", "csv"), ("bd09", "xlsx"), ("wgs84", "csv")])
def test_web_map_coordinates_round_trip_below_one_metre(ws, tmp_path, system, fmt):
    lon, lat = lamp_points(200)
    wx, wy = coords.from_wgs84(lon, lat, system)
    table = pd.DataFrame({"路灯编号": [f"L{i:04d}" for i in range(200)], "经度": wx, "纬度": wy,
                          "状态": np.where(np.arange(200) % 10 == 0, "故障", "正常")})
    src = tmp_path / f"lamps.{fmt}"
    if fmt == "csv":
        table.to_csv(src, index=False, encoding="gbk")  # Excel-made CSVs in Chinese offices are GBK
    else:
        table.to_excel(src, index=False)
    import_file(ws, "lamps", src, coords=system)
    stored = ws.read("lamps").set_index("lamp_id").sort_index()
    truth = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=4326).to_crs(ws.crs)
    error_m = stored.geometry.distance(gpd.GeoSeries(truth.values, index=stored.index), align=False)
    assert error_m.max() < 1.0
    assert (stored["status"] == "broken").sum() == 20
    if system != "wgs84":  # and without the conversion the error would be hundreds of metres
        naive = gpd.GeoSeries(gpd.points_from_xy(wx, wy), crs=4326).to_crs(ws.crs)
        assert naive.distance(truth).min() > 100


def test_field_mapping_and_explicit_lon_lat(ws, tmp_path):
    src = tmp_path / "people.csv"
    pd.DataFrame({"小区名": ["幸福小区"], "住户人数": ["1200"], "E": [LON0], "N": [LAT0]}).to_csv(src, index=False)
    # points for a polygon layer are refused with the geometry error, but the mapping is applied first
    with pytest.raises(ValidationError) as err:
        import_file(ws, "residential", src, lon="E", lat="N", field_map={"小区名": "name", "住户人数": "population"})
    codes = {p.code for p in err.value.problems}
    assert codes == {"wrong_geometry_type"}


def test_append_adds_and_refuses_duplicate_ids(ws, tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    pd.DataFrame({"lamp_id": ["L1", "L2"], "lon": [LON0, LON0 + 0.001], "lat": [LAT0, LAT0],
                  "status": ["working", "broken"]}).to_csv(first, index=False)
    pd.DataFrame({"lamp_id": ["L3", "L2"], "lon": [LON0, LON0], "lat": [LAT0 + 0.001, LAT0 + 0.002],
                  "status": ["working", "working"]}).to_csv(second, index=False)
    import_file(ws, "lamps", first)
    before = sha(ws.path)
    with pytest.raises(ValidationError) as err:
        import_file(ws, "lamps", second, append=True)
    assert [(p.feature, p.field, p.code) for p in err.value.problems] == [("L2", "lamp_id", "duplicate_id")]
    assert sha(ws.path) == before
    pd.DataFrame({"lamp_id": ["L3"], "lon": [LON0], "lat": [LAT0 + 0.001], "status": ["正常"]}).to_csv(second, index=False)
    import_file(ws, "lamps", second, append=True)
    assert sorted(ws.read("lamps")["lamp_id"]) == ["L1", "L2", "L3"]
    import_file(ws, "lamps", second)  # without --append the layer is replaced
    assert ws.read("lamps")["lamp_id"].tolist() == ["L3"]


def test_failed_import_changes_nothing(ws, tmp_path):
    good = tmp_path / "zones.geojson"
    zones = gpd.GeoDataFrame({"zone_id": ["Z1", "Z2"], "name": ["东区", "西区"]},
                             geometry=[box(LON0, LAT0, LON0 + 0.01, LAT0 + 0.01),
                                       box(LON0 + 0.01, LAT0, LON0 + 0.02, LAT0 + 0.01)], crs=4326)
    zones.to_file(good)
    import_file(ws, "zones", good)
    before = sha(ws.path)
    bad = tmp_path / "bad.geojson"
    zones.assign(zone_id=["Z1", "Z1"]).to_file(bad)
    for kwargs in ({}, {"append": True}):
        with pytest.raises(ValidationError):
            import_file(ws, "zones", bad, **kwargs)
        assert sha(ws.path) == before
    assert not list(tmp_path.glob(".county*.tmp*"))  # no staged copy left behind
    assert ws.read("zones")["name"].tolist() == ["东区", "西区"]


def test_crash_during_write_leaves_workspace_intact(ws, tmp_path, monkeypatch):
    src = tmp_path / "b.geojson"
    built_up_frame().to_file(src)
    import_file(ws, "built_up", src)
    before = sha(ws.path)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pyogrio, "write_dataframe", boom)
    with pytest.raises(OSError, match="disk full"):
        import_file(ws, "built_up", src)
    assert sha(ws.path) == before


# ---------------------------------------------------------------- canopy raster
def test_canopy_raster_fractional_and_reprojected(ws, tmp_path):
    import_file(ws, "built_up", _write(built_up_frame(), tmp_path / "b.geojson"))
    src = tmp_path / "canopy.tif"
    cover = np.zeros((100, 100), dtype="float32")
    cover[:50, :] = 0.5  # the northern half half-covered
    x0, y0 = 39490000.0, 3690000.0  # EPSG:4527 metres
    with rasterio.open(src, "w", driver="GTiff", width=100, height=100, count=1, dtype="float32",
                       crs="EPSG:4527", transform=from_origin(x0, y0, 10, 10)) as dst:
        dst.write(cover, 1)
    import_file(ws, "canopy", src)
    with rasterio.open(ws.raster_uri("canopy")) as r:
        stored = r.read(1)
        assert r.res == (10.0, 10.0)
        assert stored.mean() == pytest.approx(0.25)
    percent = tmp_path / "percent.tif"
    with rasterio.open(percent, "w", driver="GTiff", width=10, height=10, count=1, dtype="float32",
                       crs="EPSG:4527", transform=from_origin(x0, y0, 10, 10)) as dst:
        dst.write(np.full((10, 10), 40, "float32"), 1)
    before = sha(ws.path)
    with pytest.raises(ValidationError, match="divide a 0–100 percentage"):
        import_file(ws, "canopy", percent)
    assert sha(ws.path) == before


def _write(gdf, path):
    gdf.to_file(path)
    return path


# ---------------------------------------------------------------- CLI and export
def test_cli_import_layers_export(tmp_path, capsys):
    wsp = tmp_path / "c.gpkg"
    assert main(["init", str(wsp)]) == 0
    src = _write(built_up_frame(), tmp_path / "b.geojson")
    assert main(["import", str(wsp), "built_up", str(src)]) == 0
    assert main(["layers", str(wsp)]) == 0
    out = capsys.readouterr().out
    assert "built_up" in out and "建成区" in out and "EPSG:4527" in out
    dest = tmp_path / "out.geojson"
    assert main(["export", str(wsp), "built_up", str(dest)]) == 0
    back = gpd.read_file(dest)
    assert back.crs.to_epsg() == 4326
    assert back.geometry.iloc[0].hausdorff_distance(built_up_frame().geometry.iloc[0]) < 1e-7


def test_cli_import_error_names_layer_feature_field(tmp_path, capsys):
    wsp = tmp_path / "c.gpkg"
    src = tmp_path / "lamps.csv"
    pd.DataFrame({"lamp_id": ["L1", "L2"], "lon": [LON0, LON0], "lat": [LAT0, LAT0],
                  "status": ["正常", "闪烁"]}).to_csv(src, index=False)
    assert main(["import", str(wsp), "lamps", str(src), "--create"]) == 1
    err = capsys.readouterr().err
    assert "图层 lamps 要素 L2 字段 status" in err and "闪烁" in err and "workspace unchanged" in err


def test_export_shapefile_gbk_round_trip(ws, tmp_path):
    src = tmp_path / "t.geojson"
    gpd.GeoDataFrame({"toilet_id": ["T1"], "name": ["人民公园公厕"]}, geometry=[Point(LON0, LAT0)],
                     crs=4326).to_file(src)
    import_file(ws, "toilets", src)
    dest = export_layer(ws, "toilets", tmp_path / "toilets.shp", encoding="GBK")
    assert pyogrio.read_dataframe(dest)["name"].tolist() == ["人民公园公厕"]
