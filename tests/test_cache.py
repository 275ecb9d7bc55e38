"""The workspace cache (civgis.store.cache): keyed on inputs, invalidated by a changed layer, never
written for a read-only workspace, and never a reason for a different number.

The scene: one 80 × 50 m park (4 000 m² → 300 m radius), a street 10 m south of it, and a
residential block 100 × 30 m sampled on a 10 m grid (30 cells of 100 m²). Walking from the
park's entry stretch on the street (up to x = 80 + √(20² − 10²) = 97.3) to the cells, 21 of
the 30 cells are within 300 m (worked out in tests/test_indicators.py): 70 %.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, box

import civgis.analysis.indicators as ind
from civgis.store.cache import NO_CACHE, WorkspaceCache, content_key, workspace_cache
from civgis.store.layers import Layers
from civgis.store.workspace import Workspace
from users import as_user, open_folder

CRS = 4527
X0, Y0 = 500_000.0, 3_000_000.0
ROOT = Path(__file__).resolve().parent.parent


def gdf(rows, geoms):
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=list(geoms), crs=CRS)


def moved(geom):
    from shapely import affinity

    return affinity.translate(geom, X0, Y0)


def street(x0: float):
    return gdf([{"road_id": "s", "road_class": "branch"}], [moved(LineString([(x0, -10), (600, -10)]))])


def walk_scene(folder: Path) -> Workspace:
    ws = Workspace.create(folder / "county.gpkg", crs=CRS)
    ws.write("built_up", gdf([{"name": "城区"}], [moved(box(-1000, -1000, 3000, 3000))]))
    ws.write("green", gdf([{"green_id": "p", "category": "G1"}], [moved(box(0, 0, 80, 50))]))
    ws.write("roads", street(-100.0))
    ws.write("residential", gdf([{"res_id": "r", "name": "甲", "population": 100}], [moved(box(300, -50, 400, -20))]))
    return ws


def walk_value(ws, **kw) -> float:
    t = ind.compute_indicators(ws, walk_cell_m=10.0, **kw)
    return float(t.loc[(t.indicator == "park_walk_coverage") & (t.scope == "city"), "value"].iloc[0])


def entries(ws) -> list[str]:
    folder = workspace_cache(ws).folder
    return sorted(p.name.split("-")[0] for p in folder.glob("*.npz")) if folder.exists() else []


def test_key_follows_the_content():
    a = gdf([{"x": 1}], [box(0, 0, 10, 10)])
    b = gdf([{"x": 1}], [box(0, 0, 10, 10.001)])           # one vertex moved by 1 mm
    assert content_key(a, 20.0) == content_key(a.copy(), 20.0)
    assert content_key(a, 20.0) != content_key(b, 20.0)
    assert content_key(a, 20.0) != content_key(a, 10.0)
    assert content_key(np.arange(3)) != content_key(np.arange(3.0))   # the dtype is part of the key


def test_round_trip_keeps_only_the_newest_entry_and_reads_a_corrupt_file_as_a_miss(tmp_path):
    gpkg = tmp_path / "c.gpkg"
    gpkg.write_bytes(b"")
    cache = WorkspaceCache.for_path(gpkg)
    assert cache.put("walk_samples", "ab12", {"x": np.array([1.5, 2.5])})
    assert cache.get("walk_samples", "ab12")["x"].tolist() == [1.5, 2.5]
    assert cache.put("walk_samples", "cd34", {"x": np.array([3.0])})
    assert cache.get("walk_samples", "ab12") is None                 # replaced, not piled up
    assert [p.name for p in cache.folder.iterdir()] == ["walk_samples-cd34.npz"]
    (cache.folder / "walk_samples-cd34.npz").write_bytes(b"not an npz")
    assert cache.get("walk_samples", "cd34") is None
    assert NO_CACHE.get("walk_samples", "cd34") is None and NO_CACHE.put("walk_samples", "cd34", {}) is False
    with pytest.raises(ValueError):
        cache.get("../evil", "00")


def test_network_round_trips_bit_for_bit():
    from civgis.analysis import network as net

    n = net.build_network([LineString([(0, 0), (200, 0)]), LineString([(100, -100), (100, 100), (150, 120)])])
    back = net.network_from_arrays(net.network_to_arrays(n))
    assert (back.node_xy == n.node_xy).all() and (back.edge_u == n.edge_u).all() and (back.edge_v == n.edge_v).all()
    assert all(a.equals_exact(b, 0.0) for a, b in zip(back.edge_geom, n.edge_geom))


def test_walk_figure_cold_warm_and_after_a_change(tmp_path):
    ws = walk_scene(tmp_path)
    assert walk_value(ws) == pytest.approx(70.0)                        # cold: computed and stored
    assert [e for e in entries(ws) if e.startswith("walk_")] == ["walk_network", "walk_samples", "walk_snap"]
    stamps = {p.name: p.stat().st_mtime_ns for p in workspace_cache(ws).folder.iterdir()}
    with Layers(ws) as snap:                                            # a run's snapshot uses the same cache
        assert walk_value(snap) == pytest.approx(70.0)
    assert {p.name: p.stat().st_mtime_ns for p in workspace_cache(ws).folder.iterdir()} == stamps  # read, not rewritten
    # the street now starts at x = 200: 120 m from the park's corner, no street within 20 m of the
    # park, so nobody walks to it — a stale network (the old street) would still say 70 %
    ws.write("roads", street(200.0))
    assert walk_value(ws) == 0.0
    names = {p.name for p in workspace_cache(ws).folder.glob("walk_*")}
    assert names != {n for n in stamps if n.startswith("walk_")} and len(names) == 3   # new network and snap
    ws.write("roads", street(-100.0))
    assert walk_value(ws) == pytest.approx(70.0)


def lamp_rate(ws) -> float:
    t = ind.compute_indicators(ws, walk_cell_m=10.0)
    rows = t[(t.indicator == "lamp_installation_rate") & (t.scope == "city") & t.road_class.isna()]
    return float(rows["value"].iloc[0])


def test_lamp_cover_cold_warm_and_after_a_lamp_moves(tmp_path):
    """The lamps' lit stretches are kept like the walking network: stored cold, read warm (not rewritten), and a
    moved lamp is a new key. The street runs 700 m (x = −100 … 600); a lamp lights 25 m each way of its foot."""
    from shapely.geometry import Point

    ws = walk_scene(tmp_path)
    lamps = lambda x: gdf([{"lamp_id": "L1", "status": "working"}], [moved(Point(x, -10))])   # noqa: E731
    ws.write("lamps", lamps(250.0))
    assert lamp_rate(ws) == pytest.approx(100 * 50 / 700)          # cold: 50 m of 700 m lit
    assert "lamp_cover" in entries(ws)
    stamp = {p.name: p.stat().st_mtime_ns for p in workspace_cache(ws).folder.glob("lamp_cover-*")}
    assert lamp_rate(ws) == pytest.approx(100 * 50 / 700)          # warm: read
    assert {p.name: p.stat().st_mtime_ns for p in workspace_cache(ws).folder.glob("lamp_cover-*")} == stamp
    ws.write("lamps", lamps(-100.0))                                # at the street's end: 25 m lit
    assert lamp_rate(ws) == pytest.approx(100 * 25 / 700)          # a stale cache would still say 50 m


def test_road_clip_cold_warm_and_after_a_zone_border_moves(tmp_path):
    """The roads clipped to the city and to the zones are kept one entry each (so the two passes do not evict
    each other), read warm, and a moved zone border is a new key. The street runs x = −100 … 600."""
    ws = walk_scene(tmp_path)

    def zones(x):
        ws.write("zones", gdf([{"zone_id": "A", "name": "甲"}, {"zone_id": "B", "name": "乙"}],
                              [moved(box(-1000, -1000, x, 3000)), moved(box(x, -1000, 3000, 3000))]))

    def road_length():
        t = ind.compute_indicators(ws, zones=True, walk_cell_m=10.0)
        rows = t[(t.indicator == "road_length") & t.road_class.isna()]
        return dict(zip(rows["zone_id"].fillna("city"), rows["value"]))

    zones(250.0)
    assert road_length() == pytest.approx({"city": 700.0, "A": 350.0, "B": 350.0})   # cold
    assert {"road_clip_city", "road_clip_zones"} <= set(entries(ws))
    stamps = {p.name: p.stat().st_mtime_ns for p in workspace_cache(ws).folder.glob("road_clip_*")}
    assert road_length() == pytest.approx({"city": 700.0, "A": 350.0, "B": 350.0})   # warm: read
    assert {p.name: p.stat().st_mtime_ns for p in workspace_cache(ws).folder.glob("road_clip_*")} == stamps
    zones(300.0)
    assert road_length() == pytest.approx({"city": 700.0, "A": 400.0, "B": 300.0})   # a stale clip would say 350


def test_green_cover_and_canopy_edges_cold_warm_and_after_a_change(tmp_path):
    """The dissolved green land and the canopy raster's boundary pixels are kept like the walking inputs: read
    warm (not rewritten), and a changed green layer is a new key (a stale cover would keep the old ratio)."""
    import rasterio
    from rasterio.transform import from_origin

    ws = walk_scene(tmp_path)                                       # built-up 4 000 × 4 000 m, park 80 × 50 m
    tif = tmp_path / "canopy.tif"
    with rasterio.open(tif, "w", driver="GTiff", width=410, height=410, count=1, dtype="float32", crs=f"EPSG:{CRS}",
                       transform=from_origin(X0 - 1025, Y0 + 3025, 10, 10), nodata=-1) as dst:
        dst.write(np.full((1, 410, 410), 0.25, dtype="float32"))

    def figures():
        t = ind.indicator_table(ws.read("built_up"), green=ws.read("green"), canopy=str(tif),
                                cache=workspace_cache(ws))
        city = t[t.scope == "city"].set_index("indicator")["value"]
        return city["green_space_ratio"], city["green_coverage_ratio"]

    assert figures() == pytest.approx((100 * 80 * 50 / 4000 ** 2, 25.0))            # cold
    assert {"green_cover", "canopy_edge"} <= set(entries(ws))
    stamps = {p.name: p.stat().st_mtime_ns for p in workspace_cache(ws).folder.iterdir()}
    assert figures() == pytest.approx((100 * 80 * 50 / 4000 ** 2, 25.0))            # warm: read
    assert {p.name: p.stat().st_mtime_ns for p in workspace_cache(ws).folder.iterdir()} == stamps
    ws.write("green", gdf([{"green_id": "p", "category": "G1"}], [moved(box(0, 0, 160, 50))]))
    assert figures()[0] == pytest.approx(100 * 160 * 50 / 4000 ** 2)                # a stale cover would say 80 × 50


def test_region_overlays_cold_warm_and_after_each_layer_changes(tmp_path):
    """The per-region overlays (green land, residents and residential land, the lamps' and toilets' regions, the
    toilets' service area) are kept one entry per pass, read warm (not rewritten), and a change of any of their
    layers — a moved polygon, a new population — is a new key. Zones: A west of x = 250, B east; each zone is
    1 250 (A) or 2 750 (B) × 4 000 m of built-up land."""
    from shapely.geometry import Point

    ws = walk_scene(tmp_path)                  # park 80 × 50 m at x 0…80 (A); block 100 × 30 m at x 300…400 (B)
    ws.write("zones", gdf([{"zone_id": "A", "name": "甲"}, {"zone_id": "B", "name": "乙"}],
                          [moved(box(-1000, -1000, 250, 3000)), moved(box(250, -1000, 3000, 3000))]))
    ws.write("toilets", gdf([{"toilet_id": "t"}], [moved(Point(350, -35))]))
    ws.write("lamps", gdf([{"lamp_id": "l", "status": "working"}], [moved(Point(100, -12))]))

    def figures():
        t = ind.compute_indicators(ws, zones=True, walk_cell_m=10.0)
        z = t[(t.scope == "zone") & t.road_class.isna()]
        return {(i, zid): v for i, zid, v in zip(z.indicator, z.zone_id, z.value)
                if i in ("green_space_ratio", "residents", "toilet_count", "lamp_count")}

    zone_m2 = {"A": 1250 * 4000, "B": 2750 * 4000}
    first = {("green_space_ratio", "A"): 100 * 4000 / zone_m2["A"], ("green_space_ratio", "B"): 0.0,
             ("residents", "A"): 0.0, ("residents", "B"): 100.0, ("toilet_count", "A"): 0, ("toilet_count", "B"): 1,
             ("lamp_count", "A"): 1, ("lamp_count", "B"): 0}
    assert figures() == pytest.approx(first)                                     # cold
    assert {"region_overlays_city", "region_overlays_zones"} <= set(entries(ws))
    stamps = {p.name: p.stat().st_mtime_ns for p in workspace_cache(ws).folder.glob("region_overlays_*")}
    assert figures() == pytest.approx(first)                                     # warm: read
    assert {p.name: p.stat().st_mtime_ns for p in workspace_cache(ws).folder.glob("region_overlays_*")} == stamps

    # each change below would leave the old figure with a stale entry
    ws.write("residential", gdf([{"res_id": "r", "name": "甲", "population": 250}], [moved(box(300, -50, 400, -20))]))
    assert figures()[("residents", "B")] == pytest.approx(250.0)
    ws.write("residential", gdf([{"res_id": "r", "name": "甲", "population": 250}], [moved(box(200, -50, 300, -20))]))
    assert (figures()[("residents", "A")], figures()[("residents", "B")]) == pytest.approx((125.0, 125.0))
    ws.write("green", gdf([{"green_id": "p", "category": "G1"}], [moved(box(300, 0, 380, 50))]))
    assert (figures()[("green_space_ratio", "A")], figures()[("green_space_ratio", "B")]) == pytest.approx(
        (0.0, 100 * 4000 / zone_m2["B"]))
    ws.write("toilets", gdf([{"toilet_id": "t"}], [moved(Point(100, -35))]))
    ws.write("lamps", gdf([{"lamp_id": "l", "status": "working"}], [moved(Point(400, -12))]))
    after = figures()
    assert (after[("toilet_count", "A")], after[("lamp_count", "B")]) == (1, 1)
    assert (after[("toilet_count", "B")], after[("lamp_count", "A")]) == (0, 0)


def test_cached_and_uncached_tables_are_identical(tmp_path, monkeypatch):
    ws = walk_scene(tmp_path)
    cold = ind.compute_indicators(ws, zones=False, walk_cell_m=10.0)
    warm = ind.compute_indicators(ws, zones=False, walk_cell_m=10.0)
    monkeypatch.setenv("CIVGIS_NO_CACHE", "1")
    none = ind.compute_indicators(ws, zones=False, walk_cell_m=10.0)
    pd.testing.assert_frame_equal(cold, warm)
    pd.testing.assert_frame_equal(cold, none)


# ---------------------------------------------------------------------- read-only workspaces
@pytest.fixture
def open_dir():
    with open_folder("civgis-cache-") as folder:
        yield folder


def test_read_only_workspace_works_and_writes_no_cache(open_dir):
    ws = walk_scene(open_dir)
    (open_dir / "county.targets.toml").write_text("[parameters]\nwalk_cell_m = 10.0\n", encoding="utf-8")
    for path in [open_dir, *open_dir.iterdir()]:
        os.chmod(path, 0o555 if path.is_dir() else 0o444)
    res = subprocess.run(as_user([sys.executable, "-m", "civgis", "indicators", str(ws.path), "--json", "-q"]),
                         capture_output=True, text=True, cwd="/", timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    rows = json.loads(res.stdout)
    rows = rows if isinstance(rows, list) else rows.get("rows", rows.get("indicators"))
    walk = [r for r in rows if r["indicator"] == "park_walk_coverage" and r["scope"] == "city"]
    assert walk[0]["value"] == pytest.approx(70.0)
    assert not (open_dir / ".county.cache").exists()
