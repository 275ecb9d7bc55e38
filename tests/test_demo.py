"""The demo county: deterministic, the right size, and the planted facts really are in the files.

Every check reads the raw files with geopandas/pandas/rasterio (not civgis) and measures with
shapely in the Gauss-Krüger CRS, so the manifest is verified independently of the generator.
"""

from __future__ import annotations

import hashlib
import json
import os
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from pyproj import Transformer
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from civgis.store.coords import gcj02_to_wgs84, bd09_to_wgs84
from civgis.demo import demo_workspace, generate_demo_files

GK = 4527
CLASSES_ZH = {"主干道", "次干道", "支路", "商业街", "背街小巷"}


@pytest.fixture(scope="module")
def manifest(demo_dir):
    return json.loads((demo_dir / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def built(demo_dir):
    return gpd.read_file(demo_dir / "built_up.geojson").to_crs(GK).geometry.union_all()


@pytest.fixture(scope="module")
def roads(demo_dir):
    return gpd.read_file(demo_dir / "roads.shp", encoding="gbk").to_crs(GK)


@pytest.fixture(scope="module")
def lamps(demo_dir):
    df = pd.read_csv(demo_dir / "lamps.csv", encoding="gbk", dtype={"路灯编号": str})
    lon, lat = gcj02_to_wgs84(df["经度"].to_numpy(), df["纬度"].to_numpy())
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(lon, lat), crs=4326).to_crs(GK)


def _digest(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


# ---------------------------------------------------------------------- determinism
def test_same_seed_same_bytes_other_seed_other_town(tmp_path):
    a = generate_demo_files(tmp_path / "a", scale=0.2)
    time.sleep(1.1)  # a timestamp that leaked into a file would now differ
    b = generate_demo_files(tmp_path / "b", scale=0.2)
    c = generate_demo_files(tmp_path / "c", scale=0.1, seed=7)
    da, db, dc = _digest(tmp_path / "a"), _digest(tmp_path / "b"), _digest(tmp_path / "c")
    assert set(da) >= {"built_up.geojson", "zones.gpkg", "green.gpkg", "residential.gpkg", "candidates.geojson",
                       "roads.shp", "roads.dbf", "roads.prj", "lamps.csv", "toilets.xlsx", "inspections.csv",
                       "canopy.tif", "manifest.json"}
    assert da == db  # byte for byte, xlsx and GeoPackages included
    assert a == b
    assert da["lamps.csv"] != dc["lamps.csv"] and da["zones.gpkg"] != dc["zones.gpkg"]
    assert c["seed"] == 7 and a["seed"] == 20261128
    # scale multiplies area: 0.2 × 17.5 km²
    area = gpd.read_file(tmp_path / "a" / "built_up.geojson").to_crs(GK).area.sum()
    assert area == pytest.approx(0.2 * 17.5e6, rel=0.02)


# ---------------------------------------------------------------------- sizes
def test_sizes_in_range(demo_dir, manifest, built, roads, lamps):
    assert 15e6 <= built.area <= 20e6
    assert built.area == pytest.approx(manifest["counts"]["built_up_area_m2"], rel=1e-6)
    # an irregular outline, not a square: concave, and far from filling its bounding rectangle
    assert built.area / built.convex_hull.area < 0.97
    assert built.area / shapely.oriented_envelope(built).area < 0.85
    assert shapely.get_num_coordinates(built) > 100

    res = gpd.read_file(demo_dir / "residential.gpkg")
    assert res["常住人口"].dtype.kind == "i"
    assert 140_000 <= res["常住人口"].sum() <= 160_000
    assert 200 <= len(res) <= 600
    assert res["小区名称"].is_unique
    assert res["小区名称"].str.contains("小区").mean() > 0.15
    assert res["小区名称"].str.contains(r"(小区|花园|家园|苑|新村)(.期)?$").all()

    zones = gpd.read_file(demo_dir / "zones.gpkg")
    assert 40 <= len(zones) <= 60
    assert zones["责任区编号"].str.fullmatch(r"Z\d\d").all()
    assert zones["责任区名称"].str.fullmatch(r".+街道第.+责任区").all()
    assert zones["责任单位"].str.contains("中队").all()

    assert set(roads["道路等级"]) == CLASSES_ZH
    assert set(roads["机扫"]) == {"是", "否"}
    widths = roads.groupby("道路等级")["路宽"].median()
    assert widths["主干道"] > widths["次干道"] > widths["支路"] > widths["背街小巷"]
    assert roads["道路名称"].notna().all()

    assert 3000 <= len(lamps) <= 8000
    broken = (lamps["状态"] == "故障").mean()
    assert 0.01 <= broken <= 0.06
    assert set(lamps["状态"]) == {"正常", "故障"}

    toilets = pd.read_excel(demo_dir / "toilets.xlsx")
    assert list(toilets.columns) == ["公厕编号", "名称", "经度", "纬度", "无障碍"]
    assert 30 <= len(toilets) <= 60
    assert set(toilets["无障碍"]) == {"是", "否"}

    cands = gpd.read_file(demo_dir / "candidates.geojson").to_crs(GK)
    assert 30 <= len(cands) <= 80
    assert cands.area.min() >= 500 - 1 and cands.area.max() <= 15000 + 1


def test_files_look_like_office_files(demo_dir, manifest):
    # the shapefile is GBK without a .cpg: the user must pass --encoding gbk
    assert not (demo_dir / "roads.cpg").exists()
    dbf = (demo_dir / "roads.dbf").read_bytes()
    assert "主干道".encode("gbk") in dbf and "道路名称".encode("gbk") in dbf
    with pytest.raises(UnicodeDecodeError):
        (demo_dir / "lamps.csv").read_bytes().decode("utf-8")
    assert (demo_dir / "lamps.csv").read_text(encoding="gbk").startswith("路灯编号,经度,纬度,状态\n")
    imports = {i["layer"]: i for i in manifest["imports"]}
    assert set(imports) == {"built_up", "zones", "green", "residential", "candidates", "roads", "lamps", "toilets",
                            "inspections", "canopy"}
    assert imports["roads"]["options"] == {"encoding": "gbk"}
    assert imports["lamps"]["options"] == {"encoding": "gbk", "lon": "经度", "lat": "纬度", "coords": "gcj02"}
    assert imports["toilets"]["coords"] == "bd09" and imports["inspections"]["coords"] == "gcj02"
    assert pyogrio.read_info(demo_dir / "green.gpkg")["crs"] == "EPSG:4490"
    assert pyogrio.read_info(demo_dir / "zones.gpkg")["crs"] == "EPSG:4527"
    assert manifest["crs"] == "EPSG:4527"


# ---------------------------------------------------------------------- road network
def test_roads_form_one_network_split_at_intersections(roads):
    geoms = roads.geometry.explode(index_parts=False).to_numpy()
    assert shapely.get_type_id(geoms).tolist() == [1] * len(geoms)
    ends = np.r_[shapely.get_coordinates(shapely.get_point(geoms, 0)),
                 shapely.get_coordinates(shapely.get_point(geoms, -1))]
    uniq, node = np.unique(ends, axis=0, return_inverse=True)
    n = len(geoms)
    a, b = node[:n], node[n:]
    graph = coo_matrix((np.ones(n), (a, b)), shape=(len(uniq), len(uniq)))
    n_comp, _ = connected_components(graph, directed=False)
    assert n_comp == 1
    # wherever two segments meet, they meet at an endpoint both share exactly
    tree = shapely.STRtree(geoms)
    i, j = tree.query(geoms, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    assert len(i) > len(geoms)  # plenty of junctions
    meet = shapely.intersection(geoms[i], geoms[j])
    assert np.all(np.isin(shapely.get_type_id(meet), [0, 4]))  # points, never overlapping stretches
    pts = shapely.get_coordinates(meet)
    owner = np.repeat(np.arange(len(i)), shapely.get_num_coordinates(meet))
    ends_i = np.stack([ends[i[owner]], ends[n + i[owner]]], axis=1)
    ends_j = np.stack([ends[j[owner]], ends[n + j[owner]]], axis=1)
    assert np.all((ends_i == pts[:, None, :]).all(axis=2).any(axis=1))
    assert np.all((ends_j == pts[:, None, :]).all(axis=2).any(axis=1))


# ---------------------------------------------------------------------- planted facts
def test_planted_zone_gaps_and_overlaps_are_in_the_geometry(demo_dir, manifest, built):
    zones = gpd.read_file(demo_dir / "zones.gpkg")
    geoms = zones.geometry.to_numpy()
    ids = zones["责任区编号"].to_numpy()
    planted_gaps = manifest["planted"]["zone_gaps"]
    planted_overlaps = manifest["planted"]["zone_overlaps"]
    assert len(planted_gaps) >= 3 and len(planted_overlaps) >= 3

    holes = shapely.get_parts(shapely.difference(built, shapely.union_all(geoms)))
    holes = holes[shapely.area(holes) > 1.0]
    assert len(holes) == len(planted_gaps)
    for gap in planted_gaps:
        poly = shapely.from_wkt(gap["wkt"])
        assert poly.area == pytest.approx(gap["area_m2"], rel=1e-4)
        assert 500 < gap["area_m2"] < 10000
        match = holes[shapely.intersects(holes, shapely.Point(gap["x"], gap["y"]))]
        assert len(match) == 1
        assert match[0].area == pytest.approx(gap["area_m2"], rel=1e-3)

    tree = shapely.STRtree(geoms)
    i, j = tree.query(geoms, predicate="intersects")
    keep = i < j
    inter = shapely.area(shapely.intersection(geoms[i[keep]], geoms[j[keep]]))
    real = inter > 1.0
    found = {tuple(sorted((ids[a], ids[b]))): area for a, b, area in
             zip(i[keep][real], j[keep][real], inter[real])}
    assert len(found) == len(planted_overlaps)
    for ov in planted_overlaps:
        assert found[tuple(sorted(ov["zones"]))] == pytest.approx(ov["area_m2"], rel=1e-3)
        assert 300 < ov["area_m2"] < 10000

    missing = {m["field"]: m["zone_id"] for m in manifest["planted"]["zones_missing_contact"]}
    assert zones.loc[zones["责任区编号"] == missing["staff"], "责任人"].isna().all()
    assert zones.loc[zones["责任区编号"] == missing["phone"], "联系电话"].isna().all()
    assert zones["责任人"].notna().sum() == len(zones) - 1


def test_lamps_land_on_their_roads_and_unlit_stretches_are_dark(lamps, roads, manifest):
    lines = roads.geometry.to_numpy()
    tree = shapely.STRtree(lines)
    _, dist = tree.query_nearest(lamps.geometry.to_numpy(), return_distance=True, all_matches=False)
    assert dist.max() < 1.0  # GCJ-02 → WGS84 → GK puts every lamp back on a road centre line

    # spacing 30–40 m: neighbouring lamps on a road
    nn, d = shapely.STRtree(lamps.geometry.to_numpy()).query_nearest(lamps.geometry.to_numpy(), exclusive=True,
                                                                     return_distance=True, all_matches=False)
    assert 20 <= np.median(d) <= 40

    unlit = manifest["planted"]["unlit_stretches"]
    assert len(unlit) >= 3
    # apart from the planted stretches, every metre of road is within 22 m of a lamp (half a spacing + jitter)
    dense = shapely.segmentize(lines, 5.0)
    samples = shapely.points(shapely.get_coordinates(dense))
    _, d = shapely.STRtree(lamps.geometry.to_numpy()).query_nearest(samples, return_distance=True,
                                                                    all_matches=False)
    dark = samples[d > 22.0]
    stretches = shapely.union_all([shapely.from_wkt(s["wkt"]) for s in unlit]).buffer(0.5)
    assert len(dark) > 0 and shapely.within(dark, stretches).all()
    by_id = roads.set_index("道路编号").geometry
    pts = lamps.geometry.to_numpy()
    for s in unlit:
        line = by_id[s["road_id"]]
        near = pts[shapely.distance(pts, line) < 1.0]
        along = np.sort(shapely.line_locate_point(line, near))
        inside = along[(along > s["from_m"] + 0.5) & (along < s["to_m"] - 0.5)]
        assert inside.size == 0, s["road_id"]
        assert s["to_m"] - s["from_m"] > 2 * s["spacing_m"]
        assert s["lamp_free_m"] == pytest.approx(s["to_m"] - s["from_m"], abs=0.02)
        # the road is otherwise lit: neighbours of the stretch are real lamps on it
        assert np.any(np.abs(along - s["from_m"]) < 0.5) or s["from_m"] == 0
        assert np.any(np.abs(along - s["to_m"]) < 0.5) or s["to_m"] == pytest.approx(line.length, abs=0.01)


def test_toilets_bd09_convert_back_near_a_road(demo_dir, roads):
    t = pd.read_excel(demo_dir / "toilets.xlsx")
    lon, lat = bd09_to_wgs84(t["经度"].to_numpy(), t["纬度"].to_numpy())
    x, y = Transformer.from_crs(4326, GK, always_xy=True).transform(lon, lat)
    _, dist = shapely.STRtree(roads.geometry.to_numpy()).query_nearest(shapely.points(x, y), return_distance=True,
                                                                       all_matches=False)
    assert np.median(dist) < 40 and dist.max() < 400


def test_inspections_are_consistent_and_clustered(demo_dir, manifest):
    df = pd.read_csv(demo_dir / "inspections.csv", dtype={"category": str, "case_id": str})
    assert list(df.columns) == ["case_id", "category", "reported_at", "deadline", "closed_at", "status", "lon", "lat"]
    assert 20_000 <= len(df) <= 60_000
    assert df.case_id.is_unique
    rep = pd.to_datetime(df.reported_at, format="ISO8601")
    due = pd.to_datetime(df.deadline, format="ISO8601")
    closed = pd.to_datetime(df.closed_at, format="ISO8601")
    today = pd.Timestamp(manifest["today"])
    assert rep.min() >= pd.Timestamp("2024-12-01") and rep.max() < pd.Timestamp("2026-11-28")
    assert ((due - rep) >= pd.Timedelta(hours=24)).all() and ((due - rep) <= pd.Timedelta(days=7)).all()
    assert ((df.status == "closed") == closed.notna()).all()
    assert (closed.dropna() > rep[closed.notna()]).all() and (closed.dropna() <= today).all()
    late = (closed > due).mean()
    assert 0.03 < late < 0.2
    open_overdue = ((df.status == "open") & (due < today)).sum()
    assert open_overdue > 50
    assert open_overdue == manifest["counts"]["inspections_open_overdue"]
    from civgis.store.catalogue import layer_spec

    assert set(df.category) <= set(layer_spec("inspections").fields["category"].values)

    lon, lat = gcj02_to_wgs84(df.lon.to_numpy(), df.lat.to_numpy())
    x, y = Transformer.from_crs(4326, GK, always_xy=True).transform(lon, lat)
    area = manifest["counts"]["built_up_area_m2"]
    base = len(df) / area  # cases per m² if spread evenly
    for h in manifest["planted"]["hotspots"]:
        r = 2 * h["sigma_m"]
        near = (x - h["x"]) ** 2 + (y - h["y"]) ** 2 < r * r
        factor = 2.5 if h["sigma_m"] > 150 else 5.0  # the old town is a broad cluster, markets tight ones
        assert near.sum() > factor * base * np.pi * r * r, h["name"]
        assert df.category[near].isin(h["categories"]).mean() > 0.5

    g = manifest["planted"]["growing_trend"]
    near = ((x - g["x"]) ** 2 + (y - g["y"]) ** 2 < (2 * g["sigma_m"]) ** 2) & df.category.isin(g["categories"]).to_numpy()
    start = pd.Timestamp(g["start"])
    before = (near & (rep < start)).sum() / ((start - pd.Timestamp("2024-12-01")).days)
    first = (near & (rep >= start) & (rep < start + pd.Timedelta(days=120))).sum() / 120
    last = (near & (rep >= pd.Timestamp("2026-07-30"))).sum() / (pd.Timestamp("2026-11-28") - pd.Timestamp("2026-07-30")).days
    assert last > 3 * first and last > 5 * before


def test_green_classes_sizes_overlaps_and_canopy(demo_dir, manifest, built):
    import rasterio
    from rasterio.mask import mask

    green = gpd.read_file(demo_dir / "green.gpkg").to_crs(GK)
    green["area"] = green.area
    assert set(green["绿地类别"]) == {"G1", "G2", "G3", "XG", "EG"}
    g1 = green[green["绿地类别"] == "G1"]
    assert set(g1["中类"]) == {"G11", "G12", "G13", "G14"}
    assert g1["area"].max() >= 200_000  # a 20+ ha comprehensive park
    assert g1["area"].min() <= 1_000  # and pocket parks of several hundred m²
    eg = green[green["绿地类别"] == "EG"].geometry
    assert shapely.area(shapely.intersection(eg.to_numpy(), built)).sum() < 1.0
    inside = shapely.intersection(green[green["绿地类别"] != "EG"].geometry.to_numpy(), built)
    total, union = shapely.area(inside).sum(), shapely.union_all(inside).area
    assert total - union > 10_000  # overlapping polygons: union matters
    assert union == pytest.approx(manifest["planted"]["green"]["union_area_in_built_up_m2"], rel=1e-4)
    assert 0.15 < union / built.area < 0.45

    with rasterio.open(demo_dir / "canopy.tif") as src:
        assert src.crs.to_epsg() == GK and src.res == (10.0, 10.0) and src.dtypes[0] == "float32"
        cover = src.read(1)
        assert cover.min() >= 0.0 and cover.max() <= 1.0
        park = g1.loc[g1["area"].idxmax()].geometry
        park_cover, _ = mask(src, [park.buffer(-20)], crop=True, nodata=-1)
        res = gpd.read_file(demo_dir / "residential.gpkg").geometry.union_all()
        plain, _ = mask(src, [shapely.difference(res, shapely.union_all(green.geometry.to_numpy()))], crop=True,
                        nodata=-1)
    assert park_cover[park_cover >= 0].mean() > 0.55
    assert plain[plain >= 0].mean() < 0.3
    assert 0.1 < cover.mean() < 0.6


def test_park_desert_and_candidates(demo_dir, manifest):
    desert = shapely.from_wkt(manifest["planted"]["park_desert"]["wkt"])
    green = gpd.read_file(demo_dir / "green.gpkg").to_crs(GK)
    parks = green[green["绿地类别"] == "G1"].geometry.to_numpy()
    assert not shapely.intersects(parks, desert).any()
    cands = gpd.read_file(demo_dir / "candidates.geojson").to_crs(GK)
    in_desert = cands.loc[cands.intersects(desert), "地块编号"].tolist()
    assert sorted(in_desert) == sorted(manifest["planted"]["park_desert"]["candidates"])
    # some candidate plots are far (> 500 m) from any park
    d = shapely.distance(cands.geometry.to_numpy()[:, None], parks[None, :]).min(axis=1)
    assert (d > 500).sum() >= 3


# ---------------------------------------------------------------------- the workspace
def test_demo_workspace_imports_every_file(demo_ws):
    from civgis.demo import load_manifest

    m = load_manifest(demo_ws.path.parent)
    counts = m["counts"]
    assert demo_ws.crs.to_epsg() == GK
    assert set(demo_ws.layers()) == {"built_up", "zones", "green", "roads", "lamps", "toilets", "residential",
                                     "inspections", "candidates", "canopy"}
    roads = demo_ws.read("roads")
    assert set(roads.road_class) == {"arterial", "secondary", "branch", "commercial", "alley"}
    assert roads.mech_swept.dtype == bool or str(roads.mech_swept.dtype) == "boolean"
    assert len(roads) == counts["roads"]
    lamps = demo_ws.read("lamps")
    assert len(lamps) == counts["lamps"] and (lamps.status == "broken").sum() == counts["lamps_broken"]
    _, dist = shapely.STRtree(roads.geometry.to_numpy()).query_nearest(lamps.geometry.to_numpy(),
                                                                       return_distance=True, all_matches=False)
    assert dist.max() < 1.0
    res = demo_ws.read("residential")
    assert res.population.sum() == counts["residents"] == 150_000
    cases = demo_ws.read("inspections")
    assert len(cases) == counts["inspections"]
    assert (cases.status == "open").sum() == counts["inspections_open"]
    assert cases.closed_at.isna().sum() == counts["inspections_open"]
    assert demo_ws.read("toilets").accessible.sum() == counts["toilets_accessible"]
    assert demo_ws.read("built_up").area.sum() == pytest.approx(counts["built_up_area_m2"], rel=1e-6)


def test_demo_workspace_is_cached_and_rebuilt_when_stale(tmp_path, monkeypatch):
    import civgis.demo.workspace as demo

    from civgis.store.workspace import Workspace

    calls = []

    def fake_build(out_dir, **kw):  # the caching logic, without importing a whole county
        calls.append(out_dir)
        (out_dir / "raw").mkdir(parents=True, exist_ok=True)
        (out_dir / "raw" / "manifest.json").write_text("{}")
        (out_dir / "county.gpkg").unlink(missing_ok=True)
        return Workspace.create(out_dir / "county.gpkg", crs=GK)

    monkeypatch.setattr(demo, "build_demo_workspace", fake_build)
    ws1 = demo_workspace(tmp_path / "nb")
    ws2 = demo_workspace(tmp_path / "nb")
    assert ws1.path == ws2.path == tmp_path / "nb" / "county.gpkg" and len(calls) == 1
    os.utime(ws1.path, (0, 0))  # older than civgis/demo.py → rebuilt
    demo_workspace(tmp_path / "nb")
    assert len(calls) == 2 and ws1.path.stat().st_mtime > 0
    ws1.path.unlink()  # missing → rebuilt
    demo_workspace(tmp_path / "nb")
    assert len(calls) == 3


def test_facility_reports_gather_at_broken_lamps(demo_dir, lamps, manifest):
    df = pd.read_csv(demo_dir / "inspections.csv", dtype={"category": str})
    lon, lat = gcj02_to_wgs84(df.lon.to_numpy(), df.lat.to_numpy())
    x, y = Transformer.from_crs(4326, GK, always_xy=True).transform(lon, lat)
    broken = lamps.geometry[lamps["状态"] == "故障"].to_numpy()
    _, d = shapely.STRtree(broken).query_nearest(shapely.points(x, y), return_distance=True, all_matches=False)
    near = d < 12.0  # 4 σ of the 3 m scatter
    facility = (df.category == "0601").to_numpy()
    assert (near & facility).sum() >= manifest["counts"]["inspections_at_broken_lamps"] > 50
    # other categories land there only by chance
    assert (near & facility).sum() > 5 * (near & ~facility).sum()
