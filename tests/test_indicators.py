"""Indicators on small hand-built layers whose answers are worked out by hand here, then the demo county."""

from __future__ import annotations

import json
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import LineString, Point, box

import civgis
import civgis.analysis.indicators as ind
from civgis.store.targets import load_targets
from civgis.store.workspace import Workspace

CRS = 4527


def gdf(rows: list[dict], geoms) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=list(geoms), crs=CRS)


def built(*geoms):
    return gdf([{"name": "城区"} for _ in geoms], geoms)


def row(table, indicator, road_class=None, scope="city", zone_id=None):
    sel = (table["indicator"] == indicator) & (table["scope"] == scope)
    sel &= table["road_class"].isna() if road_class is None else table["road_class"] == road_class
    if zone_id is not None:
        sel &= table["zone_id"] == zone_id
    assert sel.sum() == 1, (indicator, road_class, scope, zone_id, sel.sum())
    return table[sel].iloc[0]


# ---------------------------------------------------------------------------- green land
def test_green_space_ratio_counts_overlaps_once_and_only_inside_built_up():
    B = built(box(0, 0, 1000, 1000))                       # 1 000 000 m²
    green = gdf([{"green_id": "g1", "category": "G1"},     # 100 × 100
                 {"green_id": "g2", "category": "XG"},     # overlaps g1 by 50 × 100: union 150 × 100 = 15 000
                 {"green_id": "g3", "category": "G2"},     # half outside: 50 × 100 = 5 000 inside
                 {"green_id": "g4", "category": "EG"},     # regional green: not counted
                 {"green_id": "g5", "category": "G3"}],    # 80 × 50 = 4 000
                [box(0, 0, 100, 100), box(50, 0, 150, 100), box(950, 500, 1050, 600),
                 box(300, 300, 400, 400), box(500, 800, 580, 850)])
    expected = 100 * (15_000 + 5_000 + 4_000) / 1_000_000  # 2.4 %
    assert ind.green_space_ratio(green, B) == pytest.approx(expected, rel=1e-12)
    table = ind.indicator_table(B, green=green)
    assert row(table, "green_space_ratio")["value"] == pytest.approx(2.4)
    assert row(table, "green_space_ratio")["unit"] == "%"


def test_park_area_per_capita_and_residents_apportioned_at_the_boundary():
    B = built(box(0, 0, 1000, 1000))
    green = gdf([{"green_id": "p1", "category": "G1"}, {"green_id": "p2", "category": "G1"},
                 {"green_id": "p3", "category": "G1"}, {"green_id": "x", "category": "G2"}],
                [box(0, 0, 100, 100), box(0, 0, 100, 100),          # a duplicate park: counted once
                 box(950, 0, 1050, 100),                            # half outside: 5 000 m² inside
                 box(200, 200, 300, 300)])                          # not a park
    res = gdf([{"res_id": "r1", "name": "甲", "population": 5000}, {"res_id": "r2", "name": "乙", "population": 1000}],
              [box(400, 400, 500, 500), box(950, 400, 1050, 500)])  # r2 half inside: 500 residents
    # (10 000 + 5 000) m² / 5 500 residents
    assert ind.park_area_per_capita(green, B, residential=res) == pytest.approx(15_000 / 5_500)
    assert ind.park_area_per_capita(green, B, population=10_000) == pytest.approx(1.5)
    t = ind.indicator_table(B, green=green, residential=res)
    assert row(t, "residents")["value"] == pytest.approx(5_500)
    assert row(t, "park_area_per_capita")["passed"] == False  # noqa: E712  (2.7 < 8 m²/人)


def test_qualifying_parks_tiers():
    green = gdf([{"green_id": "big", "category": "G1"}, {"green_id": "mid", "category": "G1"},
                 {"green_id": "small", "category": "G1"}, {"green_id": "g2", "category": "G2"}],
                [box(0, 0, 100, 50), box(0, 0, 80, 50), box(0, 0, 30, 30), box(0, 0, 200, 200)])
    parks = ind.qualifying_parks(green)
    assert parks["green_id"].tolist() == ["big", "mid"]
    assert parks["radius_m"].tolist() == [500.0, 300.0]                # 5 000 m² → 500 m, 4 000 m² → 300 m
    custom = ind.qualifying_parks(green, tiers=[(800, 200)])
    assert custom["green_id"].tolist() == ["big", "mid", "small"]       # 900 m² ≥ 800
    assert custom["radius_m"].tolist() == [200.0] * 3


