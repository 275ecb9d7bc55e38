"""The shapes and gaps real towns bring (issue 11): closed and multi-part roads, roads crossing the
built-up boundary, overlapping residential blocks, canopy nodata, missing inputs, wrong CRSs, and
pyrosm's real OpenStreetMap extracts. Every expected number is worked out here, by hand or with
plain geopandas/shapely, never copied from civgis's output."""

from __future__ import annotations

import json
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pyrosm
import pyogrio
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin
from shapely.geometry import LineString, MultiLineString, Point, box

import civgis.analysis.indicators as ind
from civgis.analysis.hotspots import hotspots
from civgis.analysis.network import line_intervals
from civgis.cli import main
from civgis.store.crs import choose_crs_for
from civgis.store.importers import import_file
from civgis.store.osm import import_osm
from civgis.store.validate import ValidationError
from civgis.store.workspace import Workspace

CRS = 4527
X0, Y0 = 39_500_000.0, 3_500_000.0   # a place inside EPSG:4527 (CGCS2000 GK zone 39, ≈117°E 31.6°N)


def gdf(rows, geoms, crs=CRS):
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=list(geoms), crs=crs)


def row(table, indicator, road_class=None, scope="city", zone_id=None):
    sel = (table["indicator"] == indicator) & (table["scope"] == scope)
    sel &= table["road_class"].isna() if road_class is None else table["road_class"] == road_class
    if zone_id is not None:
        sel &= table["zone_id"] == zone_id
    assert sel.sum() == 1
    return table[sel].iloc[0]


# ============================================================================ lines
def test_line_intervals_on_a_ring_wrap_round_its_start():
    ring = LineString([(0, 0), (100, 0), (100, 100), (0, 100), (0, 0)])          # 400 m, closed
    piece = shapely.intersection(ring, Point(10, 0).buffer(25, quad_segs=64))
    own, a, b = line_intervals(np.array([ring]), np.array([piece]), np.array([0]))
    got = sorted(zip(a.round(6), b.round(6)))
    # along the first side up to x = 35; back from the start up the west side sqrt(25² − 10²) m
    west = math.sqrt(25 ** 2 - 10 ** 2)
    assert got[0] == (0.0, 35.0)
    assert got[1][1] == 400.0 and got[1][0] == pytest.approx(400 - west, abs=0.05)   # buffer is a polygon


def test_ring_road_is_measured_and_lit_by_lamps_near_its_start():
    B = gdf([{"name": "城区"}], [box(-100, -100, 1000, 1000)])
    ring = LineString([(0, 0), (100, 0), (100, 100), (0, 100), (0, 0)])          # 400 m loop
    straight = LineString([(300, 500), (800, 500)])                              # 500 m, no lamps
    roads = gdf([{"road_id": "loop", "road_class": "commercial"}, {"road_id": "s", "road_class": "commercial"}],
                [ring, straight])
    lamps = gdf([{"lamp_id": "L1", "status": "working"}], [Point(0, 0)])         # on the ring's start point
    t = ind.indicator_table(B, roads=roads, lamps=lamps)
    assert row(t, "road_length")["value"] == pytest.approx(900.0, abs=1e-6)     # not 500: the loop counts
    # the lamp lights 25 m each way from the start: [0, 25] and [375, 400] → 50 of 900 m
    assert row(t, "lamp_installation_rate", "commercial")["value"] == pytest.approx(100 * 50 / 900, abs=1e-6)
    parts, owned = ind.lamp_coverage(roads, lamps)
    assert parts.set_index("road_id")["lit_m"].to_dict() == pytest.approx({"loop": 50.0, "s": 0.0}, abs=1e-6)
    dark = ind.unlit_stretches(roads, lamps)
    assert dark.groupby("road_id")["length_m"].sum().to_dict() == pytest.approx({"loop": 350.0, "s": 500.0})


