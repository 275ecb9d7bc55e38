"""Greening plan (见缝插绿): service gap, candidates, greedy vs exact maximal covering, what-if, CLI.

Most instances are a residential *strip* y ∈ [0, 10] with 1 resident per metre of x. A site is a
rectangle x ∈ [a, a + w], y ∈ [−100, 110] straddling the strip, so its service buffer meets the
strip along its flat side: a site of area ≥ 5 000 m² covers exactly x ∈ [a − 500, a + w + 500].
Every expected number below follows from that by hand.
"""

from __future__ import annotations

import doctest
import itertools
import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import shapely
from shapely.geometry import box

from civgis.analysis import greening
from civgis.analysis.greening import (aggregate_units, candidate_sites, coverage_matrix, demand_units, exact_max_cover,
                             greedy_max_cover, plan_greening, plan_greening_frames, qualifying_parks,
                             raster_candidates, service_gap, service_radius)
from civgis.store.workspace import Workspace

CRS = 4527


def strip(x0, x1, pop=None, rid="R1"):
    pop = (x1 - x0) if pop is None else pop
    return gpd.GeoDataFrame({"res_id": [rid], "name": ["小区"], "population": [pop]},
                            geometry=[box(x0, 0, x1, 10)], crs=CRS)


def sites(spec):
    """spec: {site_id: (a, w)} → rectangles x∈[a, a+w], y∈[−100, 110] (area 210·w)."""
    return gpd.GeoDataFrame({"site_id": list(spec)}, crs=CRS,
                            geometry=[box(a, -100, a + w, 110) for a, w in spec.values()])


# ---------------------------------------------------------------------------- tiers and gap
def test_service_radius_tiers():
    assert service_radius([0, 999.99, 1000, 4999.9, 5000, 1e6]).tolist() == [0, 0, 300, 300, 500, 500]
    # the tier table is a parameter (some texts use 2 000 m² for the 300 m tier)
    assert service_radius([1500, 2500], tiers=((5000, 500), (2000, 300))).tolist() == [0, 300]


def test_qualifying_parks_keep_g1_of_tier_size():
    g = gpd.GeoDataFrame({"green_id": list("abcd"), "category": ["G1", "G1", "G2", "G1"]}, crs=CRS,
                         geometry=[box(0, 0, 100, 100), box(0, 0, 40, 40), box(0, 0, 100, 100), box(0, 0, 30, 30)])
    parks = qualifying_parks(g)
    assert parks["green_id"].tolist() == ["a", "b"]            # G2 no, 900 m² no
    assert parks["radius_m"].tolist() == [500.0, 300.0]        # 10 000 m², 1 600 m²


def test_gap_spreads_population_by_area_and_cuts_at_the_radius():
    res = pd.concat([strip(0, 1000, pop=2000, rid="R1"),       # 2 residents per metre
                     strip(5000, 5100, pop=300, rid="R2")], ignore_index=True)
    park = gpd.GeoDataFrame({"category": ["G1"]}, geometry=[box(-50, -100, 0, 110)], crs=CRS)  # 10 500 m² → 500 m
    gap = service_gap(res, qualifying_parks(park))
    # R1 covered on x ∈ [0, 500]: 1 000 residents; R2 untouched
    assert gap["res_id"].tolist() == ["R1", "R2"]
    assert gap["residents"].to_numpy() == pytest.approx([1000.0, 300.0], abs=1e-6)
    assert gap["area_m2"].to_numpy() == pytest.approx([5000.0, 1000.0], abs=1e-6)
    assert gap.geometry.iloc[0].bounds == pytest.approx((500, 0, 1000, 10), abs=1e-6)


def test_demand_units_keep_every_resident_on_an_aligned_grid():
    gap = gpd.GeoDataFrame({"res_index": [0, 1], "density": [0.5, 2.0]}, crs=CRS,
                           geometry=[box(10, 0, 135, 20), shapely.Polygon([(0, 0), (100, 0), (0, 100)])])
    u = demand_units(gap, cell_m=50)
    # piece 0: x cells [10,50],[50,100],[100,135] → 800, 1000, 700 m²; piece 1: triangle of 5 000 m²
    p0 = u[u["res_index"] == 0].sort_values("area_m2")["area_m2"].tolist()
    assert p0 == pytest.approx([700, 800, 1000])
    assert u.loc[u["res_index"] == 1, "area_m2"].sum() == pytest.approx(5000)
    assert u["weight"].sum() == pytest.approx(0.5 * 2500 + 2.0 * 5000)
    # every unit lies in one grid cell and its point lies on it
    b = np.array([g.bounds for g in u.geometry])
    assert np.all(np.floor(b[:, 0] / 50 + 1e-9) == np.floor(b[:, 2] / 50 - 1e-9))
    assert all(g.covers(p) for g, p in zip(u.geometry, u["point"]))


def test_coverage_matrix_uses_distance_to_the_boundary():
    pts = shapely.points([0, 160, 349, 351, 550], [0, 0, 0, 0, 0])
    site = box(-50, -50, 50, 50)                                 # boundary at x = 50
    A = coverage_matrix(pts, [site, site], [300, 500]).toarray()
    assert A.tolist() == [[True, True, True, False, False], [True, True, True, True, True]]


