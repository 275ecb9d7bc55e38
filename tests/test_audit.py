"""Coverage audit and zone summary on hand-built zones whose gaps and overlaps are worked out by hand.

Layout (metres, offsets from X0, Y0 in EPSG:4527), built-up area = [0,1000]×[0,800] = 800 000 m²:

    A = [0,500]×[0,800] with a hole [100,150]² (a 2 500 m² gap bordered only by A, border 200 m)
    B = [500,900]×[0,400]          → gap [900,1000]×[0,400] = 40 000 m², borders B 400 m, C 100 m
    C = [480,1000]×[400,800] with a notch [600,700]×[799.8,800] (20 m², 0.2 m wide → a sliver)
    E = [450,550]×[350,450] (no staff)  F = [950,1050]×[750,850] (blank phone)

Overlaps: E lies wholly in A∪B∪C (10 000 m²) and A∩C outside E is [480,500]×[450,800] (7 000 m²):
one part of 17 000 m² in zones A, B, C, E; and C∩F = [950,1000]×[750,800] = 2 500 m².
"""

from __future__ import annotations

import contextlib
import io
import json
import types

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, box

from civgis.analysis.audit import audit_coverage, audit_workspace, fix_gaps, history_versions, restore_zones
from civgis.store.workspace import Workspace
from civgis.analysis.zones import summarize_zones, zone_summary

X0, Y0 = 39_500_000.0, 3_500_000.0
CRS = 4527


def b(x0, y0, x1, y1):
    return box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def pt(x, y):
    return Point(X0 + x, Y0 + y)


def line(*xy):
    return LineString([(X0 + x, Y0 + y) for x, y in xy])


def hand_layers():
    built = gpd.GeoDataFrame({"name": ["建成区"]}, geometry=[b(0, 0, 1000, 800)], crs=CRS)
    zones = gpd.GeoDataFrame({
        "zone_id": ["A", "B", "C", "E", "F"],
        "name": ["城东一区", "城东二区", "城北区", "交叉区", "外围区"],
        "unit": ["一中队"] * 5,
        "staff": ["张三", "李四", "王五", None, "赵六"],
        "phone": ["13800000001", "13800000002", "13800000003", "13800000004", " "],
    }, geometry=[b(0, 0, 500, 800).difference(b(100, 100, 150, 150)), b(500, 0, 900, 400),
                 b(480, 400, 1000, 800).difference(b(600, 799.8, 700, 800)), b(450, 350, 550, 450),
                 b(950, 750, 1050, 850)], crs=CRS)
    lamps = gpd.GeoDataFrame({"lamp_id": ["L1", "L2"], "status": ["working", "broken"]},
                             geometry=[pt(10, 10), pt(950, 200)], crs=CRS)
    toilets = gpd.GeoDataFrame({"toilet_id": ["T1", "T2"], "name": ["一号", "二号"]},
                               geometry=[pt(125, 125), pt(300, 300)], crs=CRS)
    roads = gpd.GeoDataFrame({"road_id": ["R1", "R2"], "name": ["东环路", "人民路"],
                              "road_class": ["branch", "arterial"]},
                             geometry=[line((920, 50), (980, 50)), line((0, 600), (1000, 600))], crs=CRS)
    cases = gpd.GeoDataFrame({"case_id": ["K1", "K2", "K3"], "category": ["0102"] * 3,
                              "reported_at": pd.to_datetime(["2026-01-01"] * 3),
                              "deadline": pd.to_datetime(["2026-01-05"] * 3),
                              "closed_at": pd.to_datetime([None, "2026-01-02", None]),
                              "status": ["open", "closed", "open"]},
                             geometry=[pt(960, 300), pt(970, 300), pt(200, 200)], crs=CRS)
    return built, zones, {"lamps": lamps, "toilets": toilets, "roads": roads, "inspections": cases}


