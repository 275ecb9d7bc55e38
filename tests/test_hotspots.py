"""Hot spots: hex binning, Gi* against esda, FDR against hand-worked Benjamini–Hochberg, OHSA, KDE, ranking, CLI."""

from __future__ import annotations

import json
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.spatial import cKDTree
from shapely.geometry import box

from civgis.analysis import hotspots as hs

CRS = 4527
X0, Y0 = 39_500_000.0, 3_700_000.0   # a Gauss-Krüger zone-39 origin for hand-built data


# ------------------------------------------------------------------------------ hex grid and binning
def test_hex_axial_agrees_with_polygon_containment():
    rng = np.random.default_rng(3)
    s = 70.0
    grid = hs.hex_grid(box(X0, Y0, X0 + 2000, Y0 + 1500), s, crs=CRS)
    xy = np.column_stack([rng.uniform(X0, X0 + 2000, 4000), rng.uniform(Y0, Y0 + 1500, 4000)])
    idx = hs.hex_cell_index(xy, grid)
    assert (idx >= 0).all()
    # reference: shapely containment of each point in the polygon we assigned it to
    assert shapely.covers(grid.geometry.values[idx], shapely.points(xy)).all()
    # and a geopandas spatial join gives the same counts
    pts = gpd.GeoDataFrame(geometry=shapely.points(xy), crs=CRS)
    j = gpd.sjoin(pts, grid[["geometry"]], predicate="within")
    ref = np.bincount(j["index_right"].to_numpy(), minlength=len(grid))
    assert np.array_equal(hs.count_in_hexes(pts, grid), ref)


def test_hex_grid_geometry():
    s = 100.0
    area = box(X0, Y0, X0 + 1000, Y0 + 800)
    grid = hs.hex_grid(area, s, crs=CRS)
    assert np.allclose(grid.area, math.sqrt(3) / 2 * s * s)            # √3/2 · s²
    # cells tile the plane: union covers the study area, no overlaps (sum of areas = union area)
    union = shapely.union_all(grid.geometry.values)
    assert union.buffer(1e-6).covers(area)
    assert math.isclose(union.area, grid.area.sum(), rel_tol=1e-9)
    # every cell intersects the area, and a cell just outside the kept set does not
    assert grid.intersects(area).all()
    # adjacent centres are s apart
    c = hs.grid_centres(grid)
    d, _ = cKDTree(c).query(c, k=2)
    assert np.allclose(d[:, 1], s)
    # grid parameters are recoverable from the geometry alone (attrs lost)
    bare = gpd.GeoDataFrame(grid.drop(columns="geometry"), geometry=grid.geometry.values, crs=CRS)
    bare.attrs = {}
    size, origin = hs._grid_params(bare)
    assert math.isclose(size, s, rel_tol=1e-9) and np.allclose(origin, (0.0, 0.0), atol=1e-4)


def test_points_outside_the_grid_are_not_counted():
    grid = hs.hex_grid(box(0, 0, 500, 500), 100.0)
    xy = np.array([[250.0, 250.0], [5000.0, 5000.0], [-900.0, 250.0], [np.nan, 1.0]])
    counts = hs.count_in_hexes(xy, grid)
    assert counts.sum() == 1


# ------------------------------------------------------------------------------ Gi*
def test_gi_star_hand_worked():
    # seven cells on a line, 10 cases in the middle one, band 1 → neighbours {2, 3, 4}
    x = np.array([0, 0, 0, 10, 0, 0, 0], float)
    coords = np.column_stack([np.arange(7.0), np.zeros(7)])
    z, p = hs.getis_ord_gi_star(x, coords, band=1.0)
    xbar, s = 10 / 7, math.sqrt(100 / 7 - (10 / 7) ** 2)
    expect_mid = (10 - xbar * 3) / (s * math.sqrt((7 * 3 - 9) / 6))
    expect_end = (0 - xbar * 2) / (s * math.sqrt((7 * 2 - 4) / 6))          # cell 0: neighbours {0, 1}
    assert z[3] == pytest.approx(expect_mid, abs=1e-12)
    assert z[3] == pytest.approx(2 / math.sqrt(3), abs=1e-12)
    assert z[0] == pytest.approx(expect_end, abs=1e-12)
    assert p[3] == pytest.approx(2 * (1 - 0.5 * (1 + math.erf(expect_mid / math.sqrt(2)))), abs=1e-12)


def _esda_z(counts, coords, band):
    import esda
    from libpysal.weights import DistanceBand

    w = DistanceBand(coords, threshold=band, binary=True, silence_warnings=True)
    g = esda.G_Local(np.asarray(counts, float), w, transform="B", star=True, permutations=0)
    return g.Zs


def test_gi_star_matches_esda_on_a_clustered_grid():
    rng = np.random.default_rng(7)
    grid = hs.hex_grid(box(X0, Y0, X0 + 3000, Y0 + 2500), 120.0, crs=CRS)
    xy = np.r_[np.column_stack([rng.uniform(X0, X0 + 3000, 3000), rng.uniform(Y0, Y0 + 2500, 3000)]),
               rng.normal([X0 + 900, Y0 + 700], 100, (800, 2))]
    counts = hs.count_in_hexes(xy, grid)
    c = hs.grid_centres(grid)
    band = 310.0
    z, _ = hs.getis_ord_gi_star(counts, c, band)
    assert np.abs(z - _esda_z(counts, c, band)).max() < 1e-6