def _park_scene():
    B = built(box(-1000, -1000, 3000, 3000))
    green = gdf([{"green_id": "p", "category": "G1"}, {"green_id": "tiny", "category": "G1"}],
                [box(0, 0, 80, 50),                       # 4 000 m² → serves 300 m from its boundary
                 box(0, 460, 30, 490)])                   # 900 m²: no service radius
    res = gdf([{"res_id": "half", "name": "甲", "population": 100},
               {"res_id": "far", "name": "乙", "population": 100}],
              [box(330, 0, 430, 50),                      # boundary x = 80 + 300 = 380: half covered (2 500 m²)
               box(0, 400, 80, 450)])                     # 350 m from the park: not covered (4 000 m²)
    return B, green, res


def test_park_service_coverage_a_4000_m2_park_serves_300_m_and_a_block_half_covered():
    B, green, res = _park_scene()
    assert ind.park_service_coverage(res, green, B) == pytest.approx(100 * 2_500 / 9_000, rel=1e-9)
    per_block = ind.residential_service(res, green, built_up=B)
    assert per_block["served_share"].tolist() == pytest.approx([0.5, 0.0])
    assert per_block["residents_served"].tolist() == pytest.approx([50.0, 0.0])
    # with a 400 m tier for ≥ 1 000 m² parks both blocks are wholly reached (x ≤ 480, y ≤ 450)
    assert ind.park_service_coverage(res, green, B, tiers=[(1000, 400)]) == pytest.approx(100.0)


def test_park_walk_coverage_walks_from_the_park_edge_along_the_street():
    B = built(box(-1000, -1000, 3000, 3000))
    green = gdf([{"green_id": "p", "category": "G1"}], [box(0, 0, 80, 50)])   # 4 000 m² → 300 m
    # a street 10 m south of the park; within 20 m of the park for x ∈ [−√300, 80 + √300]
    roads = gdf([{"road_id": "s", "road_class": "branch"}], [LineString([(-100, -10), (600, -10)])])
    res = gdf([{"res_id": "r", "name": "甲", "population": 100}], [box(300, -50, 400, -20)])
    # 10 m cells; a cell centre (x, y) is reached when (x − 80 − √300) + (−10 − y) ≤ 300:
    #   y = −25 → x ≤ 382.3: 8 cells; y = −35 → x ≤ 372.3: 7; y = −45 → x ≤ 362.3: 6  ⇒ 21 of 30
    value = ind.park_walk_coverage(res, green, roads, B, entry_tolerance_m=20.0, cell_m=10.0)
    assert value == pytest.approx(70.0)
    straight = ind.park_service_coverage(res, green, B)
    assert straight > value                                  # the walk is the stricter figure


# ---------------------------------------------------------------------------- lamps
def _lamp_scene():
    B = built(box(-1000, -1000, 1000, 1000))
    roads = gdf([{"road_id": "r1", "road_class": "arterial", "width_m": 20.0, "mech_swept": True},
                 {"road_id": "r2", "road_class": "branch", "width_m": 10.0, "mech_swept": False}],
                [LineString([(0, 0), (200, 0)]), LineString([(0, 30), (200, 30)])])
    lamps = gdf([{"lamp_id": "a", "status": "working"},   # on r1: lights [0, 50]
                 {"lamp_id": "b", "status": "broken"},    # on r1: lights [50, 100] (installed, if broken)
                 {"lamp_id": "c", "status": "working"},   # 14 m from r2, 16 m from r1: belongs to r2 only
                 {"lamp_id": "d", "status": "working"}],  # 700 m from any road: belongs to none
                [Point(25, 0), Point(75, 0), Point(150, 16), Point(700, 700)])
    return B, roads, lamps


def test_lamp_installation_a_road_half_lit_and_only_own_lamps_count():
    B, roads, lamps = _lamp_scene()
    rate = ind.lamp_installation_rate(roads, lamps, B)
    assert rate["arterial"] == pytest.approx(50.0, abs=1e-6)            # 100 m of 200 m
    r2_lit = 2 * math.sqrt(25**2 - 14**2)                               # lamp c, 14 m off r2
    assert rate["branch"] == pytest.approx(100 * r2_lit / 200, rel=1e-3)
    assert rate["all"] == pytest.approx(100 * (100 + r2_lit) / 400, rel=1e-3)
    # a 30 m reach: r1 lit [0, 105], r2: 2·√(30² − 14²)
    rate30 = ind.lamp_installation_rate(roads, lamps, B, reach_m=30)
    assert rate30["arterial"] == pytest.approx(100 * 105 / 200, abs=1e-6)