# ---------------------------------------------------------------------------- solvers
def test_greedy_is_provably_not_optimal_and_exact_finds_the_optimum():
    res = strip(0, 2100)                                         # 2 100 residents, 1 per metre
    cand = sites({"A": (500, 50), "B": (1550, 50), "C": (950, 200)})
    # A covers [0, 1050], B [1050, 2100], C [450, 1650] (1 200: the greedy's first pick)
    for solver in ("highs", "cbc"):
        plan = plan_greening_frames(residential=res, candidates=cand, sites=2, exact=True, solver=solver,
                                    refine=False)
        assert plan.sites["site_id"].tolist() == ["C", "A"]      # greedy: 1 200, then 450 (A before B on a tie)
        assert plan.greedy.objective == pytest.approx(1650)
        assert plan.exact.objective == pytest.approx(2100)
        assert plan.exact.optimal
        assert sorted(plan.candidates["site_id"].iloc[plan.exact.chosen]) == ["A", "B"]
        assert plan.gap_pct == pytest.approx(100 * 450 / 2100)
    # exact areas agree with the grid here (buffer edges fall on cell edges)
    assert plan.sites["new_residents"].tolist() == pytest.approx([1200, 450], abs=1e-6)
    assert plan.covered_after == pytest.approx(1650, abs=1e-6)
    best = plan_greening_frames(residential=res, candidates=cand, sites=2, exact=True, use="exact", refine=False)
    assert best.covered_after == pytest.approx(2100, abs=1e-6)
    assert best.sites["new_residents"].sum() == pytest.approx(2100, abs=1e-6)
    # the refined greedy (the plan's default) exchanges C for B and reaches the optimum here
    refined = plan_greening_frames(residential=res, candidates=cand, sites=2)
    assert sorted(refined.sites["site_id"]) == ["A", "B"] and refined.covered_after == pytest.approx(2100, abs=1e-6)


def test_coverage_is_counted_once_where_two_new_parks_overlap():
    res = strip(0, 2000)
    cand = sites({"P": (500, 50), "Q": (900, 50)})               # P [0, 1050], Q [400, 1450]: overlap 650
    plan = plan_greening_frames(residential=res, candidates=cand, sites=2, exact=True)
    assert plan.sites["site_id"].tolist() == ["P", "Q"]
    assert plan.sites["new_residents"].tolist() == pytest.approx([1050, 400], abs=1e-6)  # not 1 050 + 1 050
    assert plan.covered_after == pytest.approx(1450, abs=1e-6)
    assert plan.greedy.objective == pytest.approx(1450) and plan.exact.objective == pytest.approx(1450)
    assert plan.sites["cumulative_coverage"].tolist() == pytest.approx([1050 / 2000, 1450 / 2000])


def test_partial_coverage_of_a_unit_is_exact_in_the_reported_figures():
    # buffer edge at x = 1 025 cuts the 50 m cell [1000, 1050]: the grid counts it wholly in or out,
    # the reported new_residents is the exact area share
    res = strip(0, 3000)
    cand = sites({"S": (500, 25)})                               # 5 250 m² → 500 m: covers [0, 1025]
    plan = plan_greening_frames(residential=res, candidates=cand, sites=1, cell_m=50)
    assert plan.sites["new_residents"].iloc[0] == pytest.approx(1025, abs=1e-6)
    assert plan.sites["new_residents_grid"].iloc[0] in (pytest.approx(1000), pytest.approx(1050))
    assert plan.gap_after.geometry.union_all().bounds == pytest.approx((1025, 0, 3000, 10), abs=1e-6)


def _brute_force(A, w, k):
    A = A.toarray()
    best = 0.0
    for combo in itertools.combinations(range(A.shape[0]), k):
        best = max(best, float(w[A[list(combo)].any(axis=0)].sum()))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_matches_brute_force_and_greedy_keeps_its_guarantee(seed):
    rng = np.random.default_rng(seed)
    n_sites, n_units, k = 14, 120, 3
    A = sp.csr_matrix(rng.random((n_sites, n_units)) < 0.12)
    w = rng.integers(1, 50, n_units).astype(float)
    optimum = _brute_force(A, w, k)
    for solver in ("highs", "cbc"):
        sol = exact_max_cover(A, w, k=k, solver=solver)
        assert sol.objective == pytest.approx(optimum) and sol.optimal
        assert len(sol.chosen) <= k
    assert greening.lp_bound_max_cover(A, w, k=k) >= optimum - 1e-6      # the LP relaxation bounds it
    g = greedy_max_cover(A, w, k=k)
    assert g.objective <= optimum + 1e-9
    assert g.objective >= (1 - 1 / np.e) * optimum
    assert g.bound >= optimum - 1e-9                              # the online bound is a true bound
    # marginal gains add up to the union
    assert g.objective == pytest.approx(float(w[A.toarray()[g.chosen].any(axis=0)].sum()))