# ------------------------------------------------------------------------------ FDR
P8 = np.array([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205])


def test_bh_critical_p_hand_worked():
    # m = 8; α = 0.05: k/8·0.05 = .00625 .0125 .01875 .025 ...; p(1), p(2) pass, p(3)=.039 > .01875 … → .008
    assert hs.fdr_critical_p(P8, 0.05) == 0.008
    # α = 0.10: thresholds .0125 .025 .0375 .05 .0625 .075 .0875 .1; largest passing rank 7 (.074 ≤ .0875)
    assert hs.fdr_critical_p(P8, 0.10) == 0.074
    # α = 0.01: only p(1) = .001 ≤ .00125
    assert hs.fdr_critical_p(P8, 0.01) == 0.001
    # step-up: p(3)=.04 > 3/4·.05 but p(4)=.05 ≤ .05, so all four pass at α = .05
    assert hs.fdr_critical_p([0.05, 0.02, 0.04, 0.03], 0.05) == 0.05
    assert hs.fdr_critical_p([0.5, 0.6], 0.10) == 0.0


def test_fdr_bins_change_bins_not_z_or_p():
    z = np.array([3.3, 2.65, -2.06, 2.04, 2.03, -1.88, 1.79, 1.27])
    p = P8.copy()
    with_fdr = hs.fdr_bins(z, p)
    assert with_fdr.tolist() == [3, 2, -1, 1, 1, -1, 1, 0]
    without = hs.fdr_bins(z, p, fdr=False)
    assert without.tolist() == [3, 3, -2, 2, 2, -1, 1, 0]
    assert np.array_equal(p, P8)   # untouched
    assert hs.fdr_bins([2.0, 2.0, 2.0, 2.0], [0.05, 0.02, 0.04, 0.03]).tolist() == [2, 2, 2, 2]


# ------------------------------------------------------------------------------ OHSA parameters
def test_ohsa_cell_size_and_outliers():
    gx, gy = np.meshgrid(np.arange(20) * 10.0, np.arange(20) * 10.0)
    xy = np.column_stack([gx.ravel(), gy.ravel()])           # NN distance 10 everywhere
    size, mean, median = hs.ohsa_cell_size(xy)
    assert (mean, median, size) == (10.0, 10.0, 20.0)        # 10 × max(2, 10/10)
    # NN: 4 points 10 apart then 4 points 40 apart → mean 25, median 25 … use unequal spreads
    pts = np.array([[0, 0], [10, 0], [0, 100], [30, 100], [0, 300], [60, 300]], float)
    size, mean, median = hs.ohsa_cell_size(pts)
    nn = np.array([10, 10, 30, 30, 60, 60], float)
    assert mean == pytest.approx(nn.mean()) and median == pytest.approx(np.median(nn))
    assert size == pytest.approx(max(nn.mean(), np.median(nn)) * max(2, 100 / 3 / 30))
    far = np.r_[xy, [[1e5, 1e5]]]
    out = hs.locational_outliers(far)
    assert out.sum() == 1 and out[-1]


def test_morans_i_z_matches_esda():
    import esda
    from libpysal.weights import DistanceBand

    rng = np.random.default_rng(11)
    grid = hs.hex_grid(box(0, 0, 1500, 1200), 100.0)
    c = hs.grid_centres(grid)
    y = rng.poisson(3, len(grid)).astype(float) + (c[:, 0] < 600) * 4
    pairs = cKDTree(c).query_pairs(260.0, output_type="ndarray")
    z = hs.morans_i_z(y, pairs[:, 0], pairs[:, 1])
    w = DistanceBand(c, threshold=260.0, binary=True, silence_warnings=True)
    w.transform = "B"
    mi = esda.Moran(y, w, transformation="B", permutations=0)
    assert z == pytest.approx(mi.z_rand, abs=1e-9)
    # all bands in one pass (as the OHSA band search does) = esda band by band
    dists = np.array([110.0, 180.0, 260.0, 350.0])
    pairs = cKDTree(c).query_pairs(dists[-1], output_type="ndarray")
    band_of = np.searchsorted(dists, np.hypot(*(c[pairs[:, 0]] - c[pairs[:, 1]]).T))
    zs = hs.morans_i_z_bands(y, pairs[:, 0], pairs[:, 1], band_of, len(dists))
    for d, zb in zip(dists, zs):
        wd = DistanceBand(c, threshold=d, binary=True, silence_warnings=True)
        assert zb == pytest.approx(esda.Moran(y, wd, transformation="B", permutations=0).z_rand, abs=1e-9)


def test_ohsa_band_falls_back_to_kth_neighbour_without_a_peak():
    grid = hs.hex_grid(box(0, 0, 2000, 2000), 100.0)
    c = hs.grid_centres(grid)
    counts = np.zeros(len(grid))      # constant counts: Moran z = 0 everywhere, no peak
    band, how, isa = hs.ohsa_band(counts, c, 100.0)
    k = int(np.clip(round(0.05 * len(grid)), 3, 30))
    d = np.sort(np.hypot(c[:, None, 0] - c[None, :, 0], c[:, None, 1] - c[None, :, 1]), axis=1)[:, k]  # brute force
    assert band == pytest.approx(d.mean())
    assert "第" in how and len(isa) == 10