def test_lamp_lighting_rate_per_class_and_overall():
    B, roads, lamps = _lamp_scene()
    rate = ind.lamp_lighting_rate(lamps, B, roads=roads)
    assert rate["all"] == pytest.approx(75.0)          # 3 working of 4 lamps
    assert rate["arterial"] == pytest.approx(50.0)     # a working, b broken
    assert rate["branch"] == pytest.approx(100.0)      # c
    t = ind.indicator_table(B, roads=roads, lamps=lamps)
    assert row(t, "lamp_count")["value"] == 4 and row(t, "broken_lamp_count")["value"] == 1
    assert row(t, "lamp_lighting_rate", "arterial")["name_zh"] == "路灯亮灯率（主干道）"
    assert not row(t, "lamp_lighting_rate")["passed"]   # 75 < 98


def test_roads_outside_built_up_are_clipped():
    B = built(box(0, -50, 100, 50))
    roads = gdf([{"road_id": "r1", "road_class": "arterial"}], [LineString([(-100, 0), (200, 0)])])
    lamps = gdf([{"lamp_id": "a", "status": "working"}], [Point(-50, 0)])   # lights [-75, -25]: all outside
    lamps2 = gdf([{"lamp_id": "a", "status": "working"}], [Point(90, 0)])   # lights [65, 115] → 35 m inside
    t = ind.indicator_table(B, roads=roads, lamps=lamps)
    assert row(t, "road_length")["value"] == pytest.approx(100.0)
    assert row(t, "lamp_installation_rate")["value"] == pytest.approx(0.0)
    assert row(t, "lamp_count")["value"] == 0
    assert ind.lamp_installation_rate(roads, lamps2, B)["all"] == pytest.approx(35.0, abs=1e-6)


# ---------------------------------------------------------------------------- sweeping
def test_mech_sweeping_rate_weights_by_length_and_width_inside_built_up():
    B = built(box(0, 0, 100, 100))
    roads = gdf([{"road_id": "a", "road_class": "arterial", "width_m": 20.0, "mech_swept": True},
                 {"road_id": "b", "road_class": "branch", "width_m": 10.0, "mech_swept": False},
                 {"road_id": "c", "road_class": "alley", "width_m": np.nan, "mech_swept": True}],
                [LineString([(-50, 50), (150, 50)]), LineString([(20, -50), (20, 150)]),
                 LineString([(60, 0), (60, 100)])])
    # inside: a 100 m × 20 m = 2 000 m² swept, b 100 m × 10 m = 1 000 m²; c has no width
    assert ind.mech_sweeping_rate(roads, B) == pytest.approx(100 * 2_000 / 3_000)
    t = ind.indicator_table(B, roads=roads)
    assert "1 条道路缺少路宽" in row(t, "mech_sweeping_rate")["note"]


# ---------------------------------------------------------------------------- toilets
def _toilet_scene():
    B = built(box(0, 0, 1000, 1000))                                     # 1 km²
    toilets = gdf([{"toilet_id": "t1", "accessible": True}, {"toilet_id": "t2", "accessible": False},
                   {"toilet_id": "t3", "accessible": None}, {"toilet_id": "out", "accessible": True}],
                  [Point(650, 650), Point(100, 100), Point(650, 650), Point(2000, 2000)])
    toilets["accessible"] = toilets["accessible"].astype("boolean")
    res = gdf([{"res_id": "r1", "name": "甲", "population": 5000}, {"res_id": "r2", "name": "乙", "population": 1000}],
              [box(400, 400, 500, 500), box(950, 400, 1050, 500)])
    return B, toilets, res


def _disc_in_quadrant(r: float, d: float) -> float:
    """Area of a disc of radius r whose centre is d from two perpendicular edges (d < r), inside them."""
    seg = r * r * math.acos(d / r) - d * math.sqrt(r * r - d * d)       # the part beyond one edge
    u1 = math.sqrt(r * r - d * d)                                       # corner part beyond both edges
    F = lambda u: 0.5 * u * math.sqrt(r * r - u * u) + 0.5 * r * r * math.asin(u / r)  # noqa: E731
    corner = (F(u1) - F(d)) - d * (u1 - d)
    return math.pi * r * r - 2 * seg + corner


