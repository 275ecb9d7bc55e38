"""The fast paths give the numbers of the slow ones.

* indicators: the table computed once for the city and the zones (shared unions, lamp cover,
  cached walking network) against the previous implementation — kept here as the slow reference:
  every pass computed on its own, a full ``shapely.union_all`` wherever areas are unioned, lamp
  reach by ``shapely.buffer`` — on the demo county, to 1e-6 relative;
* hot spots: pairs and Moran's I from hex-lattice offsets against the KD-tree and esda with
  libpysal's own distance-band weights; the emerging analysis reusing the Gi* weights against
  building them again.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, box

import civgis.analysis.hotspots as hs
import civgis.analysis.indicators as ind
import civgis.analysis.trends as tr
from civgis.store.cache import NO_CACHE


# ---------------------------------------------------------------------------- indicators
def test_union_pieces_cover_the_union_once():
    rng = np.random.default_rng(7)
    x, y = rng.uniform(0, 1000, (2, 300))
    w, h = rng.uniform(5, 60, (2, 300))
    geoms = shapely.box(x, y, x + w, y + h)
    geoms = np.r_[geoms, box(2000, 0, 2010, 10), box(2010, 0, 2020, 10)]   # two that only touch
    pieces = ind.union_pieces(geoms)
    assert shapely.area(pieces).sum() == pytest.approx(shapely.union_all(geoms).area, rel=1e-12)
    i, j = shapely.STRtree(pieces).query(pieces, predicate="intersects")
    i, j = i[i < j], j[i < j]
    assert shapely.area(shapely.intersection(pieces[i], pieces[j])).max(initial=0.0) < 1e-9   # interiors disjoint
    assert sum(shapely.equals(pieces, box(2000, 0, 2010, 10))) == 1    # touching ones kept as they were


def test_lamp_discs_are_the_buffers_bit_for_bit():
    pts = shapely.points(np.random.default_rng(3).uniform(0, 5e5, (200, 2)) + [3e6, 3e6])
    fast = ind._discs(pts, 25.0, quad_segs=16)
    slow = shapely.buffer(pts, 25.0, quad_segs=16)
    assert (shapely.get_coordinates(fast) == shapely.get_coordinates(slow)).all()


def _slow_reference_table(layers, monkeypatch) -> pd.DataFrame:
    """The previous implementation: each pass alone, full unions, buffers, no cache."""
    monkeypatch.setattr(ind, "union_pieces", lambda g: np.array([ind.union(g)], dtype=object))
    monkeypatch.setattr(ind, "_discs", lambda pts, r, quad_segs: shapely.buffer(pts, r, quad_segs=quad_segs))
    B = layers["built_up"]
    kw = {k: layers[k] for k in ("green", "roads", "lamps", "toilets", "residential")}
    p = ind.load_targets().params.to_dict()
    city = ind.city_region(B)
    rows = ind.measure(city, **kw, params=p, city=True, shared=None, cache=NO_CACHE)
    zr = ind.zone_regions(layers["zones"], B)
    zone_rows = ind.measure(zr, **kw, params=p, city=False, shared=None, cache=NO_CACHE)
    out = pd.concat([ind._frame(rows, city, "city"), ind._frame(zone_rows, zr, "zone")], ignore_index=True)
    monkeypatch.undo()
    return out


def test_indicator_table_equals_the_slow_reference_on_the_demo(demo_ws, monkeypatch, tmp_path):
    layers = {k: demo_ws.read(k) for k in ("built_up", "zones", "green", "roads", "lamps", "toilets", "residential")}
    ref = _slow_reference_table(layers, monkeypatch)
    fast = ind.indicator_table(layers["built_up"], **{k: v for k, v in layers.items() if k != "built_up"})
    fast = fast[fast["indicator"] != "green_coverage_ratio"]      # the raster: one path, not in the reference
    ref = ref[ref["indicator"] != "green_coverage_ratio"]
    key = ["indicator", "scope", "zone_id", "road_class"]
    merged = fast.merge(ref, on=key, how="outer", suffixes=("", "_ref"), indicator=True)
    assert (merged["_merge"] == "both").all() and len(merged) == len(ref) > 500
    a, b = merged["value"].to_numpy(float), merged["value_ref"].to_numpy(float)
    assert (np.isnan(a) == np.isnan(b)).all()
    ok = ~np.isnan(b)
    assert np.abs(a[ok] - b[ok]).max() <= 1e-6 * np.maximum(np.abs(b[ok]), 1e-9).max()
    assert (np.abs(a[ok] - b[ok]) <= 1e-6 * np.abs(b[ok]) + 1e-9).all()
    assert (merged["note"] == merged["note_ref"]).all()


# ---------------------------------------------------------------------------- hot spots
def _grid(cell=100.0):
    return hs.hex_grid(Point(3e5 + 1234.5, 2.5e6 + 987.0).buffer(1500), cell, crs=4527)


@pytest.mark.parametrize("band", [100.0, 200.0, 250.0, 173.2051, 400.0])
def test_lattice_pairs_equal_the_kd_tree(band):
    grid = _grid()
    fast = hs.hex_band_pairs(grid["q"].to_numpy(), grid["r"].to_numpy(), 100.0, band)
    slow = hs.distance_band_pairs(hs.grid_centres(grid), band)
    as_set = lambda p: set(map(tuple, np.sort(p, axis=1).tolist()))
    assert len(fast) == len(slow) > 0 and as_set(fast) == as_set(slow)


def test_lattice_morans_bands_equal_esda_with_its_own_weights():
    import esda
    from libpysal.weights import DistanceBand

    grid = _grid()
    c = hs.grid_centres(grid)
    rng = np.random.default_rng(11)
    y = rng.poisson(2.0 + 6.0 * np.exp(-((c[:, 0] - c[:, 0].mean()) ** 2 + (c[:, 1] - c[:, 1].mean()) ** 2) / 4e5))
    dists = 100.0 * (1.0 + np.arange(4)) * (1.0 + 1e-6)
    zs = hs.morans_i_z_hex_bands(y, grid["q"].to_numpy(), grid["r"].to_numpy(), 100.0, dists)
    for d, z in zip(dists, zs):
        w = DistanceBand(c, threshold=d, binary=True, silence_warnings=True)     # libpysal builds its own
        assert z == pytest.approx(esda.Moran(y.astype(float), w, transformation="B", permutations=0).z_rand,
                                  rel=1e-9)


def test_gi_star_with_lattice_weights_equals_esda():
    import esda
    from libpysal.weights import DistanceBand

    area = Point(3e5 + 1234.5, 2.5e6 + 987.0).buffer(1500)
    rng = np.random.default_rng(5)
    centre = np.array([area.centroid.x, area.centroid.y])
    pts = np.r_[rng.normal(centre, 300.0, (400, 2)), rng.uniform(centre - 1000, centre + 1000, (300, 2))]
    res = hs.hotspots(pts, area, cell_size=100.0, band=250.0, crs=4527)
    c = hs.grid_centres(res.cells)
    w = DistanceBand(c, threshold=250.0, binary=True, silence_warnings=True)
    ref = esda.G_Local(res.cells["count"].to_numpy(float), w, transform="B", star=True, permutations=0)
    assert np.abs(res.cells["gi_z"].to_numpy() - ref.Zs).max() < 1e-9
    assert res.weights is not None and res.weights.nnz == 2 * len(hs.distance_band_pairs(c, 250.0)) + len(c)


def test_emerging_reuses_the_weights_with_the_same_numbers():
    grid = _grid()
    c = hs.grid_centres(grid)
    rng = np.random.default_rng(9)
    n = 3000
    pts = rng.normal(c.mean(axis=0), 500.0, (n, 2))
    times = pd.Series(pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.uniform(0, 300, n), unit="D"))
    W = hs.hex_band_weights(grid, 250.0)
    again = tr.emerging_hotspots(pts, times, grid, 250.0)
    reused = tr.emerging_hotspots(pts, times, grid, 250.0, weights=W)
    assert np.array_equal(again.z, reused.z) and (again.cells["category"] == reused.cells["category"]).all()


def test_mann_kendall_by_lag_equals_all_pairs():
    x = np.random.default_rng(2).poisson(3.0, (500, 14)).astype(float)
    i, j = np.triu_indices(14, k=1)
    s_pairs = np.sign(x[:, j] - x[:, i]).sum(axis=1)
    assert (tr.mann_kendall_many(x)["s"] == s_pairs).all()


def test_convex_clip_intervals_equal_shapely_intersection():
    from civgis.analysis import network as net

    rng = np.random.default_rng(4)
    lines = [shapely.LineString(np.cumsum(rng.normal(0, 30, (rng.integers(2, 9), 2)), axis=0)) for _ in range(60)]
    lines.append(shapely.LineString([(0, 0), (100, 0), (100, 100), (0, 100), (0, 0)]))   # a closed ring road
    lines = np.array(lines, dtype=object)
    centres = rng.uniform(-80, 120, (400, 2))
    centres[:4] = [(0, 0), (100, 50), (50, 100), (0, 3)]                                   # on the ring's start/corners
    which = rng.integers(0, len(lines), 400)
    which[:4] = len(lines) - 1
    ring = shapely.get_coordinates(shapely.buffer(shapely.Point(0, 0), 25.0, quad_segs=16))
    key, a, b = ind.convex_clip_intervals(lines, which, centres, ring)
    discs = shapely.buffer(shapely.points(centres), 25.0, quad_segs=16)
    pieces = shapely.intersection(lines[which], discs)
    rk, ra, rb = net.line_intervals(lines, pieces, which)
    span = float(shapely.length(lines).max()) + 1
    got = ind._RoadCover(*net.merge_intervals(key, a, b, span=span), span=span)
    ref = ind._RoadCover(*net.merge_intervals(rk, ra, rb, span=span), span=span)
    n, L = len(lines), shapely.length(lines)
    assert np.abs(got.lit(np.arange(n), np.zeros(n), L) - ref.lit(np.arange(n), np.zeros(n), L)).max() < 1e-7
    assert len(got.key) == len(ref.key)              # the same stretches, not just the same total