def test_ohsa_band_peak_on_clustered_counts():
    rng = np.random.default_rng(5)
    grid = hs.hex_grid(box(0, 0, 4000, 4000), 100.0)
    c = hs.grid_centres(grid)
    centres = rng.uniform(500, 3500, (12, 2))
    xy = np.concatenate([rng.normal(m, 180, (150, 2)) for m in centres])
    counts = hs.count_in_hexes(xy, grid)
    band, how, isa = hs.ohsa_band(counts, c, 100.0)
    zs = [r["z"] for r in isa]
    j = [r["distance_m"] for r in isa].index(band)
    assert zs[j] > 1.96 and zs[j] > zs[j + 1] and (j == 0 or zs[j] > zs[j - 1])
    assert all(not (zs[i] > 1.96 and zs[i] > zs[i + 1] and (i == 0 or zs[i] > zs[i - 1])) for i in range(j))


def test_too_few_incidents_is_a_clear_error():
    with pytest.raises(ValueError, match="30"):
        hs.hotspots(np.zeros((5, 2)), box(-10, -10, 10, 10))


# ------------------------------------------------------------------------------ KDE
def test_kernel_density_conserves_mass_and_matches_quartic_peak(tmp_path):
    import rasterio

    h, pixel = 200.0, 5.0
    one = hs.kernel_density(np.array([[X0 + 1000, Y0 + 1000]]), (X0, Y0, X0 + 2000, Y0 + 2000),
                            pixel=pixel, bandwidth=h, crs="EPSG:4527")
    assert one.array.sum() * pixel * pixel / 1e6 == pytest.approx(1.0, rel=1e-9)
    peak = 3 / (math.pi * h * h) * 1e6                 # quartic kernel at d = 0, per km²
    assert one.array.max() == pytest.approx(peak, rel=0.01)
    rng = np.random.default_rng(2)
    xy = rng.uniform([X0 + 500, Y0 + 500], [X0 + 1500, Y0 + 1500], (400, 2))
    surf = hs.kernel_density(xy, (X0, Y0, X0 + 2000, Y0 + 2000), pixel=pixel, bandwidth=h, crs="EPSG:4527")
    assert surf.array.sum() * pixel * pixel / 1e6 == pytest.approx(400, rel=1e-9)
    path = surf.write(tmp_path / "kde.tif")
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 4527
        assert src.transform.a == pixel and src.transform.c == X0 and src.transform.f == Y0 + 2000
        assert np.allclose(src.read(1), surf.array.astype("float32"))


