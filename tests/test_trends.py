"""Mann-Kendall (hand-worked and against pymannkendall), emerging hot spot categories, the space-time cube."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from civgis.analysis import hotspots as hs
from civgis.analysis import trends as tr


# ------------------------------------------------------------------------------ Mann-Kendall
def test_mann_kendall_hand_worked_with_ties():
    x = [5, 5, 4, 3, 3, 1]
    # S = Σ_{i<j} sign(x_j − x_i): from 5: 0,−1,−1,−1,−1 (−4); from 5: −1,−1,−1,−1 (−4);
    # from 4: −1,−1,−1 (−3); from 3: 0,−1 (−1); from 3: −1 (−1)  → S = −13
    # ties: two groups of 2 → Var = [6·5·17 − 2·(2·1·9)]/18 = 474/18
    # Z = (S + 1)/√Var ;  p = 2(1 − Φ(|Z|))
    r = tr.mann_kendall(x)
    var = (6 * 5 * 17 - 2 * (2 * 1 * 9)) / 18
    z = (-13 + 1) / math.sqrt(var)
    assert r.s == -13
    assert r.var_s == pytest.approx(var)
    assert r.z == pytest.approx(z)
    assert r.p == pytest.approx(math.erfc(abs(z) / math.sqrt(2)))
    assert r.tau == pytest.approx(-13 / 15)
    assert r.trend == "decreasing"
    flat = tr.mann_kendall([2, 2, 2, 2])
    assert (flat.s, flat.z, flat.p, flat.trend) == (0, 0.0, 1.0, "no trend")


@pytest.mark.parametrize("seed", range(6))
def test_mann_kendall_matches_pymannkendall(seed):
    import pymannkendall as mk

    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 40))
    x = np.round(rng.normal(0, 1, n).cumsum() + 0.05 * np.arange(n), 0)   # rounding makes ties
    ours = tr.mann_kendall(x, alpha=0.05)
    ref = mk.original_test(x, alpha=0.05)
    assert ours.s == ref.s
    assert ours.var_s == pytest.approx(ref.var_s)
    assert ours.z == pytest.approx(ref.z, abs=1e-12)
    assert ours.p == pytest.approx(ref.p, abs=1e-12)
    assert ours.tau == pytest.approx(ref.Tau)
    assert ours.trend == ref.trend


def test_mann_kendall_many_equals_row_by_row():
    rng = np.random.default_rng(9)
    X = rng.integers(0, 4, (50, 12)).astype(float)
    many = tr.mann_kendall_many(X)
    for k in range(len(X)):
        r = tr.mann_kendall(X[k])
        assert (many["s"][k], many["var_s"][k], many["z"][k]) == pytest.approx((r.s, r.var_s, r.z))


# ------------------------------------------------------------------------------ categories
CASES = [
    # bins (oldest → final), trend z, trend p, expected
    ([0, 0, 0, 0, 0, 0, 0, 0, 0, 2], 1.0, 0.3, "new_hot"),
    ([0, 1, 0, 0, 0, 0, 0, 0, 3, 3], 1.0, 0.3, "sporadic_hot"),       # hot before the final run
    ([0, 0, 0, 0, 0, 0, 0, 1, 2, 3], 2.5, 0.01, "consecutive_hot"),
    ([0, 3, 3, 3, 3, 3, 3, 3, 3, 3], 2.5, 0.01, "intensifying_hot"),  # 9 of 10 = 90 %
    ([3, 3, 3, 3, 3, 3, 3, 3, 3, 3], 0.4, 0.70, "persistent_hot"),
    ([3, 3, 3, 3, 3, 3, 3, 3, 3, 2], -3.0, 0.003, "diminishing_hot"),
    ([0, 2, 0, 1, 0, 0, 3, 0, 0, 1], 0.0, 1.0, "sporadic_hot"),
    ([0, -2, 0, 1, 0, 0, 3, 0, 0, 1], 0.0, 1.0, "oscillating_hot"),
    ([3, 3, 3, 3, 3, 3, 3, 3, 3, 0], -1.0, 0.3, "historical_hot"),
    ([0, 0, 0, 0, 0, 0, 0, 0, 0, -1], 0.0, 1.0, "new_cold"),
    ([0, 0, 0, 0, 0, 0, 0, -2, -3, -3], -2.0, 0.04, "consecutive_cold"),
    ([-1, -2, -3, -3, -3, -3, -3, -3, -3, -3], -2.6, 0.009, "intensifying_cold"),
    ([-3, -3, -3, -3, -3, -3, -3, -3, -3, -3], 0.1, 0.9, "persistent_cold"),
    ([-3, -3, -3, -3, -3, -3, -3, -3, -3, -1], 2.2, 0.03, "diminishing_cold"),
    ([0, -1, 0, 0, -2, 0, 0, 0, 0, -1], 0.0, 1.0, "sporadic_cold"),
    ([0, 2, 0, 0, 0, -1, 0, 0, 0, -1], 0.0, 1.0, "oscillating_cold"),
    ([-3, -3, -3, -3, -3, -3, -3, -3, -3, 0], 1.0, 0.3, "historical_cold"),
    ([0, 0, 3, 0, 0, 0, 0, 0, 0, 0], 0.0, 1.0, "none"),
    ([0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0.0, 1.0, "none"),
    # the 90 % threshold: 8 of 10 hot is not "most of the time", so a significant rise is consecutive
    ([0, 0, 3, 3, 3, 3, 3, 3, 3, 3], 3.0, 0.002, "consecutive_hot"),
    # a trend that is significant at 0.10 but not at 0.05 counts at the default 0.10
    ([3, 3, 3, 3, 3, 3, 3, 3, 3, 3], 1.7, 0.089, "intensifying_hot"),
]


def test_every_category_from_hand_worked_series():
    bins = np.array([c[0] for c in CASES])
    got = tr.classify_emerging(bins, [c[1] for c in CASES], [c[2] for c in CASES])
    assert got.tolist() == [c[3] for c in CASES]
    stricter = tr.classify_emerging(bins[-1:], [1.7], [0.089], trend_alpha=0.05)
    assert stricter.tolist() == ["persistent_hot"]


# ------------------------------------------------------------------------------ space-time cube
def test_space_time_gi_equals_the_explicit_kron_weights():
    rng = np.random.default_rng(4)
    grid = hs.hex_grid(box(0, 0, 800, 600), 100.0)
    X = rng.poisson(2.0, (len(grid), 7)).astype(float)
    Ws = hs.distance_band_weights(hs.grid_centres(grid), 180.0)
    for window in (0, 1, 2):
        z, p = tr.gi_star_space_time(X, Ws, window)
        Wst = tr.space_time_weights(Ws, 7, window)
        zr, pr = hs.gi_star_from_weights(X.T.ravel(), Wst)     # step-major flattening
        assert np.allclose(z, zr.reshape(7, -1).T, atol=1e-12)
        assert np.allclose(p, pr.reshape(7, -1).T, atol=1e-12)
    T = tr.space_time_weights(hs.distance_band_weights([[0, 0], [1000, 0]], 1.0), 3, 1).toarray()
    # bin = step·2 + cell: a bin sees itself and the same cell one step earlier, never later
    assert T[2 * 2 + 0].tolist() == [0, 0, 1, 0, 1, 0]


def test_time_steps_by_month_and_week():
    t = pd.Series(pd.to_datetime(["2025-01-31 23:00", "2025-02-01", "2025-04-15", "2024-12-31"], format="mixed"))
    step, periods = tr.time_steps(t, by="month", since="2025-01-01")
    assert step.tolist() == [0, 1, 3, -1]
    assert [str(p) for p in periods] == ["2025-01", "2025-02", "2025-03", "2025-04"]
    step, periods = tr.time_steps(t, by="week", since="2025-01-27", until="2025-02-10")
    assert step.tolist() == [0, 0, -1, -1] and len(periods) == 2
    with pytest.raises(ValueError, match="month or week"):
        tr.time_steps(t, by="day")


def _synthetic_cases(rng):
    """12 months: a steady cluster, a cluster growing every month, a cluster of the last month only."""
    rows = []
    for m in range(12):
        when = pd.Timestamp(2025, m + 1, 10)
        bg = rng.uniform(0, 3000, (60, 2))
        steady = rng.normal([600, 600], 60, (40, 2))
        growing = rng.normal([2400, 600], 60, (20 + 8 * m, 2))
        for xy in (bg, steady, growing):
            rows += [(x, y, when) for x, y in xy]
        if m == 11:
            rows += [(x, y, when) for x, y in rng.normal([1500, 2400], 60, (60, 2))]
    df = pd.DataFrame(rows, columns=["x", "y", "t"])
    return df[["x", "y"]].to_numpy(), df["t"]


def test_emerging_hotspots_on_synthetic_clusters():
    rng = np.random.default_rng(21)
    xy, t = _synthetic_cases(rng)
    grid = hs.hex_grid(box(0, 0, 3000, 3000), 150.0)
    e = tr.emerging_hotspots(xy, t, grid, 350.0, by="month")
    assert len(e.periods) == 12
    # the cube: counts per month equal the cases of that month
    per_month = t.dt.month.value_counts().sort_index().to_numpy()
    assert np.array_equal(e.counts.sum(axis=0), per_month)

    def cat(x, y):
        return e.cells["category"].iloc[hs.hex_cell_index(np.array([[x, y]]), grid)[0]]

    assert cat(600, 600) == "persistent_hot"
    assert cat(2400, 600) == "intensifying_hot"
    assert cat(1500, 2400) == "new_hot"
    d = e.to_dict()
    assert d["n_steps"] == 12 and d["categories"]["intensifying_hot"] >= 1


def test_too_few_time_steps_is_a_clear_error():
    grid = hs.hex_grid(box(0, 0, 500, 500), 100.0)
    t = pd.Series(pd.to_datetime(["2025-01-01"] * 40))
    with pytest.raises(ValueError, match="time steps"):
        tr.emerging_hotspots(np.full((40, 2), 250.0), t, grid, 200.0)


# ------------------------------------------------------------------------------ the demo county
def test_demo_growing_trend_is_intensifying(demo_ws, demo_dir):
    from civgis.demo import load_manifest

    grow = load_manifest(demo_dir)["planted"]["growing_trend"]
    res = hs.hotspots_workspace(demo_ws)
    e = tr.emerging_hotspots_workspace(demo_ws, res, by="month", since=grow["start"])
    cell = hs.hex_cell_index(np.array([[grow["x"], grow["y"]]]), res.cells)[0]
    row = e.cells.iloc[cell]
    assert row["category"] == "intensifying_hot"
    assert row["trend_z"] > 0 and row["trend_p"] <= 0.10
    # over the whole period it only became hot after it started: a consecutive hot spot
    whole = tr.emerging_hotspots_workspace(demo_ws, res, by="month")
    assert whole.cells["category"].iloc[cell] == "consecutive_hot"
    first_hot = int(np.argmax(whole.bins[cell] > 0))
    assert str(whole.periods[first_hot]) >= grow["start"][:7]


# ------------------------------------------------------------------------------ lattice band sums
def _irregular_grid(cell: float = 50.0):
    """A hex grid over an L-shaped area with a hole: lattice positions without a cell inside the window."""
    from shapely.geometry import Polygon

    area = Polygon([(0, 0), (2000, 0), (2000, 700), (800, 700), (800, 1500), (0, 1500)],
                   holes=[[(200, 200), (500, 200), (500, 500), (200, 500)]])
    return hs.hex_grid(area, cell, crs=None)


@pytest.mark.parametrize("band", [50.0, 100.0, 137.0, 260.0])
def test_hex_band_lag_equals_the_kd_tree_weights_product(band):
    grid = _irregular_grid()
    rng = np.random.default_rng(int(band))
    counts = rng.poisson(0.7, (len(grid), 5))
    W = hs.distance_band_weights(hs.grid_centres(grid), band)    # KD-tree pairs: the independent oracle
    lag, deg = tr.hex_band_lag(counts, grid["q"].to_numpy(), grid["r"].to_numpy(), 50.0, band)
    assert np.array_equal(lag, W.tocsr() @ counts.astype(float))
    assert np.array_equal(deg, np.bincount(W.row, minlength=len(grid)).astype(float))
    # a 1-D vector too; and a cell's own count always counts (w_ii = 1)
    lag1, _ = tr.hex_band_lag(counts[:, 0], grid["q"].to_numpy(), grid["r"].to_numpy(), 50.0, band)
    assert lag1.shape == (len(grid),) and np.array_equal(lag1, lag[:, 0])


def test_hex_band_rows_by_hand():
    # band of one cell width: the 6 neighbours and the cell itself — rows dr = −1, 0, 1 with
    # dq ∈ [0, 1], [−1, 1], [−1, 0] (the neighbour (q+dq, r+dr) is at √(dq² + dq·dr + dr²) widths)
    rows, lo, hi = tr.hex_band_rows(100.0, 100.0)
    assert rows.tolist() == [-1, 0, 1] and lo.tolist() == [0, -1, -1] and hi.tolist() == [1, 1, 0]


def test_hex_band_lag_refuses_non_integer_values():
    grid = _irregular_grid()
    with pytest.raises(ValueError, match="integer"):
        tr.hex_band_lag(np.full(len(grid), 0.5), grid["q"].to_numpy(), grid["r"].to_numpy(), 50.0, 100.0)


def test_space_time_gi_on_the_lattice_equals_the_sparse_weights():
    grid = _irregular_grid()
    rng = np.random.default_rng(3)
    counts = rng.poisson(0.5, (len(grid), 7)).astype(float)
    W = hs.hex_band_weights(grid, 160.0)
    for window in (0, 1, 2):
        z0, p0 = tr.gi_star_space_time(counts, W, window)
        z1, p1 = tr.gi_star_space_time(counts, None, window,
                                       lattice=(grid["q"].to_numpy(), grid["r"].to_numpy(), 50.0, 160.0))
        assert np.array_equal(z0, z1) and np.array_equal(p0, p1)


def test_one_step_cube_on_the_lattice_matches_esda():
    import esda
    from libpysal.weights import DistanceBand

    grid = _irregular_grid()
    rng = np.random.default_rng(11)
    counts = rng.poisson(0.4, len(grid))
    counts[:40] += 6                        # a cluster at one end of the grid
    z, _ = tr.gi_star_space_time(counts[:, None], None, 0,
                                 lattice=(grid["q"].to_numpy(), grid["r"].to_numpy(), 50.0, 160.0))
    w = DistanceBand(hs.grid_centres(grid), threshold=160.0 * (1 + 1e-9), binary=True, silence_warnings=True)
    g = esda.G_Local(counts.astype(float), w, transform="B", star=True, permutations=0)
    assert np.abs(z[:, 0] - g.Zs).max() < 1e-9


def test_emerging_on_the_lattice_equals_the_given_weights():
    rng = np.random.default_rng(5)
    grid = hs.hex_grid(box(0, 0, 1500, 1200), 60.0, crs=None)
    n = 4000
    xy = np.r_[rng.uniform([0, 0], [1500, 1200], (n // 2, 2)), rng.normal([600, 500], 80, (n // 2, 2))]
    times = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.uniform(0, 360, n), unit="D")
    times = times.where(~((xy[:, 0] > 450) & (np.arange(n) % 3 == 0)), pd.Timestamp("2025-12-20"))
    lattice = tr.emerging_hotspots(xy, times, grid, 150.0)
    given = tr.emerging_hotspots(xy, times, grid, 150.0, weights=hs.hex_band_weights(grid, 150.0))
    for name in ("z", "p", "bins", "counts"):
        assert np.array_equal(getattr(lattice, name), getattr(given, name)), name
    assert lattice.cells["category"].tolist() == given.cells["category"].tolist()
    assert np.array_equal(lattice.cells["trend_z"], given.cells["trend_z"])