def test_toilet_indicators():
    B, toilets, res = _toilet_scene()
    assert ind.toilet_density(toilets, B) == pytest.approx(3.0)           # t1, t2, t3 in 1 km²
    # residents: 5 000 + half of 1 000
    assert ind.toilets_per_10k(toilets, B, residential=res) == pytest.approx(3 * 1e4 / 5_500)
    assert ind.toilets_per_10k(toilets, B, population=7_500) == pytest.approx(4.0)
    # discs of 300 m: one wholly inside (t1 = t3), one 100 m from two edges (t2); they do not meet
    covered = math.pi * 300**2 + _disc_in_quadrant(300, 100)
    assert ind.toilet_service_coverage(toilets, B) == pytest.approx(100 * covered / 1e6, rel=2e-3)
    assert ind.accessible_toilet_share(toilets, B) == pytest.approx(50.0)  # t1 yes, t2 no, t3 unknown
    t = ind.indicator_table(B, toilets=toilets, residential=res)
    assert "1 座公厕无障碍情况未知" in row(t, "accessible_toilet_share")["note"]
    assert row(t, "toilet_count")["value"] == 3


# ---------------------------------------------------------------------------- canopy raster
def _canopy_tif(path):
    # 10 × 10 pixels of 10 m over (0, 0)–(100, 100): columns 0–4 cover 0.3, columns 5–9 cover 0.8
    data = np.zeros((10, 10), dtype="float32")
    data[:, :5] = 0.3
    data[:, 5:] = 0.8
    with rasterio.open(path, "w", driver="GTiff", width=10, height=10, count=1, dtype="float32",
                       crs=f"EPSG:{CRS}", transform=from_origin(0, 100, 10, 10), nodata=-1) as dst:
        dst.write(data, 1)
    return str(path)


def test_green_coverage_ratio_respects_fractional_pixels_and_a_boundary_through_pixels(tmp_path):
    tif = _canopy_tif(tmp_path / "canopy.tif")
    B = built(box(0, 0, 75, 100))                   # cuts column 7 (x 70–80) in half
    # columns 0–4: 50 px × 0.3 = 15; columns 5–6: 20 px × 0.8 = 16; column 7 half: 10 × 0.5 × 0.8 = 4
    # → 35 px × 100 m² of cover in 7 500 m²
    # (float32 pixels: 0.3 is stored as 0.30000001)
    assert ind.green_coverage_ratio(B, tif) == pytest.approx(100 * 3_500 / 7_500, rel=1e-6)
    # a triangle: exact shares of the pixels its hypotenuse cuts (half the area in each half)
    T = built(box(0, 0, 100, 100).intersection(LineString([(0, 0), (100, 100)]).buffer(1e4, single_sided=True)))
    tri_area = float(T.area.iloc[0])
    left = float(T.intersection(box(0, 0, 50, 100)).area.iloc[0])
    assert ind.green_coverage_ratio(T, tif) == pytest.approx(100 * (0.3 * left + 0.8 * (tri_area - left)) / tri_area,
                                                        rel=1e-6)


def test_green_coverage_ratio_is_unavailable_without_a_raster():
    t = ind.indicator_table(built(box(0, 0, 100, 100)))
    r = row(t, "green_coverage_ratio")
    assert math.isnan(r["value"]) and pd.isna(r["passed"]) and "canopy" in r["note"]
    assert "缺少图层 green" in row(t, "green_space_ratio")["note"]


# ---------------------------------------------------------------------------- zones
def _zone_scene():
    B = built(box(0, 0, 200, 100))
    zones = gdf([{"zone_id": "Z1", "name": "一区", "unit": "一中队"}, {"zone_id": "Z2", "name": "二区", "unit": "二中队"}],
                [box(0, 0, 100, 100), box(100, 0, 200, 110)])               # Z2 pokes 10 m out of B
    green = gdf([{"green_id": "g", "category": "G1"}], [box(50, 0, 150, 50)])
    roads = gdf([{"road_id": "r", "road_class": "branch", "width_m": 10.0, "mech_swept": True}],
                [LineString([(0, 50), (200, 50)])])
    lamps = gdf([{"lamp_id": "a", "status": "working"}, {"lamp_id": "b", "status": "broken"}],
                [Point(25, 50), Point(100, 50)])                           # b on the border: both zones
    toilets = gdf([{"toilet_id": "t", "accessible": True}], [Point(150, 60)])
    res = gdf([{"res_id": "r", "name": "甲", "population": 100}], [box(90, 0, 110, 100)])
    return B, dict(zones=zones, green=green, roads=roads, lamps=lamps, toilets=toilets, residential=res)