@pytest.mark.parametrize("image_shape, kernel_shape", [((37, 52), (9, 9)), ((40, 41), (6, 7)), ((5, 3), (11, 11))])
def test_convolve_same_equals_scipy_signal_and_a_direct_sum(image_shape, kernel_shape):
    from scipy.signal import fftconvolve  # the oracle (civgis does not import scipy.signal)

    rng = np.random.default_rng(sum(image_shape))
    image, kernel = rng.random(image_shape), rng.random(kernel_shape)
    ours = hs._convolve_same(image, kernel)
    assert ours.shape == image.shape
    np.testing.assert_allclose(ours, fftconvolve(image, kernel, mode="same"), rtol=1e-12, atol=1e-12)
    # one pixel by the definition: the full convolution summed shift by shift, cropped as mode='same' does
    (n_rows, n_cols), (k_rows, k_cols) = image.shape, kernel.shape
    i, j = n_rows // 2, n_cols // 3
    full = np.zeros((n_rows + k_rows - 1, n_cols + k_cols - 1))
    for r in range(k_rows):
        for c in range(k_cols):
            full[r:r + n_rows, c:c + n_cols] += kernel[r, c] * image
    start = ((k_rows - 1) // 2, (k_cols - 1) // 2)
    assert ours[i, j] == pytest.approx(full[i + start[0], j + start[1]], rel=1e-12)


# ------------------------------------------------------------------------------ a hand-built workspace
@pytest.fixture(scope="module")
def small_ws(tmp_path_factory):
    from civgis.store.workspace import Workspace

    rng = np.random.default_rng(42)
    ws = Workspace.create(tmp_path_factory.mktemp("hs") / "county.gpkg", crs=CRS)
    ws.write("built_up", gpd.GeoDataFrame({"name": ["建成区"]}, geometry=[box(X0, Y0, X0 + 4000, Y0 + 3000)], crs=CRS))
    ws.write("zones", gpd.GeoDataFrame(
        {"zone_id": ["Z1", "Z2"], "name": ["西区", "东区"], "unit": ["一中队", "二中队"], "staff": ["张三", "李四"],
         "phone": ["1", "2"]},
        geometry=[box(X0, Y0, X0 + 2000, Y0 + 3000), box(X0 + 2000, Y0, X0 + 4000, Y0 + 3000)], crs=CRS))
    n_bg, n_cl = 600, 400
    xy = np.r_[np.column_stack([rng.uniform(X0, X0 + 4000, n_bg), rng.uniform(Y0, Y0 + 3000, n_bg)]),
               rng.normal([X0 + 3000, Y0 + 1500], 80, (n_cl, 2))]
    n = len(xy)
    month = rng.integers(0, 12, n)
    reported = pd.Timestamp("2025-01-01") + pd.to_timedelta(month * 30 + 1, unit="D")
    deadline = reported + pd.Timedelta(days=3)
    closed = pd.Series(reported + pd.Timedelta(days=1))
    closed[:50] = pd.NaT                         # 50 never closed (overdue at any later as_of)
    closed[50:80] = deadline[50:80] + pd.Timedelta(days=2)   # 30 closed late
    cats = np.where(np.arange(n) >= n_bg, "0501", "0102")
    ws.write("inspections", gpd.GeoDataFrame(
        {"case_id": [f"C{i:05d}" for i in range(n)], "category": cats, "reported_at": reported,
         "deadline": deadline, "closed_at": closed.to_numpy(),
         "status": np.where(pd.isna(closed), "open", "closed")},
        geometry=shapely.points(xy), crs=CRS))
    return ws, xy


def test_planted_cluster_is_a_99_percent_hot_spot(small_ws):
    ws, xy = small_ws
    res = hs.hotspots_workspace(ws, cell_size=150.0, band=400.0)
    assert res.n_cases == len(xy) and res.n_outside == 0
    centre = hs.hex_cell_index(np.array([[X0 + 3000, Y0 + 1500]]), res.cells)[0]
    assert res.cells["gi_bin"].iloc[centre] == 3
    # hot cells are all near the cluster
    hot = res.cells[res.cells["gi_bin"] == 3]
    d = hot.geometry.centroid.distance(shapely.Point(X0 + 3000, Y0 + 1500))
    assert d.max() < 400 + 150
    assert res.cells["count"].sum() == len(xy)
    json.dumps(res.to_dict())


def test_ohsa_parameters_are_chosen_and_reported(small_ws):
    ws, xy = small_ws
    res = hs.hotspots_workspace(ws)
    how = res.chosen_how
    assert how["method"] == "ohsa"
    size, mean, median = hs.ohsa_cell_size(xy[~hs.locational_outliers(xy)])
    assert res.cell_size_m == pytest.approx(size)
    assert res.band_m > res.cell_size_m
    centre = hs.hex_cell_index(np.array([[X0 + 3000, Y0 + 1500]]), res.cells)[0]
    assert res.cells["gi_bin"].iloc[centre] == 3


def test_category_and_date_filters(small_ws):
    ws, xy = small_ws
    res = hs.hotspots_workspace(ws, category="流动摊贩", cell_size=150.0, band=400.0)
    assert res.n_cases == 400
    res2 = hs.hotspots_workspace(ws, category="05", since="2025-01-01", until="2025-04-01", cell_size=150.0, band=400.0)
    cases = ws.read("inspections")
    t = cases["reported_at"]
    expect = int(((cases["category"] == "0501") & (t >= "2025-01-01") & (t < "2025-04-01")).sum())
    assert res2.n_cases == expect > 0


def test_zone_ranking_hand_counted(small_ws):
    ws, xy = small_ws
    res = hs.hotspots_workspace(ws, cell_size=150.0, band=400.0)
    as_of = pd.Timestamp("2026-01-01")
    rank = hs.zone_ranking(ws, res, as_of)
    assert rank["zone_id"].tolist() == ["Z2", "Z1"]          # the cluster sits in the east zone
    cases = ws.read("inspections")
    east = cases.geometry.x >= X0 + 2000
    row = rank.set_index("zone_id").loc["Z2"]
    assert row["cases"] == int(east.sum())
    assert row["cases_per_km2"] == pytest.approx(east.sum() / 6.0)      # 2 km × 3 km
    # 超期 = open at as_of and past its deadline (the ledger's rule); 超期结案 is counted apart
    open_ = (cases["closed_at"].isna() | (cases["closed_at"] > as_of)).to_numpy()
    past = (cases["deadline"] < as_of).to_numpy()
    late = ((cases["closed_at"] <= as_of) & (cases["closed_at"] > cases["deadline"])).to_numpy(dtype=bool)
    assert row["overdue"] == int((open_ & past & east.to_numpy()).sum())
    assert row["closed_late"] == int((late & east.to_numpy()).sum())
    assert "overdue_open" not in rank and (rank["overdue"] <= rank["cases"]).all()
    cent = res.cells.geometry.centroid
    assert row["hot_cells"] == int(((res.cells["gi_bin"] >= 1) & (cent.x >= X0 + 2000)).sum())


def test_write_hotspots_with_the_runs_states_writes_the_same_files(small_ws, tmp_path, monkeypatch):
    """A report run hands its case states; every file is the one written without them (a filter too)."""
    from civgis.analysis.cases import case_states
    from civgis.run.hotspots import write_hotspots

    ws, _ = small_ws
    states = case_states(ws.read("inspections"), "2025-12-31", ws.read("zones"))
    kw = dict(as_of="2025-12-31", category="05", cell_size=150.0, band=400.0)
    plain = write_hotspots(ws, tmp_path / "plain", **kw)
    monkeypatch.setattr(hs, "case_states", lambda *a, **k: pytest.fail("states given: not computed again"))
    given = write_hotspots(ws, tmp_path / "given", states=states, **kw)
    pd.testing.assert_frame_equal(given.ranking, plain.ranking)
    assert plain.ranking["cases"].sum() == 400          # the filtered cases' states only
    for name in ("zone_ranking.csv", "kde.tif", "hotspots.png", "emerging.png"):
        assert (tmp_path / "given" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes(), name
    # without as_of, the states' instant is the ranking's
    at_states = write_hotspots(ws, tmp_path / "at", states=states, by=None, **{**kw, "as_of": None})
    pd.testing.assert_frame_equal(at_states.ranking, plain.ranking)


def test_write_hotspots_refuses_states_of_other_cases_or_another_instant(small_ws, tmp_path):
    from civgis.analysis.cases import case_states
    from civgis.run.hotspots import write_hotspots

    ws, _ = small_ws
    cases = ws.read("inspections")
    other = case_states(cases.iloc[:100], "2025-12-31", ws.read("zones"))
    with pytest.raises(ValueError, match="case states of 100 cases"):
        write_hotspots(ws, tmp_path / "a", as_of="2025-12-31", states=other, by=None)
    earlier = case_states(cases, "2025-06-30", ws.read("zones"))
    with pytest.raises(ValueError, match="case states taken at 2025-06-30"):
        write_hotspots(ws, tmp_path / "b", as_of="2025-12-31", states=earlier, by=None)


def test_cli_hotspots_writes_every_output(small_ws, tmp_path, capsys):
    import pyogrio
    import rasterio

    from civgis.cli import main

    ws, xy = small_ws
    out = tmp_path / "out"
    code = main(["hotspots", str(ws.path), "--cell-size", "150", "--band", "400", "--by", "month",
                 "--as-of", "2026-01-01", "--out", str(out), "--json"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["cell_size_m"] == 150.0 and payload["band_m"] == 400.0
    cells = pyogrio.read_dataframe(out / "hotspots.gpkg", layer="cells")
    # ArcGIS's field names in the file (the Python result keeps gi_z, gi_bin …)
    assert {"Join_Count", "NNeighbors", "GiZScore", "GiPValue", "Gi_Bin"} <= set(cells.columns)
    assert not {"gi_z", "gi_p", "gi_bin", "count"} & set(cells.columns)
    assert int(cells["Join_Count"].sum()) == len(xy)
    assert set(cells["Gi_Bin"].unique()) <= {-3, -2, -1, 0, 1, 2, 3}
    assert sum(payload["bins"].values()) == len(cells)
    layers = {name for name, _ in pyogrio.list_layers(out / "hotspots.gpkg")}
    assert "emerging" in layers
    emerging = pyogrio.read_dataframe(out / "hotspots.gpkg", layer="emerging")
    assert emerging["CATEGORY"].dtype.kind == "i" and set(emerging["CATEGORY"]) <= set(range(-8, 9))
    # ArcGIS's pattern text and code agree: 0 ↔ no pattern, 1 ↔ new hot spot, −4 ↔ persistent cold spot
    pairs = dict(zip(emerging["CATEGORY"], emerging["PATTERN"]))
    expected = {0: "No Pattern Detected", 1: "New Hot Spot", 4: "Persistent Hot Spot", -4: "Persistent Cold Spot",
                3: "Intensifying Hot Spot", 8: "Historical Hot Spot", -1: "New Cold Spot"}
    assert all(pairs[k] == v for k, v in expected.items() if k in pairs) and 0 in pairs
    from civgis.store.qgis_style import read_layer_styles
    styles = read_layer_styles(out / "hotspots.gpkg")
    assert set(styles) == {"cells", "emerging"}
    assert 'attr="Gi_Bin"' in styles["cells"] and "热点 99%" in styles["cells"] and "214,47,39,255" in styles["cells"]
    assert 'attr="CATEGORY"' in styles["emerging"] and "持续热点" in styles["emerging"]
    html = (out / "hotspots.html").read_text(encoding="utf-8")
    assert "热点 99%" in html and "unpkg.com" not in html and "cdn.jsdelivr" not in html
    assert (out / "hotspots.png").stat().st_size > 10_000
    with rasterio.open(out / "kde.tif") as src:
        assert src.read(1).max() > 0
    rank = pd.read_csv(out / "zone_ranking.csv", dtype=str, encoding="utf-8-sig")
    assert rank["责任区编号"].tolist() == ["Z2", "Z1"]  # Chinese headers (issue 13)
    assert list(rank.columns[:3]) == ["排名", "责任区编号", "责任区名称"]


def test_cli_prints_the_chosen_parameters(small_ws, tmp_path, capsys):
    from civgis.cli import main

    ws, _ = small_ws
    assert main(["hotspots", str(ws.path), "--by", "none", "--out", str(tmp_path / "o")]) == 0
    text = capsys.readouterr().out
    assert "网格大小" in text and "距离阈值" in text and "最近邻" in text


def test_cli_bad_category_is_a_clear_error(small_ws, tmp_path, capsys):
    from civgis.cli import main

    ws, _ = small_ws
    assert main(["hotspots", str(ws.path), "--category", "0999", "--out", str(tmp_path / "o")]) != 0
    assert "0999" in capsys.readouterr().err


# ------------------------------------------------------------------------------ the demo county
def test_demo_planted_clusters_are_99_percent_hot_spots(demo_ws, demo_dir):
    from civgis.demo import load_manifest

    planted = load_manifest(demo_dir)["planted"]
    res = hs.hotspots_workspace(demo_ws)             # parameters chosen from the data (OHSA)
    assert res.chosen_how["method"] == "ohsa" and res.n_outside < 0.05 * res.n_cases
    spots = planted["hotspots"] + [planted["growing_trend"]]
    # the analysis area is the built-up area: a planted cluster centred outside it (a building site
    # beyond the boundary) has its cases outside every cell and cannot be a hot spot of this grid
    built = shapely.union_all(demo_ws.read("built_up").geometry.values)
    inside = [h for h in spots if built.contains(shapely.Point(h["x"], h["y"]))]
    assert len(inside) >= len(spots) - 2 and len(inside) >= 10
    cells = hs.hex_cell_index(np.array([[h["x"], h["y"]] for h in inside]), res.cells)
    assert (cells >= 0).all()
    bins = res.cells["gi_bin"].to_numpy()[cells]
    assert (bins == 3).all(), {h["name"]: int(b) for h, b in zip(inside, bins)}


def test_demo_gi_star_matches_esda(demo_ws):
    """esda's G_Local(star=True) with libpysal binary distance-band weights on a grid over the demo county."""
    res = hs.hotspots_workspace(demo_ws, cell_size=60.0, band=250.0)
    c = hs.grid_centres(res.cells)
    ref = _esda_z(res.cells["count"].to_numpy(), c, 250.0)
    assert len(res.cells) > 5000
    assert np.abs(res.cells["gi_z"].to_numpy() - ref).max() < 1e-6


def test_a_case_without_a_point_is_named(tmp_path):
    from civgis.store.workspace import Workspace

    ws = Workspace.create(tmp_path / "bad.gpkg", crs=CRS)
    ws.write("built_up", gpd.GeoDataFrame({"name": ["建成区"]}, geometry=[box(X0, Y0, X0 + 1000, Y0 + 1000)], crs=CRS))
    n = 40
    geoms = list(shapely.points(np.full(n, X0 + 500.0), np.full(n, Y0 + 500.0)))
    geoms[7] = shapely.Point()
    t = pd.Timestamp("2025-01-01")
    ws.write("inspections", gpd.GeoDataFrame(
        {"case_id": [f"AJ{i:03d}" for i in range(n)], "category": ["0102"] * n, "reported_at": [t] * n,
         "deadline": [t] * n, "closed_at": [t] * n, "status": ["closed"] * n}, geometry=geoms, crs=CRS))
    with pytest.raises(ValueError, match=r"inspections.*AJ007.*geometry"):
        hs.hotspots_workspace(ws)


# ------------------------------------------------------------------------------ the maps (render side)
def test_round_coords_by_hand():
    from civgis.render.hotspots import round_coords

    (g,) = round_coords([shapely.LineString([(116.12345649, 39.9999996), (116.1, 40.0000004)])], 6)
    assert shapely.get_coordinates(g).tolist() == [[116.123456, 40.0], [116.1, 40.0]]


def test_dissolved_web_map_keeps_every_hexagon_vertex():
    """No simplify of the dissolved classes: the page's class outline has the union's vertices, exactly."""
    from civgis.render.hotspots import hotspot_map

    grid = hs.hex_grid(box(X0, Y0, X0 + 600, Y0 + 400), 50.0, crs=CRS)
    grid["gi_bin"] = np.where(grid.geometry.centroid.x < X0 + 300, 3, 0)
    m = hotspot_map(grid, max_cells=0)   # force the dissolved view
    (layer,) = [c for c in m._children.values() if getattr(c, "layer_name", "") == "巡查案件热点"]
    feats = {f["properties"]["_cls"]: f["geometry"] for f in layer.data["features"]}
    for b in (3, 0):
        union = shapely.coverage_union_all(grid.geometry.values[grid["gi_bin"].to_numpy() == b])
        ref = gpd.GeoSeries([union], crs=CRS).to_crs(4326).iloc[0]
        page = shapely.geometry.shape(feats[str(b)])
        assert shapely.get_num_coordinates(page) == shapely.get_num_coordinates(ref)
        assert page.hausdorff_distance(ref) <= 0.5e-6 * 2 ** 0.5 + 1e-12   # only the 1e-6° rounding


# ------------------------------------------------------------------------------ fast render paths
def _polygons_with_holes():
    from shapely.geometry import MultiPolygon, Polygon

    ring = Polygon([(0, 0), (10, 0), (10, 10), (0, 10)], holes=[[(2, 2), (4, 2), (4, 4), (2, 4)],
                                                               [(6, 6), (8, 6), (8, 8)]])
    return [ring, MultiPolygon([Polygon([(20, 0), (25, 0), (25, 5)]), ring]),
            Polygon([(30.123456789, 1.5), (31.000000001, 1.5), (31, 2.25)])]


def test_polygon_paths_are_geopandas_patches():
    from geopandas.plotting import _PolygonPatch

    from civgis.render.mapcontext import polygon_paths

    geoms = _polygons_with_holes()
    for path, geom in zip(polygon_paths(geoms), geoms):
        expected = _PolygonPatch(shapely.normalize(geom)).get_path()   # geopandas plots normalised geometries
        assert np.array_equal(path.vertices, expected.vertices)
        assert np.array_equal(path.codes, expected.codes)


def test_fill_polygons_draws_the_pixels_of_geodataframe_plot(tmp_path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from civgis.render.hotspots import fill_polygons

    frame = gpd.GeoDataFrame(geometry=_polygons_with_holes(), crs=CRS)
    colours = ["#d62f27", "#4575b5", "#fab984"]
    pictures = []
    for draw in (lambda ax: frame.plot(ax=ax, color=colours, edgecolor="none", linewidth=0, zorder=1),
                 lambda ax: fill_polygons(ax, frame.geometry.values, colours, zorder=1)):
        fig = Figure(figsize=(4, 2), dpi=80)
        ax = fig.add_axes([0, 0, 1, 1])
        draw(ax)
        ax.set_xlim(-1, 32)
        ax.set_ylim(-1, 11)
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_axis_off()                 # geopandas also labels the axes (X/Y [m]); the map clears them
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        pictures.append(np.asarray(canvas.buffer_rgba()).copy())
    assert pictures[0].shape == pictures[1].shape and np.array_equal(pictures[0], pictures[1])
    assert (pictures[1][..., :3] != 255).any()          # something was drawn


def test_cached_template_renders_what_jinja_renders():
    from jinja2 import Template

    from civgis.render.webmap import cached_template

    texts = ["", "\n", "plain", "trailing\n", "two\n\n", " a\r\nb ", "{{ this }} and {{ kwargs }}",
             "{% if this %}x{% endif %}\n", "{# c #}y", "var d = {\"a\": [1, 2]};\n    "]
    for text in texts:
        assert cached_template(text).render(this="T", kwargs={}) == Template(text).render(this="T", kwargs={})
    assert cached_template("{{ this }}") is cached_template("{{ this }}")     # compiled once


def test_save_map_writes_what_branca_renders(tmp_path, monkeypatch):
    import itertools

    import branca.element
    from jinja2 import Template

    from civgis.render.hotspots import hotspot_map
    from civgis.render.webmap import save_map

    grid = hs.hex_grid(box(X0, Y0, X0 + 600, Y0 + 500), 100.0, crs=CRS)
    grid["count"] = np.arange(len(grid))
    grid["gi_z"], grid["gi_p"], grid["gi_bin"] = 0.5, 0.6, np.arange(len(grid)) % 7 - 3

    def build():     # the same map twice: element ids from a counter instead of urandom
        ids = itertools.count()
        monkeypatch.setattr(branca.element.Element, "_generate_id", classmethod(lambda cls: f"{next(ids):032x}"))
        return hotspot_map(grid, max_cells=3)       # dissolved classes: big rendered macros

    expected = build().get_root().render()          # branca's own templates, every text compiled
    got = save_map(build(), tmp_path / "m.html", offline=False).read_text(encoding="utf-8")
    assert got == expected and "geo_json_" in got
    assert branca.element.Template is Template     # the patch is gone after saving
    assert not hasattr(branca.element._camelify, "cache_info")     # and so is the once-per-name camel case


def test_isa_on_the_lattice_equals_the_kd_tree_pairs_on_an_irregular_grid():
    from shapely.geometry import Polygon

    area = Polygon([(X0, Y0), (X0 + 2000, Y0), (X0 + 2000, Y0 + 700), (X0 + 800, Y0 + 700), (X0 + 800, Y0 + 1500),
                    (X0, Y0 + 1500)], holes=[[(X0 + 200, Y0 + 200), (X0 + 500, Y0 + 200), (X0 + 500, Y0 + 500)]])
    grid = hs.hex_grid(area, 50.0, crs=CRS)
    rng = np.random.default_rng(2)
    counts = rng.poisson(0.6, len(grid))
    counts[:30] += 5
    coords = hs.grid_centres(grid)
    dists = 50.0 * (1.0 + np.arange(10)) * (1.0 + 1e-6)
    pairs = cKDTree(coords).query_pairs(dists[-1], output_type="ndarray")     # the independent pair list
    band_of = np.searchsorted(dists, np.hypot(*(coords[pairs[:, 0]] - coords[pairs[:, 1]]).T), side="left")
    expected = hs.morans_i_z_bands(counts, pairs[:, 0], pairs[:, 1], band_of, 10)
    got = hs.morans_i_z_hex_bands(counts, grid["q"].to_numpy(), grid["r"].to_numpy(), 50.0, dists)
    assert np.allclose(got, expected, rtol=0, atol=1e-12)
    assert max(abs(z) for z in got) > 1.0          # a real signal, not all zeros


def test_hex_band_sums_equal_the_weights_product():
    grid = hs.hex_grid(box(X0, Y0, X0 + 1300, Y0 + 900), 40.0, crs=CRS)
    cols = np.random.default_rng(4).poisson(1.2, (len(grid), 3))
    for band in (40.0, 80.0, 121.0):
        W = hs.distance_band_weights(hs.grid_centres(grid), band)      # KD-tree pairs, cell included
        assert np.array_equal(hs.hex_band_sums(cols, grid, band), (W.tocsr() @ cols).astype(np.int64))


def test_neighbouring_hexagons_share_their_corners_exactly():
    # a corner shared by three cells must be the same floats in each (far from the origin, where
    # centre + offset rounds differently): the cells then form an exact coverage
    from civgis.analysis.hotspots import hex_polygons

    q, r = np.meshgrid(np.arange(-3, 4), np.arange(-3, 4))
    q, r = q.ravel() + 1_900_000, r.ravel() + 340_000      # Gauss-Krüger-sized coordinates
    cells = hex_polygons(q, r, 20.554449373185335)
    corners = shapely.get_coordinates(cells).reshape(len(cells), 7, 2)[:, :6]
    unique = np.unique(corners.reshape(-1, 2), axis=0)
    # a hexagonal patch of n cells has 2n + 2·(its rows) + … corners; count them by hand: each
    # interior corner is shared by 3 cells, so the distinct corners are far fewer than 6 per cell
    assert len(unique) < 0.45 * corners.reshape(-1, 2).shape[0]
    union = shapely.coverage_union_all(cells)
    assert union.geom_type == "Polygon" and len(union.interiors) == 0
    assert abs(union.area - len(cells) * np.sqrt(3) / 2 * 20.554449373185335 ** 2) < 1e-6 * union.area
    # the outline keeps only boundary corners: no interior vertex survives the dissolve
    boundary_corners = {tuple(c) for c in shapely.get_coordinates(union.exterior)}
    counts = {}
    for c in map(tuple, corners.reshape(-1, 2)):
        counts[c] = counts.get(c, 0) + 1
    assert boundary_corners == {c for c, n in counts.items() if n < 3}


def test_write_hotspots_geopackage_written_beside_the_maps_leaves_no_thread_and_raises_its_error(
        small_ws, tmp_path, monkeypatch):
    """The GeoPackage is written in a thread while the maps are drawn: its layers hold the cells (ArcGIS
    names), no thread is left running afterwards (a later fork stays safe), and its failure is the call's."""
    import threading

    import pyogrio

    import civgis.run.hotspots as run_hs

    ws, _ = small_ws
    before = threading.active_count()
    out = run_hs.write_hotspots(ws, tmp_path / "ok", as_of="2025-12-31", cell_size=150.0, band=400.0)
    assert threading.active_count() == before
    assert out.files["gpkg"] == tmp_path / "ok" / "hotspots.gpkg" and list(out.files)[0] == "gpkg"
    cells = pyogrio.read_dataframe(out.files["gpkg"], layer="cells")
    assert len(cells) == len(out.result.cells) and cells["Join_Count"].sum() == out.result.cells["count"].sum()

    def disk_full(*args):
        raise OSError("No space left on device")

    monkeypatch.setattr(run_hs, "_write_gpkg", disk_full)
    with pytest.raises(OSError, match="No space left"):
        run_hs.write_hotspots(ws, tmp_path / "full", as_of="2025-12-31", cell_size=150.0, band=400.0)
    assert threading.active_count() == before


def _same_outline(a, b) -> bool:
    """Equal to the last bit once normalised (ring starts and directions are a writer's choice)."""
    return shapely.normalize(a).equals_exact(shapely.normalize(b), tolerance=0)


def test_hex_union_traces_geos_coverage_union_with_holes_islands_and_corner_contacts():
    """``hex_union`` gives GEOS's ``coverage_union_all`` of the cells' hexagons, vertex for vertex, for random
    classes (many parts, holes, cells meeting at a corner) and for a ring of cells around an island."""
    grid = hs.hex_grid(box(0, 0, 900, 700), 37.0, origin=(3.0, -5.0))
    q, r = grid["q"].to_numpy(), grid["r"].to_numpy()
    hexes = np.asarray(grid.geometry.values)
    rng = np.random.default_rng(7)
    for _ in range(12):
        label = rng.integers(0, 3, len(grid))
        for value in range(3):
            take = np.flatnonzero(label == value)
            assert _same_outline(hs.hex_union(q[take], r[take], 37.0, (3.0, -5.0)), shapely.coverage_union_all(hexes[take]))
    # a ring two cells wide around a hole, and one cell inside the hole (an island: a shell in a hole)
    centre = (int(np.median(q)), int(np.median(r)))
    dist = (np.abs(q - centre[0]) + np.abs(r - centre[1]) + np.abs(q + r - sum(centre))) // 2   # hex distance
    ring, island = np.flatnonzero((dist >= 3) & (dist <= 4)), np.flatnonzero(dist == 0)
    take = np.r_[ring, island]
    union = hs.hex_union(q[take], r[take], 37.0, (3.0, -5.0))
    assert union.geom_type == "MultiPolygon" and len(union.geoms) == 2
    donut = max(union.geoms, key=lambda p: p.area)
    assert len(donut.interiors) == 1 and donut.area == pytest.approx(len(ring) * hexes[0].area)
    assert _same_outline(union, shapely.coverage_union_all(hexes[take]))
    assert hs.hex_union([], [], 37.0).is_empty


def test_dissolve_classes_traces_grid_cells_and_overlays_cells_that_left_the_lattice():
    """The report's dissolve: lattice cells (``q``, ``r``, the grid's size) traced, the outline GEOS's; cells
    reprojected since (same columns, other corners) go through the coverage union, in their own CRS."""
    from civgis.render.hotspots import _on_lattice, dissolve_classes

    grid = hs.hex_grid(box(500_000, 3_600_000, 501_500, 3_601_000), 40.0, crs="EPSG:4547")
    grid["gi_bin"] = np.random.default_rng(3).choice([-3, 0, 3], len(grid))
    grid["count"] = 1
    traced = dissolve_classes(grid, "gi_bin")
    assert _on_lattice(grid)
    for _, row in traced.iterrows():
        cells = np.asarray(grid.geometry.values)[grid["gi_bin"].to_numpy() == row["gi_bin"]]
        assert _same_outline(row.geometry, shapely.coverage_union_all(cells)) and row["n_cells"] == len(cells)
    moved = grid.to_crs(4326)
    assert not _on_lattice(moved)
    degrees = dissolve_classes(moved, "gi_bin")
    assert degrees.crs.to_epsg() == 4326 and degrees.total_bounds[0] < 180
    assert np.allclose(degrees.to_crs(4547).area.to_numpy(), traced.area.to_numpy(), rtol=1e-6)