@pytest.fixture()
def hand_ws(tmp_path):
    built, zones, assets = hand_layers()
    ws = Workspace.create(tmp_path / "hand.gpkg", crs=CRS)
    ws.write("built_up", built)
    ws.write("zones", zones)
    for layer, gdf in assets.items():
        ws.write(layer, gdf)
    return ws


def test_gaps_overlaps_and_slivers_have_the_areas_worked_out_by_hand():
    built, zones, assets = hand_layers()
    res = audit_coverage(built, zones, assets=assets)
    d = res.to_dict()

    assert [g["area_m2"] for g in d["gaps"]] == [40000.0, 2500.0]
    east, hole = d["gaps"]
    assert east["neighbours"] == ["B", "C"] and east["border_m"] == pytest.approx([400.0, 100.0], abs=0.1)
    assert east["suggested_zone"] == "B"
    assert hole["neighbours"] == ["A"] and hole["border_m"] == pytest.approx([200.0], abs=0.1)
    # the centroid lies inside the gap, in workspace metres
    assert X0 + 900 < east["centroid"][0] < X0 + 1000 and Y0 < east["centroid"][1] < Y0 + 400
    assert 100 < east["lonlat"][0] < 130 and 25 < east["lonlat"][1] < 40  # somewhere in China, degrees

    assert [(o["area_m2"], o["zones"]) for o in d["overlaps"]] == [(17000.0, ["A", "B", "C", "E"]),
                                                                   (2500.0, ["C", "F"])]
    assert len(d["slivers"]) == 1
    sl = d["slivers"][0]
    assert sl["kind"] == "gap" and sl["area_m2"] == pytest.approx(20.0) and sl["zones"] == ["C"]
    assert sl["width_m"] == pytest.approx(2 * 20 / 200.4, abs=1e-3)

    assert d["summary"]["built_up_area_m2"] == 800000.0
    assert d["summary"]["zoned_area_m2"] == pytest.approx(800000 - 40000 - 2500 - 20)
    assert d["summary"]["gap_area_m2"] == 42500.0 and d["summary"]["overlap_area_m2"] == 19500.0


def test_sliver_tolerance_is_a_parameter():
    built, zones, _ = hand_layers()
    res = audit_coverage(built, zones, sliver_m2=3000.0, sliver_width_m=0.0)
    assert [g["area_m2"] for g in res.to_dict()["gaps"]] == [40000.0]
    assert sorted(s["area_m2"] for s in res.to_dict()["slivers"]) == [20.0, 2500.0, 2500.0]  # hole, notch, C∩F


def test_unassigned_assets_and_missing_contacts():
    built, zones, assets = hand_layers()
    res = audit_coverage(built, zones, assets=assets)
    # L2 (950,200) and R1 lie in the east gap; T1 in A's hole; K1 is open in the gap, K2 there but closed
    assert res.unassigned == {"lamps": ["L2"], "toilets": ["T1"], "roads": ["R1"], "inspections": ["K1"]}
    assert res.unassigned_in_built_up == res.unassigned  # all of them lie inside the built-up area
    assert res.zones_missing_contact == [{"zone_id": "E", "name": "交叉区", "missing": ["staff"]},
                                         {"zone_id": "F", "name": "外围区", "missing": ["phone"]}]
    assert not res.ok


def test_clean_zones_pass():
    built = gpd.GeoDataFrame({"name": ["x"]}, geometry=[b(0, 0, 200, 100)], crs=CRS)
    zones = gpd.GeoDataFrame({"zone_id": ["P", "Q"], "name": ["p", "q"], "staff": ["s", "t"], "phone": ["1", "2"]},
                             geometry=[b(0, 0, 100, 100), b(100, 0, 200, 100)], crs=CRS)
    res = audit_coverage(built, zones)
    assert res.ok and res.coverage_ratio == 1.0 and res.gaps.empty and res.overlaps.empty