def test_per_zone_rows_show_which_zone_drags_the_county_down():
    B, layers = _zone_scene()
    t = ind.indicator_table(B, **layers)
    z = t[t["scope"] == "zone"]
    assert set(z["zone_id"]) == {"Z1", "Z2"}
    assert row(t, "area", scope="zone", zone_id="Z2")["value"] == pytest.approx(10_000)   # inside B only
    assert row(t, "green_space_ratio", scope="zone", zone_id="Z1")["value"] == pytest.approx(25.0)
    assert row(t, "green_space_ratio", scope="zone", zone_id="Z2")["value"] == pytest.approx(25.0)
    # lamps a (lights [0, 50]) and b (lights [75, 125]): Z1 lit 75 of 100 m, Z2 25 of 100 m
    assert row(t, "lamp_installation_rate", scope="zone", zone_id="Z1")["value"] == pytest.approx(75.0, abs=1e-6)
    assert row(t, "lamp_installation_rate", scope="zone", zone_id="Z2")["value"] == pytest.approx(25.0, abs=1e-6)
    assert row(t, "lamp_installation_rate", "branch", scope="zone", zone_id="Z2")["value"] == pytest.approx(25.0, abs=1e-6)
    assert row(t, "lamp_installation_rate")["value"] == pytest.approx(50.0, abs=1e-6)
    assert row(t, "lamp_count", scope="zone", zone_id="Z1")["value"] == 2
    assert row(t, "lamp_count", scope="zone", zone_id="Z2")["value"] == 1
    assert row(t, "lamp_lighting_rate", scope="zone", zone_id="Z2")["value"] == pytest.approx(0.0)
    assert row(t, "toilet_count", scope="zone", zone_id="Z2")["value"] == 1
    assert row(t, "residents", scope="zone", zone_id="Z1")["value"] == pytest.approx(50.0)
    assert row(t, "road_length", scope="zone", zone_id="Z1")["value"] == pytest.approx(100.0)
    z2 = row(t, "lamp_installation_rate", scope="zone", zone_id="Z2")
    assert z2["passed"] == False and z2["responsible_unit"] == "市政公用基础设施管理股"  # noqa: E712
    assert z2["zone_name"] == "二区"
    # zone rows never carry city-only measures
    assert not (z["indicator"].isin(["park_area_per_capita", "toilets_per_10k", "green_coverage_ratio"])).any()


def test_table_columns_and_passed_dtype():
    B, layers = _zone_scene()
    layers.pop("zones")
    t = ind.indicator_table(B, **layers)
    assert list(t.columns) == ind.COLUMNS
    assert str(t["passed"].dtype) == "boolean"
    assert set(t["scope"]) == {"city"}
    lamp = row(t, "lamp_installation_rate")
    assert lamp["target"] == 98.0 and lamp["comparison"] == ">=" and lamp["responsible_unit"] == "市政公用基础设施管理股"
    assert row(t, "green_space_ratio")["responsible_unit"] == "城区园林绿化工作站"
    assert row(t, "toilet_density")["responsible_unit"] == "城区环境卫生工作站"
    assert row(t, "residents")["responsible_unit"] == "城区执法大队"


def test_bad_population_names_the_layer_feature_and_field():
    B = built(box(0, 0, 100, 100))
    res = gdf([{"res_id": "R7", "name": "甲", "population": -5}], [box(0, 0, 10, 10)])
    with pytest.raises(ind.IndicatorError, match=r"residential.*R7.*population"):
        ind.indicator_table(B, residential=res)


def test_layers_in_another_crs_are_refused():
    B = built(box(0, 0, 100, 100))
    lamps = gpd.GeoDataFrame({"lamp_id": ["a"], "status": ["working"]}, geometry=[Point(117, 33)], crs=4326)
    with pytest.raises(ind.IndicatorError, match="lamps"):
        ind.indicator_table(B, lamps=lamps)


# ---------------------------------------------------------------------------- targets
def test_default_targets_follow_the_standards():
    t = load_targets()
    assert (t.get("park_area_per_capita").target, t.get("park_area_per_capita").comparison) == (8.0, ">")
    assert t.get("lamp_lighting_rate").target == 98.0
    assert t.get("toilets_per_10k").target == 4.0
    assert t.get("mech_sweeping_rate").target == 20.0
    assert t.get("green_space_ratio").status == "unconfirmed"
    assert t.get("toilet_service_coverage").target is None
    assert t.parameters["park_tiers"] == ((5000.0, 500.0), (1000.0, 300.0))
    assert t.get("park_area_per_capita").passes(8.0) is False and t.get("park_area_per_capita").passes(8.01)


def _ws(tmp_path, **layers) -> Workspace:
    ws = Workspace.create(tmp_path / "county.gpkg", crs=CRS)
    for name, g in layers.items():
        ws.write(name, g)
    return ws