# ---------------------------------------------------------------------------- exact under a time limit
def _hard_instance(seed, n_sites=300, n_units=3000, side=3900.0):
    """Points in a square, sites with radii 200–800 m (the bench's hard instance, scaled down):
    dense overlaps, so the LP relaxation is loose and no solver finishes in milliseconds. The
    coverage is computed here with plain distances, not with civgis's coverage matrix."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, side, (n_units, 2))
    cxy = rng.uniform(0, side, (n_sites, 2))
    r = rng.uniform(200, 800, n_sites)
    dist = np.hypot(cxy[:, None, 0] - pts[None, :, 0], cxy[:, None, 1] - pts[None, :, 1])
    return sp.csr_matrix(dist <= r[:, None]), rng.integers(10, 90, n_units).astype(float)


def _lp_relaxation(A, w, k):
    """The LP relaxation's optimum, solved here with scipy's dual simplex (civgis uses interior point)."""
    from scipy.optimize import linprog

    n, m = A.shape
    rows = sp.vstack([sp.hstack([-sp.csr_matrix(A.T, dtype=float), sp.identity(m)]),
                      sp.csr_matrix(np.r_[np.ones(n), np.zeros(m)][None, :])], format="csr")
    res = linprog(np.r_[np.zeros(n), -w], A_ub=rows, b_ub=np.r_[np.zeros(m), k], bounds=(0, 1), method="highs-ds")
    assert res.status == 0
    return -res.fun


def _union(A, w, chosen):
    return float(w[np.asarray(A[chosen].sum(axis=0)).ravel() > 0].sum()) if len(chosen) else 0.0


@pytest.mark.parametrize("solver", ["highs", "cbc", "scipy-milp"])
def test_exact_with_a_tiny_time_limit_is_never_below_greedy(solver, monkeypatch):
    A, w = _hard_instance(0)
    k = 12
    lp = _lp_relaxation(A, w, k)
    greedy = greedy_max_cover(A, w, k=k, refine=True)
    assert lp > 1.01 * greedy.objective                  # the instance is hard: the LP leaves a 1 % gap
    if solver == "scipy-milp":                           # HiGHS without highspy: scipy's milp, no warm start
        monkeypatch.setitem(__import__("sys").modules, "highspy", None)
    sol = exact_max_cover(A, w, k=k, solver="cbc" if solver == "cbc" else "highs", time_limit=0.01,
                          warm_start=greedy)
    assert len(sol.chosen) <= k and len(set(sol.chosen)) == len(sol.chosen)
    assert sol.objective == pytest.approx(_union(A, w, sol.chosen))       # the figure is the sites' union
    assert sol.objective >= greedy.objective - 1e-9                      # never below greedy
    # stopped by the limit: not optimal, and the gap is measured from a true bound no looser than the LP
    assert not sol.optimal and sol.status in ("time_limit", "greedy_kept")
    assert sol.objective < sol.bound <= lp + 1e-6 * lp
    assert sol.bound_gap_pct == pytest.approx(100 * (sol.bound - sol.objective) / sol.bound)
    if sol.status == "greedy_kept":                        # the solver's own incumbent was worse (or absent)
        assert not sol.solver_objective >= greedy.objective
    if solver != "scipy-milp":                              # the warm start reached the solver: its incumbent
        assert sol.status == "time_limit" and sol.solver_objective >= greedy.objective - 1e-9


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_exact_with_its_default_start_is_never_below_the_lazy_greedy(solver):
    A, w = _hard_instance(1)
    sol = exact_max_cover(A, w, k=10, solver=solver, time_limit=0.01)
    assert sol.objective >= greedy_max_cover(A, w, k=10).objective - 1e-9
    assert sol.objective == pytest.approx(_union(A, w, sol.chosen))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("solver", ["highs", "cbc"])
@pytest.mark.parametrize("time_limit", [None, 0.001, 30.0])
def test_status_says_optimal_only_when_the_bound_is_met(seed, solver, time_limit):
    rng = np.random.default_rng(seed)
    n_sites, n_units, k = 14, 120, 3
    A = sp.csr_matrix(rng.random((n_sites, n_units)) < 0.12)
    w = rng.integers(1, 50, n_units).astype(float)
    optimum = _brute_force(A, w, k)                       # every 3 of the 14 sites
    sol = exact_max_cover(A, w, k=k, solver=solver, time_limit=time_limit)
    assert sol.objective == pytest.approx(_union(A, w, sol.chosen)) and sol.objective <= optimum + 1e-9
    assert sol.bound >= optimum - 1e-6                     # the bound is a true upper bound
    if sol.optimal:
        assert sol.status == "optimal" and sol.objective == pytest.approx(optimum)
        assert sol.bound == pytest.approx(sol.objective) and sol.bound_gap_pct == pytest.approx(0, abs=1e-4)
    else:
        assert sol.status in ("time_limit", "greedy_kept") and sol.bound_gap_pct > 0
    if time_limit != 0.001:   # a solver that finishes within its limit proves the optimum (CBC did not say so)
        assert sol.optimal


def test_a_warm_start_that_breaks_the_limits_is_refused():
    A, w = _hard_instance(2, n_sites=40, n_units=300)
    with pytest.raises(ValueError, match="warm_start"):
        exact_max_cover(A, w, k=2, warm_start=[0, 1, 2])
    with pytest.raises(ValueError, match="warm_start"):
        exact_max_cover(A, w, k=2, warm_start=[0, 0])


def test_cli_greening_prints_the_solver_status_in_chinese(small_ws, capsys):
    from civgis.cli import main

    assert main(["greening", str(small_ws.path), "--sites", "2", "--exact", "--time-limit", "5"]) == 0
    assert "精确求解状态：已证明最优" in capsys.readouterr().out
    assert main(["greening", str(small_ws.path), "--sites", "2", "--exact", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)["exact"]
    assert (d["status"], d["optimal"], d["bound_gap_pct"]) == ("optimal", True, 0.0)
    assert d["bound"] == pytest.approx(d["objective"])


def test_solver_status_line_names_the_stop_and_the_gap():
    from civgis.cli.greening import solver_status_zh

    stopped = greening.CoverSolution([1], [900.0], 900.0, 1000.0, False, "highs", 1.0, "time_limit",
                                     1010.0, "solver", "Time limit reached", 900.0)
    assert solver_status_zh(stopped) == "达到时限停止，未证明最优（求解器改进了贪心解）；上界 1,000 人，差距 10.00%"
    kept = greening.CoverSolution([1], [900.0], 900.0, 1000.0, False, "highs", 1.0, "greedy_kept",
                                  1000.0, "greedy", "Time limit reached", 564.0)
    assert solver_status_zh(kept) == "求解器最好解 564 人，不如贪心解，保留贪心解；上界 1,000 人，差距 10.00%"


def test_lazy_greedy_equals_plain_greedy():
    rng = np.random.default_rng(7)
    A = sp.csr_matrix(rng.random((60, 400)) < 0.05)
    w = rng.random(400)
    covered = np.zeros(400, bool)
    plain = []
    for _ in range(8):
        gains = (A.toarray() & ~covered) @ w
        gains[plain] = -1
        i = int(np.argmax(gains))
        plain.append(i)
        covered |= A.toarray()[i]
    assert greedy_max_cover(A, w, k=8).chosen == plain


def test_budget_takes_the_better_of_ratio_greedy_and_best_single():
    # site 0: 1 m², covers weight 2; site 1: 10 m², covers weight 10 (disjoint); budget 10 m²
    A = sp.csr_matrix(np.array([[1, 1, 0, 0, 0], [0, 0, 1, 1, 1]], bool))
    w = np.array([1, 1, 4, 3, 3.0])
    costs = np.array([1.0, 10.0])
    g = greedy_max_cover(A, w, costs=costs, budget=10)
    assert g.chosen == [1] and g.objective == 10
    e = exact_max_cover(A, w, costs=costs, budget=10)
    assert e.chosen == [1] and e.objective == 10
    e2 = exact_max_cover(A, w, costs=costs, budget=11, k=5)
    assert sorted(e2.chosen) == [0, 1] and e2.objective == 12


@pytest.mark.parametrize("seed", [3, 4, 5, 6])
def test_budgeted_greedy_stays_feasible_and_below_the_brute_force_optimum(seed):
    rng = np.random.default_rng(seed)
    A = sp.csr_matrix(rng.random((12, 150)) < 0.15)
    w = rng.integers(1, 40, 150).astype(float)
    costs = rng.integers(1, 10, 12).astype(float)
    budget = 15.0
    dense = A.toarray()
    optimum = max(float(w[dense[list(c)].any(axis=0)].sum()) if c else 0.0
                  for r in range(0, 13) for c in itertools.combinations(range(12), r) if costs[list(c)].sum() <= budget)
    plain = greedy_max_cover(A, w, costs=costs, budget=budget)
    better = greedy_max_cover(A, w, costs=costs, budget=budget, refine=True)   # seeds + exchanges
    exact = exact_max_cover(A, w, costs=costs, budget=budget)
    for sol in (plain, better, exact):
        assert costs[sol.chosen].sum() <= budget
        assert sol.objective == pytest.approx(float(w[dense[sol.chosen].any(axis=0)].sum()))
    assert plain.objective <= better.objective <= optimum + 1e-9
    assert exact.objective == pytest.approx(optimum)


def test_budget_in_the_plan_limits_the_total_area():
    res = strip(0, 2100)
    cand = sites({"A": (500, 50), "B": (1550, 50), "C": (950, 200)})  # areas 10 500, 10 500, 42 000 m²
    plan = plan_greening_frames(residential=res, candidates=cand, sites=None, budget_m2=21000, exact=True)
    assert sorted(plan.sites["site_id"]) == ["A", "B"]           # C alone does not fit with anything else
    assert plan.sites["area_m2"].sum() <= 21000 + 1e-6
    assert plan.covered_after == pytest.approx(2100, abs=1e-6)


def test_aggregating_units_does_not_change_the_problem():
    A = sp.csr_matrix(np.array([[1, 1, 0, 1, 0, 0], [0, 0, 1, 0, 1, 0], [1, 1, 1, 1, 1, 0]], bool))
    w = np.array([1, 2, 3, 4, 5, 6.0])
    Ag, wg, group = aggregate_units(A, w)
    assert Ag.shape == (3, 2)                                    # {0,2}: units 0,1,3 ; {1,2}: units 2,4 ; unit 5 nobody
    assert sorted(wg.tolist()) == [7.0, 8.0]
    assert group[5] == -1 and group[0] == group[1] == group[3] != group[2] == group[4]


# ---------------------------------------------------------------------------- candidates
def test_candidate_sites_get_the_tier_of_their_size_and_small_plots_are_dropped():
    c = gpd.GeoDataFrame({"site_id": ["a", "b", "c", "d"]}, crs=CRS,
                         geometry=[box(0, 0, 50, 50), box(0, 0, 80, 80), box(0, 0, 30, 30), box(0, 0, 40, 40)])
    out = candidate_sites(c)
    assert out["site_id"].tolist() == ["a", "b", "d"]
    assert out["radius_m"].tolist() == [300, 500, 300]
    assert out["tier"].tolist() == ["300米", "500米", "300米"]
    assert candidate_sites(c, min_area_m2=2000)["site_id"].tolist() == ["a", "b"]


def test_raster_candidates_find_open_plots_of_enough_area(tmp_path):
    import rasterio
    from rasterio.transform import from_origin

    cover = np.zeros((20, 30), dtype="float32")
    cover[2:7, 2:6] = 0.9          # 5 × 4 px of 10 m = 2 000 m² → a 300 m plot
    cover[10:12, 10:12] = 1.0      # 400 m²: too small
    cover[12:20, 20:30] = 0.8      # 8 000 m² but under existing green land: excluded
    cover[15:19, 2:5] = 0.3        # 1 200 m² below the threshold
    path = tmp_path / "canopy.tif"
    with rasterio.open(path, "w", driver="GTiff", width=30, height=20, count=1, dtype="float32", crs=f"EPSG:{CRS}",
                       transform=from_origin(1000, 2000, 10, 10)) as dst:
        dst.write(cover, 1)
    green = [box(1200, 1800, 1300, 1880)]                         # columns 20–29, rows 12–19
    out = raster_candidates(path, exclude=green, min_area_m2=1000, threshold=0.5)
    assert len(out) == 1
    assert out["area_m2"].iloc[0] == pytest.approx(2000)
    assert out["radius_m"].iloc[0] == 300
    assert out.geometry.iloc[0].bounds == pytest.approx((1020, 1930, 1060, 1980))
    # a built-up boundary that leaves the plot out leaves nothing
    none = raster_candidates(path, exclude=green, built_up=[box(1100, 1000, 1300, 2000)])
    assert len(none) == 0


# ---------------------------------------------------------------------------- workspace, what-if, CLI
@pytest.fixture
def small_ws(tmp_path):
    ws = Workspace.create(tmp_path / "county.gpkg", crs=CRS)
    ws.write("built_up", gpd.GeoDataFrame({"name": ["建成区"]}, geometry=[box(0, -200, 2000, 200)], crs=CRS))
    ws.write("residential", pd.concat([strip(0, 1000, pop=1000, rid="R1").assign(name="东区"),
                                       strip(1000, 2000, pop=3000, rid="R2").assign(name="西区")],
                                      ignore_index=True))
    ws.write("green", gpd.GeoDataFrame(
        {"green_id": ["G-1", "G-2", "G-3"], "name": ["老公园", "防护林", "小游园"], "category": ["G1", "G2", "G1"],
         "subcategory": ["G11", None, "G14"]}, crs=CRS,
        geometry=[box(-50, -100, 0, 110),                        # 10 500 m² (part outside built-up: 0 inside)
                  box(0, 150, 1000, 200),                        # G2 50 000 m²
                  box(1900, 150, 1920, 190)]))                   # G1 800 m²: too small to serve
    ws.write("candidates", sites({"S1": (1200, 50), "S2": (1300, 50), "S3": (100, 10)}).assign(
        name=["空地一", "空地二", "小空地"]))                    # S3: 2 100 m² → 300 m
    return ws


def test_plan_on_a_workspace_with_what_if_indicators(small_ws):
    plan = plan_greening(small_ws, sites=1, exact=True)
    # today: the old park covers x ≤ 500 → 500 residents of R1 (1/m); R2 has 3/m
    assert plan.population == 4000
    assert plan.covered_before == pytest.approx(500, abs=1e-6)
    # S1 covers [700, 1750] → 300 (R1) + 750·3 = 2 550; S2 [800, 1850] → 200 + 850·3 = 2 750
    assert plan.sites["site_id"].tolist() == ["S2"]
    assert plan.sites["new_residents"].iloc[0] == pytest.approx(2750, abs=1e-6)
    assert plan.covered_after == pytest.approx(3250, abs=1e-6)
    w = plan.what_if.set_index("indicator")
    bu = 2000 * 400
    # green land inside the built-up area: G2 50 000 + G1 800 (the old park lies outside), + S2 (10 500)
    assert w.loc["green_ratio", "before"] == pytest.approx(100 * 50800 / bu)
    assert w.loc["green_ratio", "after"] == pytest.approx(100 * (50800 + 10500) / bu)
    assert w.loc["park_per_capita_m2", "before"] == pytest.approx(800 / 4000)
    assert w.loc["park_per_capita_m2", "after"] == pytest.approx((800 + 10500) / 4000)
    # by land: 20 000 m² residential, 5 000 covered before, + [800, 1850]·10 after
    assert w.loc["service_coverage_land", "before"] == pytest.approx(100 * 5000 / 20000)
    assert w.loc["service_coverage_land", "after"] == pytest.approx(100 * (5000 + 10500) / 20000)
    assert w.loc["service_coverage_residents", "after"] == pytest.approx(100 * 3250 / 4000)
    d = plan.to_dict()
    assert d["sites"] == [{"site_id": "S2", "area_m2": 10500.0, "radius_m": 500.0, "new_residents": 2750.0,
                           "new_residents_grid": 2750.0, "cumulative_coverage": 0.8125}]
    assert (d["covered_before"], d["covered_after"], d["population"]) == (500.0, 3250.0, 4000.0)
    json.dumps(d)


def test_without_a_green_layer_the_what_if_says_no_data_and_an_empty_one_says_zero(small_ws):
    """Missing is not a number: with no green layer today's green land is unknown, so every what-if indicator
    (before, after, change) is NaN and the table says 无数据 — not 0 % before and the sites alone after. An
    empty green layer is a survey that found none: 0 m² of parks, 0 % green."""
    from civgis.analysis.greening import plan_greening_frames
    from civgis.render.greening import what_if_table_zh

    frames = dict(residential=small_ws.read("residential"), candidates=small_ws.read("candidates"),
                  built_up=small_ws.read("built_up"), sites=1)
    missing = plan_greening_frames(green=None, **frames)
    assert len(missing.sites) == 1   # sites are still chosen (everyone counted as unserved)
    w = missing.what_if.set_index("indicator")
    assert w[["before", "after", "change"]].isna().all().all()
    table = what_if_table_zh(missing)
    assert (table[["现状", "建设后", "变化"]] == "无数据").all().all()

    green = small_ws.read("green")
    empty = plan_greening_frames(green=green.iloc[:0], **frames).what_if.set_index("indicator")
    assert empty.loc["green_ratio", "before"] == 0.0 and empty.loc["park_area_m2", "before"] == 0.0
    s_area = missing.sites["area_m2"].iloc[0]
    assert empty.loc["park_area_m2", "after"] == pytest.approx(s_area)   # the chosen site, all inside the built-up


def test_cli_greening_json_and_outputs(small_ws, tmp_path, capsys):
    from civgis.cli import main

    out = tmp_path / "out"
    assert main(["greening", str(small_ws.path), "--sites", "2", "--exact", "--solver", "cbc",
                 "--json", "--out", str(out)]) == 0
    d = json.loads(capsys.readouterr().out)
    # S2 first (2 750); then S1 [700, 1750] adds only [700, 800] of R1 → 100; S3 [−200, 410] adds nothing
    assert [s["site_id"] for s in d["sites"]] == ["S2", "S1"]
    assert [s["new_residents"] for s in d["sites"]] == [2750.0, 100.0]
    assert d["covered_after"] == 3350.0 and d["exact"]["optimal"] and d["gap_pct"] == 0.0
    for name in ("greening_sites.csv", "greening_what_if.csv", "greening_map.html", "greening_map.png",
                 "greening_plan.json"):
        assert (out / name).stat().st_size > 0
    table = pd.read_csv(out / "greening_sites.csv", encoding="utf-8-sig")
    assert table.columns[:3].tolist() == ["序号", "地块编号", "地块名称"]
    assert table["新增覆盖人口"].tolist() == [2750, 100]
    html = (out / "greening_map.html").read_text(encoding="utf-8")
    assert json.dumps("选中地块")[1:-1] in html and '"S2"' in html      # layer names are \u-escaped JS
    assert not any(u.startswith("http") for u in re.findall(r'(?:src|href)="([^"]*)"', html))  # offline page


def test_cli_greening_table_and_budget(small_ws, capsys):
    from civgis.cli import main

    # 12 000 m²: one of S1/S2 (10 500 m² each); S3 (2 100 m²) no longer fits after S2
    assert main(["greening", str(small_ws.path), "--budget-m2", "12000"]) == 0
    text = capsys.readouterr().out
    assert "S2" in text and "S1" not in text and "S3" not in text and "人均公园绿地面积" in text
    assert main(["greening", str(small_ws.path), "--sites", "1", "--no-refine"]) == 0
    assert "S2" in capsys.readouterr().out


def test_bad_population_names_layer_feature_and_field():
    res = strip(0, 100)
    res.loc[0, "population"] = -5
    with pytest.raises(ValueError, match=r"residential.*R1.*population"):
        plan_greening_frames(residential=res, candidates=sites({"A": (0, 50)}), sites=1)


def test_docstring_examples_run():
    result = doctest.testmod(greening)
    assert result.attempted >= 9 and result.failed == 0


# ---------------------------------------------------------------------------- the demo county
@pytest.fixture(scope="module")
def demo_plans(demo_ws):
    return {k: plan_greening(demo_ws, sites=k, exact=True) for k in (5, 15)}


def test_demo_greedy_is_within_two_percent_of_the_optimum(demo_plans):
    for k, plan in demo_plans.items():
        assert plan.exact.optimal
        assert plan.greedy.objective <= plan.exact.objective + 1e-6
        assert plan.gap_pct <= 2.0, (k, plan.gap_pct)  # refined greedy, measured 0.00 % for K = 1…30 (plain: ≤ 2.9 %)
        assert len(plan.sites) == k
        assert plan.covered_after - plan.covered_before == pytest.approx(plan.sites["new_residents"].sum())


def test_demo_first_site_lies_in_the_planted_park_desert(demo_plans, demo_dir):
    manifest = json.loads((demo_dir / "manifest.json").read_text(encoding="utf-8"))
    desert = set(manifest["planted"]["park_desert"]["candidates"])
    plan = demo_plans[5]
    assert plan.sites["site_id"].iloc[0] in desert
    assert plan.sites["site_id"].isin(desert).sum() >= 3


def test_demo_figures_match_independent_references(demo_plans, demo_ws, demo_dir):
    manifest = json.loads((demo_dir / "manifest.json").read_text(encoding="utf-8"))
    plan = demo_plans[5]
    assert plan.population == manifest["counts"]["residents"]
    w = plan.what_if.set_index("indicator")
    # the generator's own union of green land inside the built-up area
    assert w.loc["green_ratio", "before"] == pytest.approx(
        100 * manifest["planted"]["green"]["union_area_in_built_up_m2"] / manifest["counts"]["built_up_area_m2"], abs=1e-4)
    # covered residents today, by geopandas overlay (area-weighted), not by civgis's own cut
    res = demo_ws.read("residential")
    parks = demo_ws.read("green")
    parks = parks[(parks["category"] == "G1") & (parks.area >= 1000)]
    radius = np.where(parks.area >= 5000, 500.0, 300.0)
    served = gpd.GeoDataFrame(geometry=[parks.geometry.buffer(radius, quad_segs=16).union_all()], crs=res.crs)
    res["density"] = res["population"].astype(float) / res.area
    inter = gpd.overlay(res[["density", "geometry"]], served, how="intersection")
    assert plan.covered_before == pytest.approx(float((inter["density"] * inter.area).sum()), rel=1e-6)
    # the gap cut here and civgis.indicators' service coverage (the report's figure) agree
    gap_land = plan.gap["area_m2"].sum() / res.area.sum()
    assert w.loc["service_coverage_land", "before"] == pytest.approx(100 * (1 - gap_land), abs=1e-4)
    assert w.loc["service_coverage_land", "after"] == pytest.approx(
        100 * (1 - plan.gap_after["area_m2"].sum() / res.area.sum()), abs=1e-4)


def test_demo_budgeted_greedy_is_within_two_percent_of_the_optimum(demo_ws):
    res, green = demo_ws.read("residential"), demo_ws.read("green")
    gap = service_gap(res, qualifying_parks(green))
    cand = candidate_sites(demo_ws.read("candidates"))
    units = demand_units(gap)
    A = coverage_matrix(units["point"], cand.geometry, cand["radius_m"])
    w, costs = units["weight"].to_numpy(), cand["area_m2"].to_numpy()
    gaps = []
    for budget in (5000, 10000, 20000, 40000, 80000):
        g = greedy_max_cover(A, w, costs=costs, budget=budget, refine=True)
        e = exact_max_cover(A, w, costs=costs, budget=budget)
        assert costs[g.chosen].sum() <= budget and costs[e.chosen].sum() <= budget and e.optimal
        gaps.append(100 * (e.objective - g.objective) / e.objective)
    assert max(gaps) <= 2.0, gaps                                   # measured ≤ 0.3 % over 2 500–100 000 m²


@pytest.mark.parametrize("ratio", [True, False])
def test_initial_heap_pops_as_the_per_site_heap(ratio):
    """The numpy-built first heap of the lazy greedy pops the same (key, site) sequence as the
    heap built site by site (zero gains left out, free sites first when ranking by gain per m²)."""
    import heapq

    from civgis.analysis.greening import _initial_heap

    rng = np.random.default_rng(7)
    gains = rng.integers(0, 6, 3000).astype(float)
    cost = rng.integers(0, 4, 3000).astype(float)

    def key(gain, i):
        if ratio:
            return gain / cost[i] if cost[i] > 0 else (np.inf if gain > 0 else 0.0)
        return gain

    reference = [(-key(gains[i], i), i, 0) for i in range(len(gains)) if gains[i] > 0]
    heapq.heapify(reference)
    heap = _initial_heap(gains, cost, ratio)
    assert len(heap) == int((gains > 0).sum())
    assert [heapq.heappop(heap) for _ in range(len(heap))] == [heapq.heappop(reference) for _ in range(len(reference))]


def _fill_by_sub_matrix(A, Af, w, base, banned, k, cost, cap, budgeted):
    """The greedy fill as it was: the sub-matrix of the sites left × the demand not yet covered."""
    from civgis.analysis.greening import _lazy_greedy

    n = A.shape[0]
    room = None if k is None else int(k) - len(base)
    left = cap - float(cost[base].sum()) if base else cap
    if (room is not None and room <= 0) or left <= 0:
        return list(base)
    covered = np.asarray(Af[base].sum(axis=0)).ravel() > 0 if base else np.zeros(A.shape[1], bool)
    rest = np.setdiff1d(np.arange(n), np.r_[base, list(banned)].astype(int))
    sub_A, sub_w = A[rest][:, ~covered], w[~covered]
    tries = [_lazy_greedy(sub_A, sub_w, room, cost[rest], left if budgeted else None, ratio=r)
             for r in ((True, False) if budgeted else (False,))]
    best = max(tries, key=lambda t: t.objective)
    return list(base) + [int(rest[i]) for i in best.chosen]


@pytest.mark.parametrize("budgeted", [False, True])
def test_greedy_fill_equals_the_sub_matrix_fill(budgeted):
    """The swap search's fill on the whole matrix with covered demand weighing nothing picks the
    same sites, in the same order, as the fill on the copied sub-matrix it replaced."""
    import scipy.sparse as sp

    from civgis.analysis.greening import _fill

    rng = np.random.default_rng(11)
    A = sp.csr_matrix(rng.random((300, 2000)) < 0.01)
    Af = A.astype(float)
    w = rng.integers(1, 50, 2000).astype(float)
    cost = rng.integers(1, 9, 300).astype(float)
    cap = 60.0 if budgeted else np.inf
    for trial in range(20):
        base = sorted(rng.choice(300, size=trial % 6, replace=False).tolist())
        banned = [int(rng.integers(300))]
        k = None if budgeted else 10
        expected = _fill_by_sub_matrix(A, Af, w, base, banned, k, cost, cap, budgeted)
        assert _fill(A, Af, w, base, banned, k, cost, cap, budgeted) == expected


# ---------------------------------------------------------------- the exchange search with a fixed number of sites
def test_the_exchange_shortcut_finds_the_hand_worked_swap():
    # demand a, b, c, d (weights 1, 1, 5, 5); sites 0 {a, b}, 1 {a}, 2 {c, d}; k = 2 from the start {0, 1}:
    # dropping 1 (it covers only a, which 0 covers too: nothing lost) and adding 2 gains 10
    A = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 1]], dtype=bool))
    w = np.array([1.0, 1.0, 5.0, 5.0])
    assert greening._swap_search(A, w, [0, 1], 2, None, None, 10) == [0, 2]
    assert greening._swap_search(A, w, [0, 1], 2, None, None, 10, shortcut=False) == [0, 2]


@pytest.mark.parametrize("seed", range(4))
def test_the_exchange_shortcut_makes_the_moves_of_the_general_search(seed):
    # the general search (one greedy refill per dropped site) is the reference: same sites, same order
    rng = np.random.default_rng(seed)
    compared = 0
    for trial in range(60):
        n, m = int(rng.integers(5, 60)), int(rng.integers(5, 150))
        A = sp.csr_matrix(rng.random((n, m)) < rng.uniform(0.03, 0.3))
        w = rng.integers(1, 4, m).astype(float) if trial % 2 else rng.random(m)   # integer weights: many ties
        k = int(rng.integers(1, max(2, n // 2)))
        start = [int(i) for i in rng.choice(n, k, replace=False)]
        fast = greening._swap_search(A, w, start, k, None, None, 100)
        general = greening._swap_search(A, w, start, k, None, None, 100, shortcut=False)
        assert [int(i) for i in fast] == [int(i) for i in general], (seed, trial)
        compared += fast != start
    assert compared > 10  # the searches did move


def test_the_farthest_fill_equals_the_distance_matrix_rule():
    from civgis.analysis.plan import _farthest_fill

    rng = np.random.default_rng(5)
    cand = shapely.points(rng.random((50, 2)) * 1000)
    for start in ([], [4], [2, 9]):
        expected = list(start)
        while len(expected) < 12:  # each new site the farthest from all chosen so far, from the full matrix
            d = shapely.distance(cand[:, None], cand[expected][None, :]).min(axis=1) if expected else np.zeros(50)
            d[expected] = -1
            expected.append(int(np.argmax(d)))
        assert _farthest_fill(cand, list(start), 12) == expected


def test_what_if_before_is_the_indicator_tables_figure_to_the_last_digit(demo_plans, demo_ws):
    """The greening what-if's "before" comes from the same city measure as the indicator table
    (green_land_indicators), so the two pages of the report print one number, not two that differ in the
    14th digit."""
    from civgis.analysis.indicators import compute_indicators

    table = compute_indicators(demo_ws)
    city = table[table["road_class"].isna()].set_index("indicator")["value"]
    w = demo_plans[5].what_if.set_index("indicator")
    assert w.loc["green_ratio", "before"] == city["green_space_ratio"]
    assert w.loc["park_per_capita_m2", "before"] == city["park_area_per_capita"]
    assert w.loc["service_coverage_land", "before"] == city["park_service_coverage"]