def test_invalid_zone_geometry_is_named():
    built, zones, _ = hand_layers()
    from shapely.geometry import Polygon

    zones.loc[1, "geometry"] = Polygon([(X0, Y0), (X0 + 10, Y0 + 10), (X0 + 10, Y0), (X0, Y0 + 10)])  # bow-tie
    with pytest.raises(ValueError, match="'B'.*geometry"):
        audit_coverage(built, zones)


def test_fix_gaps_is_atomic_and_restorable(hand_ws):
    before = hand_ws.read("zones").set_index("zone_id").area
    applied = fix_gaps(hand_ws)
    assert {(a["gap_id"], a["zone_id"]) for a in applied} == {("G001", "B"), ("G002", "A"), ("S001", "C")}
    after = hand_ws.read("zones").set_index("zone_id").area
    assert after["B"] == pytest.approx(160000 + 40000)
    assert after["A"] == pytest.approx(400000)  # hole filled
    assert after["C"] == pytest.approx(520 * 400)  # notch filled
    res = audit_workspace(hand_ws)
    assert res.gaps.empty and res.slivers.empty and len(res.overlaps) == 2  # overlaps are not touched
    assert res.unassigned["lamps"] == [] and res.unassigned["toilets"] == []

    versions = history_versions(hand_ws)
    assert list(versions["version"]) == [1] and list(versions["zones"]) == [5]
    assert restore_zones(hand_ws) == 1
    restored = hand_ws.read("zones").set_index("zone_id").area
    assert np.allclose(restored[before.index], before)
    assert list(history_versions(hand_ws)["version"]) == [1, 2]  # the fixed zones were archived in turn
    assert any(e.get("action") == "fix-gaps" for e in hand_ws.log())