def test_workspace_targets_file_overrides_the_default(tmp_path):
    B, layers = _zone_scene()
    ws = _ws(tmp_path, built_up=B, **layers)
    (tmp_path / "county.targets.toml").write_text(
        '[parameters]\nlamp_reach_m = 50.0\n\n'
        '[indicators.lamp_installation_rate]\ntarget = 60.0\nby_road_class = { branch = 99.0 }\n', encoding="utf-8")
    targets = load_targets(ws=ws)
    assert targets.get("lamp_installation_rate").target == 60.0
    assert targets.get("lamp_installation_rate").responsible_unit == "市政公用基础设施管理股"  # from the default
    t = ind.compute_indicators(ws, zones=True)
    # reach 50 m: a lights [0, 75], b [50, 150] → 150 of 200 m
    city = row(t, "lamp_installation_rate")
    assert city["value"] == pytest.approx(75.0, abs=1e-6) and city["target"] == 60.0 and city["passed"]
    branch = row(t, "lamp_installation_rate", "branch")
    assert branch["target"] == 99.0 and not branch["passed"]
    # civgis.indicators(ws) is the same table
    assert civgis.indicators(ws).equals(ind.compute_indicators(ws))


def test_a_malformed_targets_file_is_named(tmp_path):
    bad = tmp_path / "t.toml"
    bad.write_text('[indicators.lamp_lighting_rate]\ncomparison = "≈"\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"t.toml.*lamp_lighting_rate.*comparison"):
        load_targets(bad)


# ---------------------------------------------------------------------------- CLI
def test_cli_json_csv_xlsx_and_table(tmp_path, capsys):
    from openpyxl import load_workbook

    from civgis.cli import main

    B, layers = _zone_scene()
    ws = _ws(tmp_path, built_up=B, **layers)
    assert main(["indicators", str(ws.path), "--zones", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    lamp = next(r for r in data if r["indicator"] == "lamp_installation_rate" and r["scope"] == "city"
                and r["road_class"] is None)
    assert lamp["value"] == pytest.approx(50.0, abs=1e-6) and lamp["passed"] is False
    assert {r["zone_id"] for r in data if r["scope"] == "zone"} == {"Z1", "Z2"}

    assert main(["indicators", str(ws.path), "--csv", str(tmp_path / "t.csv")]) == 0
    csv = pd.read_csv(tmp_path / "t.csv", encoding="utf-8-sig", dtype=str)
    from civgis.cli.indicators import HEADERS_ZH  # Chinese headers, codes in columns of their own (issue 13)
    assert set(csv.columns) == {HEADERS_ZH[c] for c in ind.COLUMNS} | {"范围代码", "道路等级代码"}
    lamp_row = csv[(csv["指标代码"] == "lamp_installation_rate") & (csv["范围代码"] == "city")
                   & csv["道路等级代码"].isna()].iloc[0]
    assert lamp_row["范围"] == "全县" and lamp_row["达标"] == "未达标"
    assert set(csv.loc[csv["道路等级代码"] == "arterial", "道路等级"]) <= {"主干道"}

    assert main(["indicators", str(ws.path), "--zones", "--xlsx", str(tmp_path / "t.xlsx")]) == 0
    wb = load_workbook(tmp_path / "t.xlsx")
    assert wb.sheetnames[:2] == ["全县指标", "责任区指标"]
    header = [c.value for c in wb["全县指标"][1]]
    assert "指标" in header and "达标" in header and "责任单位" in header

    capsys.readouterr()
    assert main(["indicators", str(ws.path), "--zones"]) == 0
    out = capsys.readouterr().out
    assert "道路装灯率" in out and "市政公用基础设施管理股" in out and "未达标" in out and "二区" in out


def test_cli_missing_workspace_is_a_clear_error(tmp_path, capsys):
    from civgis.cli import main

    assert main(["indicators", str(tmp_path / "nope.gpkg")]) != 0
    assert "nope.gpkg" in capsys.readouterr().err


# ---------------------------------------------------------------------------- the demo county
def test_demo_county_indicators(demo_ws, demo_dir):
    manifest = json.loads((demo_dir / "manifest.json").read_text(encoding="utf-8"))
    t = ind.compute_indicators(demo_ws, zones=True)
    city = t[t["scope"] == "city"]
    assert city["value"].notna().all()                     # every layer and the canopy are there
    # green land: the union of G1+G2+G3+XG inside the built-up area, overlaps counted once (manifest facts)
    green = manifest["planted"]["green"]
    built_up = manifest["counts"]["built_up_area_m2"]
    assert row(t, "area")["value"] == pytest.approx(built_up, rel=1e-6)
    assert row(t, "green_space_ratio")["value"] == pytest.approx(
        100 * green["union_area_in_built_up_m2"] / built_up, rel=1e-4)
    assert row(t, "lamp_count")["value"] <= manifest["counts"]["lamps"]
    assert row(t, "residents")["value"] == pytest.approx(manifest["counts"]["residents"], rel=0.01)
    # the planted unlit stretches keep the installation rate of their roads' classes below 100 %
    assert row(t, "lamp_installation_rate")["value"] < 100.0
    assert row(t, "park_walk_coverage")["value"] < row(t, "park_service_coverage")["value"]
    zones = t[t["scope"] == "zone"]
    assert zones["zone_id"].nunique() == manifest["counts"]["zones"]
    # zone areas (inside the built-up area) add up to it, give or take the planted gaps and overlaps
    gaps = sum(g["area_m2"] for g in manifest["planted"]["zone_gaps"])
    overlaps = sum(o["area_m2"] for o in manifest["planted"]["zone_overlaps"])
    zone_area = zones[zones["indicator"] == "area"]["value"].sum()
    assert zone_area == pytest.approx(built_up - gaps + overlaps, rel=1e-3)


def test_lamp_coverage_and_walk_samples_give_the_table_figures():
    B, roads, lamps = _lamp_scene()
    parts, owned = ind.lamp_coverage(roads, lamps)
    assert parts["lit_m"].tolist() == pytest.approx([100.0, 2 * math.sqrt(25**2 - 14**2)], rel=1e-3)
    assert owned["road_id"].tolist()[:3] == ["r1", "r1", "r2"] and pd.isna(owned["road_id"].iloc[3])
    Bp = built(box(-1000, -1000, 3000, 3000))
    green = gdf([{"green_id": "p", "category": "G1"}], [box(0, 0, 80, 50)])
    street = gdf([{"road_id": "s", "road_class": "branch"}], [LineString([(-100, -10), (600, -10)])])
    res = gdf([{"res_id": "r", "name": "甲", "population": 100}], [box(300, -50, 400, -20)])
    samples = ind.walk_samples(res, green, street, Bp, cell_m=10.0)
    assert len(samples) == 30 and samples["covered"].sum() == 21
    assert samples["walk_m"].min() == pytest.approx(15 + 305 - 80 - math.sqrt(300), abs=0.05)


def test_no_qualifying_park_reaches_nobody_and_no_residential_land_is_no_figure():
    B = built(box(0, 0, 1000, 1000))
    green = gdf([{"green_id": "tiny", "category": "G1"}], [box(0, 0, 30, 30)])          # 900 m²: no radius
    street = gdf([{"road_id": "s", "road_class": "branch"}], [LineString([(0, -5), (500, -5)])])
    res = gdf([{"res_id": "r", "name": "甲", "population": 10}], [box(40, 0, 60, 20)])
    t = ind.indicator_table(B, green=green, roads=street, residential=res)
    assert row(t, "park_service_coverage")["value"] == 0.0 and row(t, "park_walk_coverage")["value"] == 0.0
    nobody = ind.indicator_table(B, green=green, roads=street, residential=res.iloc[:0])
    assert math.isnan(row(nobody, "park_walk_coverage")["value"])
    assert math.isnan(row(nobody, "park_service_coverage")["value"])
    assert pd.isna(row(nobody, "park_service_coverage")["passed"])


def test_unlit_stretches_find_the_planted_dark_stretches_of_the_demo(demo_ws, demo_dir):
    manifest = json.loads((demo_dir / "manifest.json").read_text(encoding="utf-8"))
    found = ind.unlit_stretches(demo_ws.read("roads"), demo_ws.read("lamps"), reach_m=25.0, min_length_m=5.0)
    planted = manifest["planted"]["unlit_stretches"]
    assert set(found["road_id"]) == {p["road_id"] for p in planted}       # nothing else is dark
    for p in planted:
        mine = found[found["road_id"] == p["road_id"]]
        assert len(mine) == 1, p["road_id"]
        # lamps stand on the centre line: the dark stretch is the lamp-free one less a reach at each end
        lo = 0.0 if p.get("whole_road") else p["from_m"] + 25.0
        hi = p["to_m"] if p.get("whole_road") else p["to_m"] - 25.0
        assert (mine["from_m"].iloc[0], mine["to_m"].iloc[0]) == pytest.approx((lo, hi), abs=0.5)


# ---------------------------------------------------------------- clipping to chopped pieces
def test_clip_to_pieces_equals_shapely_intersection_with_the_whole_union():
    import shapely

    from civgis.analysis.indicators import bbox_grid_cells, chop, clip_to_pieces

    rng = np.random.default_rng(11)
    blobs = shapely.buffer(shapely.points(rng.random((40, 2)) * 3000), rng.uniform(80, 400, 40), quad_segs=24)
    region = shapely.union_all(blobs).difference(shapely.buffer(shapely.Point(1500, 1500), 300))   # with a hole
    pieces = np.asarray(chop(region, max_vertices=64), dtype=object)
    assert len(pieces) > 8
    cells, _, _ = bbox_grid_cells(np.array([region], dtype=object), 70.0)
    clipped = clip_to_pieces(cells, pieces)
    reference = shapely.intersection(cells, region)          # the one big intersection it replaces
    assert np.allclose(shapely.area(clipped), shapely.area(reference), rtol=1e-9, atol=1e-6)
    # and the same shape, not only the same area: nothing of one is outside the other
    assert shapely.area(shapely.symmetric_difference(clipped, reference)).max() < 1e-6
    assert (shapely.is_empty(clipped) == (shapely.area(reference) == 0)).all()


def test_intersecting_pieces_pairwise_keeps_a_contained_one_whole_and_equals_shapely():
    import shapely

    from civgis.analysis.indicators import _intersect_pairs, chop, intersect_pieces

    rng = np.random.default_rng(5)
    blobs = shapely.buffer(shapely.points(rng.random((30, 2)) * 3000), rng.uniform(50, 350, 30), quad_segs=16)
    small = shapely.buffer(shapely.points(rng.random((300, 2)) * 3000), rng.uniform(5, 60, 300), quad_segs=8)
    pieces = np.asarray(chop(shapely.union_all(blobs), max_vertices=48), dtype=object)
    ia, ib = shapely.STRtree(pieces).query(small, predicate="intersects")
    a, b = small[ia], pieces[ib]
    fast, reference = _intersect_pairs(a, b), shapely.intersection(a, b)
    # both cases occur: a small polygon inside a piece, and one crossing piece edges
    inside = shapely.contains(b, a)
    assert inside.any() and (~inside).any()
    assert np.allclose(shapely.area(fast), shapely.area(reference), rtol=1e-9, atol=1e-6)
    assert shapely.area(shapely.symmetric_difference(fast, reference)).max() < 1e-6
    big = np.array([shapely.box(-1000, -1000, 5000, 5000)], dtype=object)
    whole = _intersect_pairs(np.repeat(big, len(pieces)), pieces)
    assert all(w is p for w, p in zip(whole, pieces))           # a piece inside the polygon: the piece itself
    parts, owner = intersect_pieces(small, pieces)
    expected = shapely.area(shapely.intersection(small, shapely.union_all(pieces)))
    assert np.allclose(np.bincount(owner, shapely.area(parts), minlength=len(small)), expected, rtol=1e-9, atol=1e-6)


def test_new_green_area_of_a_site_is_its_part_in_the_built_up_area_not_yet_green():
    import shapely
    from shapely.geometry import box

    from civgis.analysis.plan import _clip_new_area

    rng = np.random.default_rng(4)
    built_up = shapely.union_all(shapely.buffer(shapely.points(rng.random((25, 2)) * 2000), 300, quad_segs=32))
    existing = shapely.union_all(shapely.buffer(shapely.points(rng.random((30, 2)) * 2000), 120, quad_segs=32))
    corners = rng.random((60, 2)) * 2000
    sites = shapely.box(corners[:, 0], corners[:, 1], corners[:, 0] + 150, corners[:, 1] + 90)
    expected = shapely.area(shapely.difference(shapely.intersection(sites, built_up), existing))
    assert np.allclose(_clip_new_area(sites, built_up, existing), expected, rtol=1e-9, atol=1e-6)
    assert np.allclose(_clip_new_area(sites, built_up, None), shapely.area(shapely.intersection(sites, built_up)))
    assert _clip_new_area(np.array([box(5000, 5000, 5100, 5100)], dtype=object), built_up, existing)[0] == 0


def test_toilet_demand_cells_on_a_cut_between_pieces_count_once():
    import shapely

    from civgis.analysis.indicators import bbox_grid_cells, chop
    from civgis.analysis.plan import _unique_boxes

    region = shapely.buffer(shapely.Point(1013, 1027), 900, quad_segs=64)     # 257 vertices: chopped in four
    pieces = np.asarray(chop(region, max_vertices=100), dtype=object)
    cells, _, _ = bbox_grid_cells(pieces, 50.0)
    unique = _unique_boxes(cells)
    assert len(unique) < len(cells)          # the cut lines are not on the 50 m grid: shared cells
    assert len(unique) == len(shapely.from_wkb(np.unique(shapely.to_wkb(cells))))
    clipped = shapely.intersection(unique, region)
    assert abs(float(shapely.area(clipped).sum()) - region.area) < 1e-6 * region.area   # the area counted once