def test_dual_carriageway_multilinestring_is_lit_on_both_parts_by_median_lamps():
    B = gdf([{"name": "城区"}], [box(-100, -100, 600, 200)])
    dual = MultiLineString([[(0, 0), (400, 0)], [(0, 20), (400, 20)]])            # one road, two 400 m parts
    roads = gdf([{"road_id": "A", "road_class": "arterial"}], [dual])
    xs = np.arange(0, 401, 40)                                                    # 11 lamps on the median, y = 10
    lamps = gdf([{"lamp_id": f"m{i}", "status": "working"} for i in range(len(xs))], [Point(x, 10) for x in xs])
    # each lamp reaches √(25² − 10²) = 22.9 m each way along both carriageways; lamps 40 m apart
    # overlap, the end lamps sit on the ends: all 800 m are lit (a per-part assignment gave 400 m)
    t = ind.indicator_table(B, roads=roads, lamps=lamps)
    assert row(t, "road_length")["value"] == pytest.approx(800.0)
    assert row(t, "lamp_installation_rate", "arterial")["value"] == pytest.approx(100.0, abs=1e-6)
    _, owned = ind.lamp_coverage(roads, lamps)
    assert set(owned["road_id"]) == {"A"}
    # a lamp of another road does not light this one, even within reach
    side = gdf([{"road_id": "C", "road_class": "branch"}], [LineString([(0, 60), (400, 60)])])
    both = pd.concat([gdf([{"road_id": "A", "road_class": "arterial"}],
                          [MultiLineString([[(0, 0), (400, 0)], [(0, 40), (400, 40)]])]), side], ignore_index=True)
    lamp = gdf([{"lamp_id": "c1", "status": "working"}], [Point(200, 56)])       # 4 m from C, 16 m from A's north part
    parts, _ = ind.lamp_coverage(both, lamp)
    lit = parts.groupby("road_id")["lit_m"].sum()
    assert lit["A"] == 0.0                                                        # 16 m < reach, but not its lamp
    assert lit["C"] == pytest.approx(2 * math.sqrt(25 ** 2 - 4 ** 2), abs=0.1)   # chord of the 25 m disc (a polygon)


def test_roads_crossing_the_built_up_boundary_twice_per_zone():
    U = shapely.difference(box(0, 0, 300, 100), box(100, 50, 200, 100))        # a U: the notch is outside
    B = gdf([{"name": "城区"}], [U])
    straight = LineString([(-50, 75), (350, 75)])            # inside on x ∈ [0, 100] and [200, 300]: 200 m
    # a closed road starting on its top edge; crosses y = 0 twice; 550 m long, 250 m inside (y ≥ 0)
    ring = LineString([(150, 25), (50, 25), (50, -50), (250, -50), (250, 25), (150, 25)])
    roads = gdf([{"road_id": "s", "road_class": "branch"}, {"road_id": "r", "road_class": "branch"}], [straight, ring])
    lamps = gdf([{"lamp_id": "L", "status": "working"}], [Point(150, 25)])       # the ring's start
    zones = gdf([{"zone_id": "W", "name": "西"}, {"zone_id": "E", "name": "东"}], [box(0, 0, 150, 100),
                                                                                   box(150, 0, 300, 100)])
    t = ind.indicator_table(B, roads=roads, lamps=lamps, zones=zones)
    assert row(t, "road_length")["value"] == pytest.approx(200 + 250, abs=1e-6)
    # lit: 25 m each way from (150, 25) along the ring's top edge, all inside
    assert row(t, "lamp_installation_rate")["value"] == pytest.approx(100 * 50 / 450, abs=1e-6)
    for z in ("W", "E"):   # each half: straight 100 m + ring 100 m top + 25 m side; lit 25 m
        assert row(t, "road_length", scope="zone", zone_id=z)["value"] == pytest.approx(225.0, abs=1e-6)
        assert row(t, "lamp_installation_rate", scope="zone", zone_id=z)["value"] == pytest.approx(100 * 25 / 225,
                                                                                                   abs=1e-6)
    # the same length by plain shapely: clip each road to the U
    assert sum(shapely.intersection(g, U).length for g in (straight, ring)) == pytest.approx(450.0)


# ============================================================================ areas
def test_overlapping_residential_blocks_are_unioned_in_service_coverage():
    B = gdf([{"name": "城区"}], [box(-2000, -2000, 2000, 2000)])
    # a 2 000 m² park (300 m tier) whose buffer's straight south edge is y = 350 − 300 = 50
    green = gdf([{"green_id": "p", "category": "G1"}], [box(-1000, 350, 1000, 351)])
    res = gdf([{"res_id": "r1", "name": "甲", "population": 100}, {"res_id": "r2", "name": "乙", "population": 100}],
              [box(0, 0, 200, 100), box(100, 50, 300, 100)])                    # overlap 100 × 50
    land = 200 * 100 + 200 * 50 - 100 * 50                                        # 25 000 m² of land
    served = 300 * 50                                                             # y ∈ [50, 100], x ∈ [0, 300]
    assert shapely.union_all(res.geometry.values).area == land
    t = ind.indicator_table(B, green=green, residential=res)
    assert row(t, "park_service_coverage")["value"] == pytest.approx(100 * served / land)   # 60 %, not 66.7 %
    assert row(t, "residents")["value"] == pytest.approx(200.0)                  # residents stay per block
    per_block = ind.residential_service(res, green)
    assert per_block["res_m2"].tolist() == pytest.approx([20_000, 10_000])       # per-block figures
    assert per_block["served_m2"].tolist() == pytest.approx([10_000, 10_000])