def _cli(*args):
    """Run ``civgis ARGS`` in-process (a subprocess per call costs seconds of imports)."""
    from civgis.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return types.SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def test_cli_audit_json_fix_and_restore(hand_ws):
    r = _cli("audit", hand_ws.path, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert [g["area_m2"] for g in d["gaps"]] == [40000.0, 2500.0]
    assert set(d["gaps"][0]) >= {"area_m2", "centroid", "neighbours"}
    assert [o["area_m2"] for o in d["overlaps"]] == [17000.0, 2500.0] and d["overlaps"][1]["zones"] == ["C", "F"]
    assert d["unassigned"]["lamps"] == ["L2"]

    r = _cli("audit", hand_ws.path)
    assert r.returncode == 0 and "死角" in r.stdout and "40000.0" in r.stdout and "交叉区" in r.stdout

    r = _cli("audit", hand_ws.path, "--fix-gaps")
    assert r.returncode == 0, r.stderr
    assert "--restore-zones" in r.stderr   # a message, not a result: standard error
    assert json.loads(_cli("audit", hand_ws.path, "--json").stdout)["gaps"] == []
    r = _cli("audit", hand_ws.path, "--restore-zones")
    assert r.returncode == 0, r.stderr
    assert len(json.loads(_cli("audit", hand_ws.path, "--json").stdout)["gaps"]) == 2


# ------------------------------------------------------------------------------ zone summary
def summary_layers():
    zones = gpd.GeoDataFrame({"zone_id": ["P", "Q"], "name": ["甲区", "乙区"], "unit": ["一中队", None],
                              "staff": ["张三", "李四"], "phone": ["1", "2"]},
                             geometry=[b(0, 0, 100, 100), b(100, 0, 200, 100)], crs=CRS)
    roads = gpd.GeoDataFrame({"road_id": ["r1", "r2"], "road_class": ["arterial", "alley"]},
                             geometry=[line((-50, 50), (250, 50)), line((150, -50), (150, 150))], crs=CRS)
    lamps = gpd.GeoDataFrame({"lamp_id": ["l1", "l2", "l3"], "status": ["working", "broken", "broken"]},
                             geometry=[pt(10, 10), pt(20, 20), pt(150, 60)], crs=CRS)
    toilets = gpd.GeoDataFrame({"toilet_id": ["t1"]}, geometry=[pt(50, 70)], crs=CRS)
    green = gpd.GeoDataFrame({"green_id": ["g1", "g2", "g3"], "category": ["G1", "G1", "G2"]},
                             geometry=[b(0, 0, 50, 50), b(25, 25, 75, 75), b(190, 0, 210, 10)], crs=CRS)
    residential = gpd.GeoDataFrame({"res_id": ["h1", "h2"], "name": ["小区一", "小区二"], "population": [1000, 7]},
                                   geometry=[b(50, 0, 150, 100), b(0, 90, 10, 100)], crs=CRS)
    cases = gpd.GeoDataFrame({"case_id": ["c1", "c2", "c3"], "category": ["0102"] * 3,
                              "reported_at": pd.to_datetime(["2025-12-01"] * 3),
                              "deadline": pd.to_datetime(["2026-01-01", "2026-12-31", "2025-12-05"]),
                              "closed_at": pd.to_datetime([None, None, "2025-12-03"]),
                              "status": ["open", "open", "closed"]},
                             geometry=[pt(10, 90), pt(60, 10), pt(180, 20)], crs=CRS)
    return zones, dict(roads=roads, lamps=lamps, toilets=toilets, green=green, residential=residential,
                       inspections=cases)


def check_summary(t):
    t = t.set_index("zone_id")
    assert list(t["area_m2"]) == [10000.0, 10000.0]
    assert list(t["road_m_arterial"]) == pytest.approx([100.0, 100.0])
    assert list(t["road_m_alley"]) == pytest.approx([0.0, 100.0])
    assert list(t["road_m"]) == pytest.approx([100.0, 200.0])
    assert list(t["lamps"]) == [2, 1] and list(t["lamps_broken"]) == [1, 1]
    assert list(t["toilets"]) == [1, 0]
    assert list(t["green_m2"]) == pytest.approx([2500 + 2500 - 625, 100.0])  # g1 ∪ g2 counted once
    assert list(t["residents"]) == [500 + 7, 500]  # h1 split by area share
    assert list(t["cases_open"]) == [2, 0] and list(t["cases_overdue"]) == [1, 0]
    assert t.loc["P", "staff"] == "张三" and pd.isna(t.loc["Q", "unit"])


def test_zone_summary_numbers_by_hand():
    zones, layers = summary_layers()
    check_summary(summarize_zones(zones, as_of="2026-06-01", **layers))
    # nothing is overdue before the first deadline
    t = summarize_zones(zones, as_of="2025-12-15", **layers)
    assert list(t["cases_overdue"]) == [0, 0]


def test_zone_summary_says_no_data_for_missing_layers_and_unknown_lamp_states(tmp_path):
    """A layer the workspace lacks gives 无数据 (NaN), not 0; an empty layer gives 0; a zone whose
    lamps all lack a recorded state (an OSM import) has no count of broken lamps."""
    zones, layers = summary_layers()
    lamps = layers["lamps"].assign(status=["unknown", None, "broken"])  # P: two lamps, neither state known
    t = summarize_zones(zones, as_of="2026-06-01", lamps=lamps).set_index("zone_id")
    assert list(t["lamps"]) == [2, 1]
    assert pd.isna(t.loc["P", "lamps_broken"]) and t.loc["Q", "lamps_broken"] == 1
    for column in ("toilets", "green_m2", "residents", "cases_open", "cases_overdue", "road_m", "road_m_arterial"):
        assert t[column].isna().all(), column
    empty = {name: gdf.iloc[:0] for name, gdf in layers.items()}
    t = summarize_zones(zones, as_of="2026-06-01", **empty)
    for column in ("lamps", "lamps_broken", "toilets", "green_m2", "residents", "cases_open", "cases_overdue",
                   "road_m"):
        assert (t[column] == 0).all(), column

    ws = Workspace.create(tmp_path / "s.gpkg", crs=CRS)
    ws.write("zones", zones)
    ws.write("lamps", lamps)
    out = tmp_path / "zones.csv"
    r = _cli("zones", ws.path, "--csv", out, "--as-of", "2026-06-01")
    assert r.returncode == 0, r.stderr
    csv = pd.read_csv(out, encoding="utf-8-sig", dtype=str)
    assert list(csv["路灯"]) == ["2", "1"] and list(csv["故障路灯"]) == ["无数据", "1"]
    assert set(csv["未结案件"]) == {"无数据"} and set(csv["公厕"]) == {"无数据"}
    r = _cli("zones", ws.path, "--json", "--as-of", "2026-06-01")
    assert [z["cases_open"] for z in json.loads(r.stdout)] == [None, None]
    r = _cli("zones", ws.path, "--as-of", "2026-06-01")
    assert r.returncode == 0 and "无数据" in r.stdout


def test_zone_summary_from_workspace_and_cli(tmp_path):
    zones, layers = summary_layers()
    ws = Workspace.create(tmp_path / "s.gpkg", crs=CRS)
    ws.write("zones", zones)
    for name, gdf in layers.items():
        ws.write(name, gdf)
    check_summary(zone_summary(ws, as_of="2026-06-01"))

    out = tmp_path / "zones.csv"
    r = _cli("zones", ws.path, "--csv", out, "--as-of", "2026-06-01")
    assert r.returncode == 0, r.stderr
    csv = pd.read_csv(out, encoding="utf-8-sig")
    assert list(csv["超期案件"]) == [1, 0] and list(csv["主干道(米)"]) == [100.0, 100.0]
    r = _cli("zones", ws.path, "--json", "--as-of", "2026-06-01")
    assert [z["residents"] for z in json.loads(r.stdout)] == [507, 500]
    r = _cli("zones", ws.path)
    assert r.returncode == 0 and "甲区" in r.stdout and "故障路灯" in r.stdout


# ------------------------------------------------------------------------------ the demo county
def test_demo_planted_gaps_and_overlaps_are_all_found(demo_ws):
    from civgis.demo import load_manifest
    from shapely.geometry import Point

    planted = load_manifest(demo_ws.path.parent / "raw")["planted"]
    res = audit_workspace(demo_ws)
    assert len(planted["zone_gaps"]) >= 3 and len(planted["zone_overlaps"]) >= 3
    # every planted gap is one reported gap: it contains the planted centroid, same area, same neighbours
    assert len(res.gaps) == len(planted["zone_gaps"])
    for g in planted["zone_gaps"]:
        hit = res.gaps[res.gaps.intersects(Point(g["x"], g["y"]).buffer(1.0))]
        assert len(hit) == 1, g
        row = hit.iloc[0]
        assert row.area_m2 == pytest.approx(g["area_m2"], rel=0.005)
        assert sorted(row.neighbours) == sorted(g["zones"]) and row.suggested_zone in g["zones"]
    assert len(res.overlaps) == len(planted["zone_overlaps"])
    for o in planted["zone_overlaps"]:
        hit = res.overlaps[res.overlaps.intersects(Point(o["x"], o["y"]).buffer(1.0))]
        assert len(hit) == 1, o
        assert hit.iloc[0].area_m2 == pytest.approx(o["area_m2"], rel=0.01)  # slivers split off the edges
        assert sorted(hit.iloc[0].zones) == sorted(o["zones"])
    assert {(z["zone_id"], z["missing"][0]) for z in res.zones_missing_contact} == \
        {(m["zone_id"], m["field"]) for m in planted["zones_missing_contact"]}
    # all sliver noise together is tiny next to the planted gaps
    assert res.slivers["area_m2"].sum() < 0.01 * res.gaps["area_m2"].sum()
