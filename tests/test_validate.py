"""Every validation error, with the layer, feature and field it names."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from shapely.geometry import LineString, Point, Polygon, box

from civgis.cli import main
from civgis.store.importers import import_file
from civgis.store.validate import ValidationError, check, conform
from civgis.store.workspace import Workspace

LON0, LAT0 = 116.90, 33.30
X0, Y0 = 39490000.0, 3686000.0  # a place in the county, EPSG:4527 metres
BOWTIE = Polygon([(X0, Y0), (X0 + 10, Y0 + 10), (X0 + 10, Y0), (X0, Y0 + 10)])  # self-intersecting




def at(x0, y0, x1, y1):
    return box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def problems_of(gdf, layer, **kwargs):
    return [(p.layer, p.feature, p.field, p.code) for p in check(gdf, layer, **kwargs)[1]]


def green(**overrides):
    data = {"green_id": ["G-1", "G-2"], "name": ["人民公园", "滨河带"], "category": ["G1", "G2"]}
    data.update({k: v for k, v in overrides.items() if k != "geometry"})
    geometry = overrides.get("geometry", [at(0, 0, 100, 100), at(200, 0, 300, 100)])
    return gpd.GeoDataFrame(data, geometry=geometry, crs=4527)


def test_valid_layer_has_no_problems():
    assert problems_of(green(), "green") == []


def test_invalid_geometry_named_and_repairable(tmp_path):
    gdf = green(geometry=[at(0, 0, 100, 100), BOWTIE]).to_crs(4326)
    assert ("green", "G-2", "geometry", "invalid_geometry") in problems_of(gdf, "green")
    ws = Workspace.create(tmp_path / "w.gpkg")
    src = tmp_path / "g.gpkg"
    gdf.to_file(src)
    with pytest.raises(ValidationError, match="--repair"):
        import_file(ws, "green", src)
    import_file(ws, "green", src, repair=True)
    repaired = ws.read("green").set_index("green_id").geometry["G-2"]
    assert repaired.is_valid
    # make_valid splits the bow-tie into its two triangles: 2 × ½·10 m·5 m = 50 m²
    assert repaired.geom_type == "MultiPolygon" and len(repaired.geoms) == 2
    assert repaired.area == pytest.approx(50.0, rel=1e-6)


def test_wrong_geometry_type():
    gdf = green(geometry=[at(0, 0, 1, 1), LineString([(X0, Y0), (X0 + 1, Y0 + 1)])])
    assert problems_of(gdf, "green") == [("green", "G-2", "geometry", "wrong_geometry_type")]


def test_missing_crs_refused_unless_given(tmp_path):
    src = tmp_path / "g.shp"
    pyogrio.write_dataframe(green().to_crs(4326), src)
    src.with_suffix(".prj").unlink()
    ws = Workspace.create(tmp_path / "w.gpkg")
    with pytest.raises(ValidationError) as err:
        import_file(ws, "green", src)
    assert [p.code for p in err.value.problems] == ["missing_crs"]
    assert "--crs" in str(err.value)
    import_file(ws, "green", src, crs="EPSG:4326")
    assert len(ws.read("green")) == 2


def test_swapped_lat_lon_detected():
    gdf = gpd.GeoDataFrame({"lamp_id": ["L1", "L2"], "status": ["正常", "正常"]},
                           geometry=[Point(LON0, LAT0), Point(LAT0, LON0)], crs=4326)
    assert problems_of(gdf, "lamps") == [("lamps", "L2", "geometry", "swapped_lonlat")]


def test_outside_workspace_extent(tmp_path):
    ws = Workspace.create(tmp_path / "w.gpkg")
    b = tmp_path / "b.geojson"
    gpd.GeoDataFrame({"name": ["建成区"]}, geometry=[box(LON0, LAT0, LON0 + 0.05, LAT0 + 0.05)], crs=4326).to_file(b)
    import_file(ws, "built_up", b)
    lamps = tmp_path / "l.csv"
    # L2 is 1° (≈ 93 km) east: far outside the built-up area and its 5 km margin
    pd.DataFrame({"lamp_id": ["L1", "L2"], "lon": [LON0 + 0.01, LON0 + 1.0], "lat": [LAT0 + 0.01, LAT0 + 0.01],
                  "status": ["working", "working"]}).to_csv(lamps, index=False)
    with pytest.raises(ValidationError) as err:
        import_file(ws, "lamps", lamps)
    assert [(p.feature, p.code) for p in err.value.problems] == [("L2", "outside_extent")]


def test_duplicate_ids():
    gdf = green(green_id=["G-1", "G-1"])
    assert problems_of(gdf, "green") == [("green", "G-1", "green_id", "duplicate_id")] * 2


def test_unknown_category_value_lists_allowed():
    gdf = green(category=["公园绿地", "G9"])  # the Chinese label is accepted as G1; G9 is not a class
    conformed, problems = conform(gdf, "green")
    assert conformed["category"].tolist() == ["G1", "G9"]
    assert [(p.feature, p.field, p.code) for p in problems] == [("G-2", "category", "unknown_value")]
    assert "G1 公园绿地" in problems[0].hint


def test_missing_required_field_and_value():
    gdf = green().drop(columns=["category"])
    assert problems_of(gdf, "green") == [("green", None, "category", "missing_field")]
    gdf = green(category=["G1", None])
    assert problems_of(gdf, "green") == [("green", "G-2", "category", "missing_value")]


def test_empty_layer():
    gdf = green().iloc[0:0]
    assert problems_of(gdf, "green") == [("green", None, None, "empty_layer")]


def test_type_errors_named_per_feature():
    gdf = gpd.GeoDataFrame({"res_id": ["R1", "R2", "R3"], "name": ["甲", "乙", "丙"],
                            "population": ["1200", "约800", "12.5"]},
                           geometry=[box(0, 0, 1, 1)] * 3, crs=4527)
    assert problems_of(gdf, "residential") == [("residential", "R2", "population", "bad_number"),
                                               ("residential", "R3", "population", "bad_number")]
    cases = gpd.GeoDataFrame({"case_id": ["C1"], "category": ["0501"], "reported_at": ["2025-13-45"],
                              "deadline": ["2025-01-03"], "status": ["open"]}, geometry=[Point(0, 0)], crs=4527)
    assert problems_of(cases, "inspections") == [("inspections", "C1", "reported_at", "bad_date")]
    roads = gpd.GeoDataFrame({"road_id": ["R1"], "road_class": ["支路"], "mech_swept": ["也许"], "width_m": [900]},
                             geometry=[LineString([(0, 0), (1, 0)])], crs=4527)
    assert problems_of(roads, "roads") == [("roads", "R1", "width_m", "out_of_range"),
                                           ("roads", "R1", "mech_swept", "bad_bool")]


def test_cli_validate_exit_status(tmp_path, capsys):
    ws = Workspace.create(tmp_path / "w.gpkg", crs=4527)
    ws.write("green", green(geometry=[at(0, 0, 100, 100), BOWTIE]))  # stored bypassing validation
    assert main(["validate", str(ws.path)]) == 1
    out = capsys.readouterr().out
    assert "图层 green 要素 G-2 字段 geometry" in out and "--repair" in out
    assert main(["validate", str(ws.path), "--repair"]) == 0
    assert ws.read("green").geometry.is_valid.all()
    assert main(["validate", str(ws.path)]) == 0