# ============================================================================ canopy raster
def _ws_with_built_up(tmp_path, geom):
    ws = Workspace.create(tmp_path / "w.gpkg", crs=f"EPSG:{CRS}")
    path = tmp_path / "b.geojson"
    gdf([{"name": "城区"}], [geom]).to_crs(4326).to_file(path)
    import_file(ws, "built_up", path)
    return ws


def test_canopy_in_wgs84_with_nodata_blocks_is_left_out_of_the_coverage(tmp_path):
    bu = box(X0, Y0, X0 + 2000, Y0 + 2000)
    ws = _ws_with_built_up(tmp_path, bu)
    lon0, lat0, lon1, lat1 = gpd.GeoSeries([bu], crs=CRS).to_crs(4326).total_bounds
    res = 0.0005                                                                  # ≈ 50 m
    w0, n0 = lon0 - 0.005, lat1 + 0.005
    width, height = int((lon1 - lon0 + 0.01) / res) + 1, int((lat1 - lat0 + 0.01) / res) + 1
    cover = np.full((height, width), 0.6, "float32")
    west = int(width * 0.4)
    cover[:, :west] = -9999.0                                                     # a cloud-masked western block
    cover[: height // 4, west:] = -9999.0                                         # and a clipped northern strip
    src = tmp_path / "canopy.tif"
    with rasterio.open(src, "w", driver="GTiff", width=width, height=height, count=1, dtype="float32", crs="EPSG:4326",
                       transform=from_origin(w0, n0, res, res), nodata=-9999.0) as dst:
        dst.write(cover, 1)
    import_file(ws, "canopy", src)
    with rasterio.open(ws.raster_uri("canopy")) as r:                            # nodata survives the GeoPackage
        assert r.nodata is not None and r.read(1, masked=True).mask.any()
    t = ind.compute_indicators(ws)
    r = row(t, "green_coverage_ratio")
    assert r["value"] == pytest.approx(60.0, abs=1e-4)                           # every valid pixel is 0.6
    # the valid region, by plain geometry: lon ≥ west edge of the first valid column, lat ≤ the strip
    valid = gpd.GeoSeries([box(w0 + west * res, lat0 - 1, lon1 + 1, n0 - (height // 4) * res)], crs=4326).to_crs(CRS)
    share = valid.iloc[0].intersection(bu).area / bu.area
    got = float(r["note"].split("的 ")[1].split("%")[0])
    assert got == pytest.approx(100 * share, abs=3.0)                            # 50 m pixels along the edges


def test_all_nodata_and_off_county_rasters_are_refused(tmp_path):
    ws = _ws_with_built_up(tmp_path, box(X0, Y0, X0 + 2000, Y0 + 2000))
    empty = tmp_path / "empty.tif"
    with rasterio.open(empty, "w", driver="GTiff", width=10, height=10, count=1, dtype="float32", crs=f"EPSG:{CRS}",
                       transform=from_origin(X0, Y0 + 2000, 200, 200), nodata=-1) as dst:
        dst.write(np.full((10, 10), -1, "float32"), 1)
    with pytest.raises(ValidationError, match="无数据"):
        import_file(ws, "canopy", empty)
    far = tmp_path / "far.tif"
    with rasterio.open(far, "w", driver="GTiff", width=10, height=10, count=1, dtype="float32", crs=f"EPSG:{CRS}",
                       transform=from_origin(X0 + 100_000, Y0 + 2000, 200, 200)) as dst:
        dst.write(np.full((10, 10), 0.5, "float32"), 1)
    with pytest.raises(ValidationError, match="不在工作空间范围内"):
        import_file(ws, "canopy", far)
    assert ws.raster_uri("canopy") is None


# ============================================================================ missing is not a number
def test_missing_mech_swept_column_and_unknown_lamp_status_are_no_data(tmp_path):
    B = gdf([{"name": "城区"}], [box(-10, -10, 1000, 100)])
    roads = gdf([{"road_id": "a", "road_class": "branch", "width_m": 10.0}], [LineString([(0, 0), (500, 0)])])
    lamps = gdf([{"lamp_id": f"l{i}", "status": "unknown"} for i in range(3)], [Point(x, 2) for x in (0, 100, 200)])
    t = ind.indicator_table(B, roads=roads, lamps=lamps)
    for name in ("mech_sweeping_rate", "lamp_lighting_rate", "broken_lamp_count"):
        r = row(t, name)
        assert math.isnan(r["value"]) and pd.isna(r["passed"]), name
    assert "mech_swept" in row(t, "mech_sweeping_rate")["note"] and "无数据" in row(t, "mech_sweeping_rate")["note"]
    assert "3 盏" in row(t, "lamp_lighting_rate")["note"]
    assert row(t, "lamp_count")["value"] == 3
    # some statuses known: the unknown ones are left out of the rate, not counted as lit
    lamps2 = lamps.assign(status=["working", "broken", "unknown"])
    t2 = ind.indicator_table(B, roads=roads, lamps=lamps2)
    assert row(t2, "lamp_lighting_rate")["value"] == pytest.approx(50.0)
    assert "1 盏" in row(t2, "lamp_lighting_rate")["note"]
    # no width recorded: 无数据 too (not 0 %)
    roads3 = roads.assign(width_m=np.nan, mech_swept=True)
    r3 = row(ind.indicator_table(B, roads=roads3), "mech_sweeping_rate")
    assert math.isnan(r3["value"]) and pd.isna(r3["passed"]) and "width_m" in r3["note"]

    # the same through a workspace, the CLI's JSON and the report headline
    ws = _ws_with_built_up(tmp_path, box(X0 - 10, Y0 - 10, X0 + 1000, Y0 + 100))
    shifted = roads.translate(X0, Y0)
    ws.write("roads", gpd.GeoDataFrame(roads.drop(columns="geometry"), geometry=shifted.values, crs=CRS))
    ws.write("lamps", gpd.GeoDataFrame(lamps.drop(columns="geometry"), geometry=lamps.translate(X0, Y0).values, crs=CRS))
    ws.write("zones", gpd.GeoDataFrame({"zone_id": ["Z1"], "name": ["一区"]}, geometry=ws.read("built_up").geometry.values,
                                       crs=CRS))
    out = tmp_path / "ind.json"
    assert main(["indicators", str(ws.path), "--json", str(out)]) == 0
    rows = json.loads(out.read_text(encoding="utf-8"))
    rows = rows if isinstance(rows, list) else rows.get("indicators", rows.get("city", []))
    sweep = [r for r in rows if r["indicator"] == "mech_sweeping_rate" and r["scope"] == "city"]
    assert sweep and sweep[0]["value"] is None and sweep[0]["passed"] is None
    xlsx = tmp_path / "ind.xlsx"
    assert main(["indicators", str(ws.path), "--xlsx", str(xlsx)]) == 0
    sheet = pd.read_excel(xlsx, sheet_name="全县指标")
    cell = sheet[sheet["指标代码"] == "mech_sweeping_rate"].iloc[0]
    assert cell["数值"] == "无数据" and cell["达标"] == "—"
    # no cases, so the ledger and hot spots are incomplete (the report says so); the exit status counts them
    status = main(["report", str(ws.path), "--out", str(tmp_path / "rep")])
    report = json.loads((tmp_path / "rep" / "report.json").read_text(encoding="utf-8"))
    incomplete = {k for k, v in report["sections"].items() if not v["ok"]}
    assert {"ledger", "hotspots"} <= incomplete and status == len(incomplete)
    section = report["sections"]["indicators"]
    assert section["ok"], section.get("error")
    t_ws = ind.compute_indicators(ws)
    county = t_ws[(t_ws.scope == "city") & t_ws.road_class.isna()]
    assert section["assessed"] == int(county["passed"].notna().sum())
    assert "mech_sweeping_rate" not in set(county[county["passed"].notna()]["indicator"])


# ============================================================================ CRS guard
def test_wrong_first_crs_is_refused_and_changes_nothing(tmp_path):
    lonlat = gpd.GeoDataFrame({"name": ["城区"]}, geometry=[box(117.0, 31.5, 117.05, 31.55)], crs=None)
    shp = tmp_path / "b.shp"
    lonlat.to_file(shp)                                          # no .prj: the CRS must be given
    ws = Workspace.create(tmp_path / "w.gpkg")
    before = (tmp_path / "w.gpkg").read_bytes()
    # degrees declared as Gauss-Krüger metres: x = 117 m is 39.5 million m west of zone 39's easting
    with pytest.raises(ValidationError, match="适用范围"):
        import_file(ws, "built_up", shp, crs="EPSG:4527")
    assert (tmp_path / "w.gpkg").read_bytes() == before and Workspace(tmp_path / "w.gpkg").crs is None
    import_file(ws, "built_up", shp, crs="EPSG:4490")            # the right one: CGCS2000 lon/lat
    assert Workspace(tmp_path / "w.gpkg").crs.to_epsg() == 4527  # GK zone 39 (central meridian 117°E)


def test_a_stray_first_point_cannot_choose_the_crs_and_is_refused(tmp_path):
    lon = [-70.0] + [117.2 + 0.001 * i for i in range(20)]      # the first row was typed on another continent
    lat = [40.0] + [31.8 + 0.001 * i for i in range(20)]
    frame = gpd.GeoDataFrame({"toilet_id": [f"t{i}" for i in range(21)]}, geometry=gpd.points_from_xy(lon, lat), crs=4326)
    # bbox centre (23.6°E) would be UTM 34N; the median of the features is at 117.2°E → GK zone 39
    assert choose_crs_for(frame).to_epsg() == 4527
    csv = tmp_path / "t.csv"
    pd.DataFrame({"编号": frame["toilet_id"], "经度": lon, "纬度": lat}).to_csv(csv, index=False)
    ws = Workspace.create(tmp_path / "w.gpkg")
    with pytest.raises(ValidationError, match="t0"):
        import_file(ws, "toilets", csv, lon="经度", lat="纬度")
    assert Workspace(tmp_path / "w.gpkg").crs is None
    pd.DataFrame({"编号": frame["toilet_id"], "经度": lon, "纬度": lat}).iloc[1:].to_csv(csv, index=False)
    import_file(ws, "toilets", csv, lon="经度", lat="纬度")
    assert Workspace(tmp_path / "w.gpkg").crs.to_epsg() == 4527
    # once there is an extent, points 50 km away are refused (no built_up needed)
    far = tmp_path / "far.csv"
    pd.DataFrame({"编号": ["f1"], "经度": [117.75], "纬度": [31.8]}).to_csv(far, index=False)
    with pytest.raises(ValidationError):
        import_file(ws, "toilets", far, lon="经度", lat="纬度", append=True)


def test_analyses_refuse_geographic_coordinates():
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(117 + np.random.default_rng(1).random(40) * 0.01,
                                                      31 + np.random.default_rng(2).random(40) * 0.01), crs=4326)
    area = gpd.GeoDataFrame(geometry=[box(117, 31, 117.01, 31.01)], crs=4326)
    with pytest.raises(ValueError, match="经纬度"):
        hotspots(pts, area)
    with pytest.raises(ind.IndicatorError, match="投影"):
        ind.indicator_table(area.assign(name="城区"))


# ============================================================================ pyrosm's real extracts
PBF = {"test": pyrosm.get_data("test_pbf"), "helsinki": pyrosm.get_data("helsinki_pbf")}


@pytest.fixture(scope="module", params=sorted(PBF))
def town(request, tmp_path_factory):
    """import-osm of a real extract, plus a 1.6 km built-up square at the centre of its roads."""
    tmp = tmp_path_factory.mktemp(request.param)
    ws_path = tmp / "town.gpkg"
    assert main(["import-osm", str(ws_path), PBF[request.param]]) == 0
    ws = Workspace(ws_path)
    x0, y0, x1, y1 = ws.read("roads").total_bounds
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    b = gpd.GeoDataFrame({"name": ["城区"]}, geometry=[box(cx - 800, cy - 800, cx + 800, cy + 800)], crs=ws.crs)
    b.to_crs(4326).to_file(tmp / "b.geojson")
    assert main(["import", str(ws_path), "built_up", str(tmp / "b.geojson")]) == 0
    b.assign(zone_id="Z1").to_crs(4326).to_file(tmp / "z.geojson")
    assert main(["import", str(ws_path), "zones", str(tmp / "z.geojson")]) == 0
    return request.param, ws, tmp


def test_osm_counts_match_an_independent_reading(town):
    name, ws, _ = town
    path = PBF[name]
    # lamps: every node tagged highway=street_lamp, read with GDAL's default OSM configuration
    points = pyogrio.read_dataframe(path, layer="points")
    n_lamps = int((points["highway"] == "street_lamp").sum())
    assert (len(ws.read("lamps")) if ws.has("lamps") else 0) == n_lamps
    if n_lamps:
        assert set(ws.read("lamps")["status"]) == {"unknown"}
    # farmland polygons: the skipped count is the number of landuse=farmland polygons
    polys = pyogrio.read_dataframe(path, layer="multipolygons", on_invalid="ignore")
    result = import_osm(ws, path, layers=["green"], replace=["green"])  # a deliberate re-import
    rep = result.report
    farmland = rep[(rep.osm_tag == "landuse=farmland") & (rep.layer == "skipped")]["count"].sum()
    assert farmland == int((polys["landuse"] == "farmland").sum())
    # repaired + kept + skipped green features add up to the polygons carrying a green tag
    green_rows = rep[rep.layer.isin(["green", "skipped"]) & ~rep.osm_tag.str.contains("node|residential|highway")]
    assert int(green_rows[green_rows.layer == "green"]["count"].sum()) == len(ws.read("green"))


def test_osm_town_indicators_agree_with_geopandas_and_report_finishes(town):
    name, ws, tmp = town
    B = ws.read("built_up")
    bu = B.geometry.iloc[0]
    roads = ws.read("roads")
    t = ind.compute_indicators(ws)
    # road length: geopandas clip of the stored roads to the built-up square (rings included)
    expected = gpd.clip(roads, bu).length.sum()
    assert row(t, "road_length")["value"] == pytest.approx(expected, rel=1e-6)
    # 装灯率: each lamp → its nearest road within 40 m; lit = road ∩ ⋃ 25 m discs of its lamps, ∩ B
    if ws.has("lamps"):
        lamps = ws.read("lamps")
        near = gpd.sjoin_nearest(lamps, roads[["road_id", "geometry"]], max_distance=40.0, how="inner")
        near = near[~near.index.duplicated()]
        lit = 0.0
        for rid, group in near.groupby("road_id"):
            road = roads.loc[roads.road_id == rid].geometry.iloc[0]
            lit += road.intersection(shapely.union_all(group.geometry.buffer(25.0, 16).values)).intersection(bu).length
        assert row(t, "lamp_installation_rate")["value"] == pytest.approx(100 * lit / expected, rel=5e-3)
        inside = int(lamps.within(bu.buffer(1e-6)).sum())
        assert row(t, "lamp_count")["value"] == pytest.approx(inside, abs=1)
    # OSM records no patrol status, no sweeping: 无数据, neither passed nor failed
    for missing in ("lamp_lighting_rate", "mech_sweeping_rate"):
        r = row(t, missing)
        assert math.isnan(r["value"]) and pd.isna(r["passed"])
    # no cases, so the ledger and hot spots are incomplete (the report says so); the exit status counts them
    status = main(["report", str(ws.path), "--out", str(tmp / "report")])
    sections = json.loads((tmp / "report" / "report.json").read_text(encoding="utf-8"))["sections"]
    incomplete = {k for k, v in sections.items() if not v["ok"]}
    assert {"ledger", "hotspots"} <= incomplete and status == len(incomplete)
    html = (tmp / "report" / "index.html").read_text(encoding="utf-8")
    assert "无数据" in html
    # the zone ranking: no cases layer and no lamp states are 无数据 (null), not 0 open cases or 0 broken lamps
    (zone,) = sections["zones"]["table"]
    assert zone["cases_open"] is None and zone["cases_overdue"] is None
    if ws.has("lamps") and zone["lamps"]:
        assert zone["lamps_broken"] is None
        assert "均未记录状态" in sections["zones"]["warnings"][0] and "均未记录状态" in html   # and why
    section = json.loads((tmp / "report" / "report.json").read_text(encoding="utf-8"))["sections"]["indicators"]
    county = t[(t.scope == "city") & t.road_class.isna()]
    assert section["ok"] and section["assessed"] == int(county["passed"].notna().sum())   # 无数据 rows not assessed
