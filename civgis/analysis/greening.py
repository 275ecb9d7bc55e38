"""Greening plan (见缝插绿): choose the plots that bring a park within reach of the most residents.

The question is a *maximal covering location problem* (MCLP, Church & ReVelle 1974): among the
candidate plots, choose at most ``K`` (and/or within a total area budget) that maximise the
residents newly brought inside a park's service radius.

The pipeline, each step a pure function on GeoDataFrames/arrays:

1. **Service area and gap** — :func:`qualifying_parks` keeps park green land (G1) of at least
   1 000 m² and gives it the service radius of its size tier (GB/T 50563-2010, as used by the
   GB 55014-2021 indicator 公园绿地服务半径覆盖率): ≥ 5 000 m² → 500 m, 1 000–5 000 m² → 300 m,
   buffered from the park *boundary*. :func:`service_gap` cuts the residential polygons by that
   service area; population is spread evenly over each residential polygon's area, so a piece of
   area ``a`` of polygon ``i`` holds ``population_i · a / area_i`` residents.
2. **Candidates** — :func:`candidate_sites` gives each plot of the ``candidates`` layer the radius
   it would have as a park (by its size tier); :func:`raster_candidates` finds further open,
   non-built plots in the canopy (or a land-cover) raster.
3. **Demand units** — :func:`demand_units` splits the uncovered residential pieces by a square grid
   (default 25 m cells, aligned on multiples of the cell size) into units, each holding its
   area share of population and represented by a point on its surface. A unit counts as covered
   by a candidate when that point lies within the candidate's radius of its boundary
   (:func:`coverage_matrix`, one ``STRtree.query(..., predicate="dwithin")`` call). This is the
   only approximation: a unit cut by a buffer edge counts wholly in or wholly out, so the
   selection objective can differ from the exact one by at most the population of the units a
   buffer edge crosses (about ``perimeter × cell × density`` per site; unbiased for one site, but
   the chosen sites are those the grid favoured, so the grid objective runs slightly high:
   measured +0.04 % on the demo county with 25 m cells, +0.2–0.3 % on the 50 m bench). The
   figures reported to the user are not the grid's but exact areas (step 5). Coverage of a unit
   is a yes/no per unit, so overlapping new parks are counted once (a union, never a sum).
4. **Selection** — :func:`greedy_max_cover` (lazy greedy, the ``1 − 1/e`` guarantee of
   Nemhauser et al. 1978 for a cardinality constraint; with an area budget the best of the
   gain-per-m² greedy, the gain greedy, the best single site (Khuller et al. 1999) and
   single-site seeds completed greedily, then improved by exchanges) and :func:`exact_max_cover`
   (integer programme solved by HiGHS through highspy or by PuLP's bundled CBC, both
   warm-started by the greedy), which proves how far greedy is from the optimum on a given
   instance (``gap``). Under a time limit it returns the better of the solver's incumbent and
   the greedy — never less than the greedy — with a proven upper bound (the solver's dual
   bound or the LP relaxation, :func:`lp_bound_max_cover`), the gap to it, and ``optimal`` only
   when that bound is met.
5. **Exact evaluation and what-if** — the chosen sites are then evaluated *exactly*, with polygon
   areas, not grid units: site by site the uncovered residential pieces are intersected with the
   site's buffer and then cut away, so each site's ``new_residents`` is its exact marginal gain
   in the chosen order and the sum is the exact union. :func:`green_indicators` gives 绿地率,
   人均公园绿地面积 and 公园绿地服务半径覆盖率 before and after the chosen sites are built.

Examples
--------
>>> import geopandas as gpd
>>> from shapely.geometry import box
>>> res = gpd.GeoDataFrame({"res_id": ["R1"], "population": [2100]},
...                        geometry=[box(0, 0, 2100, 10)], crs=4527)
>>> cand = gpd.GeoDataFrame({"site_id": ["A", "B", "C"]}, crs=4527, geometry=[
...     box(500, -100, 550, 110), box(1550, -100, 1600, 110), box(950, -100, 1150, 110)])
>>> plan = plan_greening_frames(residential=res, candidates=cand, sites=2, exact=True, refine=False)
>>> plan.sites["site_id"].tolist(), round(plan.covered_after)          # plain greedy: C first
(['C', 'A'], 1650)
>>> plan.exact.objective, round(plan.gap_pct, 1)          # the optimum picks A and B
(2100.0, 21.4)
>>> plan_greening_frames(residential=res, candidates=cand, sites=2).sites["site_id"].tolist()  # refined
['A', 'B']
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field
from typing import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from civgis.analysis import indicators
from civgis.analysis.indicators import (PARK_CATEGORIES, PARK_TIERS, bbox_grid_cells, chop,
                                       park_radius)
from civgis.store.targets import Targets, load_targets

__all__ = ["TARGET_OF", "greening_targets", "QUAD_SEGS",
           "service_radius", "tier_label", "qualifying_parks", "service_gap", "candidate_sites",
           "raster_candidates", "demand_units", "coverage_matrix", "aggregate_units", "CoverSolution",
           "greedy_max_cover", "exact_max_cover", "OPTIMAL_REL_TOL", "lp_bound_max_cover", "green_indicators",
           "INDICATOR_LABELS", "GreeningPlan", "plan_greening_frames", "plan_greening"]

# Park tiers and green/park categories are the targets file's parameters (civgis.store.targets.Parameters),
# exposed once by civgis.analysis.indicators (PARK_TIERS, GREEN_SPACE_CATEGORIES, PARK_CATEGORIES).
#: what-if indicator → the targets-file indicator whose threshold it is judged by (all in percent but
#: 人均公园绿地 in m²/人, as the indicator table): 绿地率 ≥ 31 %, 人均公园绿地 > 8, 服务半径覆盖率 > 80 %.
TARGET_OF = {"green_ratio": "green_space_ratio", "park_per_capita_m2": "park_area_per_capita",
             "service_coverage_land": "park_service_coverage", "service_coverage_residents": "park_service_coverage"}


def greening_targets(targets: Targets | None = None) -> dict[str, float]:
    """The what-if table's targets from a :class:`~civgis.store.targets.Targets` (default: the
    default targets file), in the indicator table's units (percent, m²/人).

    >>> greening_targets()["green_ratio"], greening_targets()["park_per_capita_m2"]
    (31.0, 8.0)
    """
    targets = targets if targets is not None else load_targets()
    return {key: float(targets.get(name).target) for key, name in TARGET_OF.items()
            if targets.get(name).target is not None}


#: Buffer arcs: 16 segments per quarter circle, as civgis.analysis.indicators.park_service_area, so the
#: coverage figures here agree with the indicator report. The polygon falls short of the true disc
#: by 1 − (64/2π)·sin(2π/64) ≈ 0.16 % of the arc band's area (64 segments would give 0.01 %).
QUAD_SEGS = 16


# ============================================================================ service area
def service_radius(area_m2, tiers: Sequence[tuple[float, float]] = PARK_TIERS) -> np.ndarray:
    """Service radius (m) of a park of the given area (m²) by size tier; 0 where it does not qualify.

    ``radius = r_t`` for the largest tier ``t`` with ``area ≥ min_area_t`` (GB/T 50563-2010 tiers:
    ≥ 5 000 m² → 500 m, 1 000–5 000 m² → 300 m).

    Examples
    --------
    >>> service_radius([999, 1000, 4999, 5000]).tolist()
    [0.0, 300.0, 300.0, 500.0]
    """

    return park_radius(area_m2, tiers)


def tier_label(radius_m) -> np.ndarray:
    """Chinese tier label of a service radius, e.g. ``'500米'``; ``'不达标'`` for 0."""
    r = np.asarray(radius_m, dtype=float)
    return np.where(r > 0, np.char.add(np.round(r).astype(int).astype(str), "米"), "不达标")


def qualifying_parks(green: gpd.GeoDataFrame, *, tiers=PARK_TIERS, categories=PARK_CATEGORIES) -> gpd.GeoDataFrame:
    """Park polygons that serve residents, with ``area_m2`` and ``radius_m`` (by size tier).

    The rule is :func:`civgis.analysis.indicators.qualifying_parks` (the one the indicator report uses):
    features whose ``category`` is in ``categories`` (default G1 公园绿地) and whose own area
    (m², projected CRS) reaches the smallest tier. ``area_m2`` repeats its ``park_area_m2``.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> g = gpd.GeoDataFrame({"category": ["G1", "G1", "G2"]}, crs=4527,
    ...     geometry=[box(0, 0, 100, 100), box(0, 0, 20, 20), box(0, 0, 100, 100)])
    >>> qualifying_parks(g)["radius_m"].tolist()
    [500.0]
    """

    _check_projected(green, "green")
    parks = indicators.qualifying_parks(green, tiers=tiers, categories=categories)
    parks["area_m2"] = parks["park_area_m2"]
    return parks


# ============================================================================ gap
def service_gap(residential: gpd.GeoDataFrame, parks: gpd.GeoDataFrame | None, *,
                population_field: str = "population", id_field: str = "res_id",
                quad_segs: int = QUAD_SEGS) -> gpd.GeoDataFrame:
    """The residential land outside every qualifying park's service radius, with its residents.

    Population is spread evenly over each residential polygon: a piece of area ``a`` of polygon
    ``i`` holds ``density_i · a`` residents, ``density_i = population_i / area_i``.

    Returns one row per uncovered residential piece: ``res_index`` (row of ``residential``),
    the id field, ``density`` (residents/m²), ``area_m2``, ``residents`` and the geometry.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> res = gpd.GeoDataFrame({"res_id": ["R1"], "population": [1000]},
    ...                        geometry=[box(0, 0, 1000, 10)], crs=4527)
    >>> park = gpd.GeoDataFrame({"radius_m": [300.0]}, geometry=[box(-20, 0, 0, 10)], crs=4527)
    >>> round(float(service_gap(res, park)["residents"].sum()), 6)     # x in [300, 1000]
    700.0
    """
    _check_projected(residential, "residential")
    res_geoms = residential.geometry.to_numpy()
    pop = _population(residential, population_field, id_field)
    area = shapely.area(res_geoms)
    density = np.divide(pop, area, out=np.zeros_like(pop), where=area > 0)
    pieces = res_geoms.copy()
    if parks is not None and len(parks):
        buffers = shapely.buffer(parks.geometry.to_numpy(), parks["radius_m"].to_numpy(float),
                                 quad_segs=quad_segs)
        pieces = _subtract(pieces, buffers)
    keep = ~shapely.is_empty(pieces) & (shapely.area(pieces) > 1e-6)  # drop seam slivers of tiles
    idx = np.flatnonzero(keep)
    out = gpd.GeoDataFrame({
        "res_index": idx,
        id_field: residential[id_field].to_numpy()[idx] if id_field in residential else idx.astype(str),
        "density": density[idx],
        "area_m2": shapely.area(pieces[idx]),
    }, geometry=pieces[idx], crs=residential.crs)
    out["residents"] = out["density"] * out["area_m2"]
    return out


def _subtract(pieces: np.ndarray, cutters: np.ndarray) -> np.ndarray:
    """``pieces[i] − ∪ cutters`` for every piece.

    The cutters are unioned once and chopped into small disjoint tiles
    (:func:`civgis.analysis.indicators.chop`); each piece then loses the tiles it meets in rounds — round
    ``r`` cuts every piece by its ``r``-th tile in one vectorised ``shapely.difference`` — so the
    Python loop runs over rounds (the most tiles one piece meets), never over features.
    """

    pieces = pieces.copy()
    if len(cutters) == 0 or len(pieces) == 0:
        return pieces
    tiles = np.asarray(chop(shapely.union_all(cutters)), dtype=object)
    tiles = tiles[~shapely.is_empty(tiles)]
    if len(tiles) == 0:
        return pieces
    p_idx, t_idx = shapely.STRtree(tiles).query(pieces, predicate="intersects")
    if len(p_idx) == 0:
        return pieces
    order = np.lexsort((t_idx, p_idx))
    p_idx, t_idx = p_idx[order], t_idx[order]
    first = np.r_[True, p_idx[1:] != p_idx[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(len(p_idx)), 0))
    rank = np.arange(len(p_idx)) - start
    for r in range(int(rank.max()) + 1):
        sel = rank == r
        pieces[p_idx[sel]] = shapely.difference(pieces[p_idx[sel]], tiles[t_idx[sel]])
    return pieces


# ============================================================================ candidates
def candidate_sites(candidates: gpd.GeoDataFrame, *, min_area_m2: float | None = None, tiers=PARK_TIERS,
                    id_field: str = "site_id") -> gpd.GeoDataFrame:
    """Candidate plots with ``area_m2``, ``radius_m`` (the tier they would have as a park) and ``tier``.

    Plots smaller than ``min_area_m2`` (default: the smallest tier, 1 000 m² — a smaller park
    serves no one under the standard) are dropped.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> c = gpd.GeoDataFrame({"site_id": ["a", "b", "c"]}, crs=4527,
    ...     geometry=[box(0, 0, 50, 50), box(0, 0, 80, 80), box(0, 0, 10, 10)])
    >>> candidate_sites(c)[["site_id", "radius_m"]].values.tolist()
    [['a', 300.0], ['b', 500.0]]
    """
    _check_projected(candidates, "candidates")
    if min_area_m2 is None:
        min_area_m2 = min(t[0] for t in tiers)
    out = candidates.copy()
    if id_field not in out:
        out[id_field] = [f"C{i + 1:04d}" for i in range(len(out))]
    bad = out.geometry.isna() | out.geometry.is_empty
    if bad.any():
        raise ValueError(f"图层 candidates 要素 {out.loc[bad, id_field].iloc[0]} 字段 geometry: 几何为空 (empty geometry)")
    out["area_m2"] = out.geometry.area
    out["radius_m"] = service_radius(out["area_m2"].to_numpy(), tiers)
    out = out[(out["area_m2"] >= min_area_m2) & (out["radius_m"] > 0)].copy()
    out["tier"] = tier_label(out["radius_m"].to_numpy())
    return out.reset_index(drop=True)


def raster_candidates(raster_uri, *, built_up=None, exclude=None, min_area_m2: float = 1000.0,
                      threshold: float = 0.5, open_values: Sequence | None = None, crs=None,
                      tiers=PARK_TIERS, prefix: str = "RC") -> gpd.GeoDataFrame:
    """Open, non-built plots found in a raster: connected pixels that are open, of at least ``min_area_m2``.

    A pixel is *open* when its value is in ``open_values`` (a land-cover raster: the classes of
    open land) or, without ``open_values``, when its value ≥ ``threshold`` (the canopy raster:
    fractional vegetation cover, so vegetated land). Pixels inside ``exclude`` (existing green
    land, residential land, roads buffered to their width …) or outside ``built_up`` are not
    open. Connected open pixels (4-neighbour) form a plot; plots of at least ``min_area_m2`` are
    returned with ``site_id`` = ``prefix`` + number, ``area_m2``, ``radius_m`` and ``tier``.
    """
    import rasterio
    import rasterio.features
    from scipy import ndimage

    with rasterio.open(raster_uri) as src:
        band = src.read(1, masked=True)
        transform = src.transform
        rcrs = src.crs or crs
    values = np.ma.filled(band.astype(float), np.nan)
    if open_values is not None:
        open_px = np.isin(values, np.asarray(list(open_values), dtype=float))
    else:
        open_px = values >= threshold
    shape = values.shape
    if built_up is not None:
        inside = rasterio.features.geometry_mask(_geoms(built_up), shape, transform, invert=True)
        open_px &= inside
    if exclude is not None and len(_geoms(exclude)):
        ex = rasterio.features.geometry_mask(_geoms(exclude), shape, transform, invert=True, all_touched=True)
        open_px &= ~ex
    labels, n = ndimage.label(open_px)
    empty = gpd.GeoDataFrame({"site_id": pd.Series(dtype="str"), "area_m2": pd.Series(dtype=float),
                              "radius_m": pd.Series(dtype=float), "tier": pd.Series(dtype="str")},
                             geometry=gpd.GeoSeries([], crs=rcrs), crs=rcrs)
    if n == 0:
        return empty
    px_area = abs(transform.a * transform.e - transform.b * transform.d)
    sizes = ndimage.sum_labels(np.ones(shape), labels, index=np.arange(1, n + 1)) * px_area
    big = np.flatnonzero(sizes >= min_area_m2) + 1
    if len(big) == 0:
        return empty
    keep = np.where(np.isin(labels, big), labels, 0).astype("int32")
    shapes = [(shapely.geometry.shape(g), int(v))
              for g, v in rasterio.features.shapes(keep, mask=keep > 0, transform=transform)]
    gdf = gpd.GeoDataFrame({"label": [v for _, v in shapes]}, geometry=[g for g, _ in shapes], crs=rcrs)
    gdf = gdf.dissolve("label", as_index=False)
    gdf["area_m2"] = gdf.geometry.area
    gdf["radius_m"] = service_radius(gdf["area_m2"].to_numpy(), tiers)
    gdf = gdf[(gdf["area_m2"] >= min_area_m2) & (gdf["radius_m"] > 0)].reset_index(drop=True)
    gdf["site_id"] = [f"{prefix}{i + 1:04d}" for i in range(len(gdf))]
    gdf["tier"] = tier_label(gdf["radius_m"].to_numpy())
    return gdf[["site_id", "area_m2", "radius_m", "tier", "geometry"]]


# ============================================================================ demand units
def demand_units(gap: gpd.GeoDataFrame, *, cell_m: float = 25.0) -> gpd.GeoDataFrame:
    """Split the uncovered residential pieces by a square grid into demand units.

    The grid is aligned on multiples of ``cell_m`` (m) in the projected CRS, so neighbouring
    pieces share cells. Each unit keeps ``res_index``, ``area_m2``, ``weight`` = residents
    (``density · area``) and a ``point`` on its surface (``shapely.point_on_surface``) used for
    the coverage test.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> gap = gpd.GeoDataFrame({"res_index": [0], "density": [0.1]},
    ...                        geometry=[box(0, 0, 120, 10)], crs=4527)
    >>> u = demand_units(gap, cell_m=50)
    >>> u["area_m2"].tolist(), round(float(u["weight"].sum()), 9)
    ([500.0, 500.0, 200.0], 120.0)
    """
    if cell_m <= 0:
        raise ValueError("cell_m must be positive (metres)")
    geoms = gap.geometry.to_numpy()
    if len(geoms) == 0:
        return gpd.GeoDataFrame({"res_index": np.array([], int), "area_m2": np.array([], float),
                                 "weight": np.array([], float), "point": np.array([], object)},
                                geometry=np.array([], object), crs=gap.crs)

    cells, rep, counts = bbox_grid_cells(geoms, cell_m)
    whole = counts[rep] == 1  # a piece inside one cell needs no cut
    parts = np.empty(len(cells), dtype=object)
    parts[whole] = geoms[rep[whole]]
    cut = ~whole
    if cut.any():
        shapely.prepare(geoms)
        inside = np.zeros(len(cells), dtype=bool)
        inside[cut] = shapely.contains_properly(geoms[rep[cut]], cells[cut])
        parts[inside] = cells[inside]                      # cell wholly inside: the cell itself
        todo = cut & ~inside
        parts[todo] = shapely.intersection(geoms[rep[todo]], cells[todo])
    area = shapely.area(parts)
    keep = area > 0
    parts, rep, area = parts[keep], rep[keep], area[keep]
    res_index = gap["res_index"].to_numpy()[rep] if "res_index" in gap else rep
    return gpd.GeoDataFrame({"res_index": res_index, "area_m2": area,
                             "weight": gap["density"].to_numpy()[rep] * area,
                             "point": shapely.point_on_surface(parts)},
                            geometry=parts, crs=gap.crs)


def coverage_matrix(points, sites, radii) -> sp.csr_matrix:
    """Sparse boolean coverage matrix ``A`` (site × unit): ``A[i, j]`` when unit point ``j`` lies
    within ``radii[i]`` metres of site polygon ``i`` (inside its service buffer).

    One ``STRtree(points).query(sites, predicate="dwithin", distance=radii)`` call: exact
    point-to-polygon distances, no buffer polygons.

    Examples
    --------
    >>> import shapely
    >>> A = coverage_matrix(shapely.points([0, 350, 600], [0, 0, 0]),
    ...                     shapely.points([0, 0], [0, 0]).tolist(), [300, 500])
    >>> A.toarray().astype(int).tolist()
    [[1, 0, 0], [1, 1, 0]]
    """
    points = np.asarray(_geoms(points))
    sites = np.asarray(_geoms(sites))
    radii = np.asarray(radii, dtype=float)
    shape = (len(sites), len(points))
    if len(points) == 0 or len(sites) == 0:
        return sp.csr_matrix(shape, dtype=bool)
    tree = shapely.STRtree(points)
    s_idx, p_idx = tree.query(sites, predicate="dwithin", distance=radii)
    return sp.csr_matrix((np.ones(len(s_idx), dtype=bool), (s_idx, p_idx)), shape=shape)


def aggregate_units(coverage: sp.spmatrix, weights) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Merge demand units covered by exactly the same set of sites (an exact reduction of the MCLP).

    Units no site covers are dropped (no choice changes them). Returns the reduced coverage
    matrix (site × group), the group weights (sums) and, per original unit, its group (−1 when
    dropped). Sets are keyed by two independent 64-bit random hashes and the count; the grouping
    is then verified exactly (a collision would add (group, site) pairs) and, if it ever failed,
    the units are kept unmerged.
    """
    A = sp.csc_matrix(coverage, dtype=bool)
    A.sum_duplicates()
    w = np.asarray(weights, dtype=float)
    n_sites, n_units = A.shape
    nnz_per_unit = np.diff(A.indptr)
    used = np.flatnonzero(nnz_per_unit > 0)
    group_of = np.full(n_units, -1, dtype=np.int64)
    if len(used) == 0:
        return sp.csr_matrix((n_sites, 0), dtype=bool), np.zeros(0), group_of
    rng = np.random.default_rng(20260101)
    h = rng.integers(0, np.iinfo(np.int64).max, size=(2, n_sites), dtype=np.int64).view(np.uint64)
    unit_of_entry = np.repeat(np.arange(n_units), nnz_per_unit)
    with np.errstate(over="ignore"):  # uint64 sums wrap around: fine for a hash
        h1 = np.zeros(n_units, dtype=np.uint64)
        h2 = np.zeros(n_units, dtype=np.uint64)
        np.add.at(h1, unit_of_entry, h[0][A.indices])
        np.add.at(h2, unit_of_entry, h[1][A.indices])
    keys = np.stack([h1[used], h2[used], nnz_per_unit[used].astype(np.uint64)], axis=1)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    reps = used[first]
    # verify: every unit of a group is covered by exactly the sites of the group's representative
    sites_of_entry = A.indices
    group_entry = np.full(n_units, -1, dtype=np.int64)
    group_entry[used] = inverse
    pairs = np.unique(group_entry[unit_of_entry] * n_sites + sites_of_entry)
    if len(pairs) != int(nnz_per_unit[reps].sum()):  # a hash collision: keep units apart
        group_of[used] = np.arange(len(used))
        return sp.csr_matrix(A[:, used]), w[used], group_of
    group_of[used] = inverse
    gw = np.bincount(inverse, weights=w[used], minlength=len(reps))
    return sp.csr_matrix(A[:, reps]), gw, group_of


# ============================================================================ solvers
@dataclass
class CoverSolution:
    """A solution of the maximal covering problem.

    Attributes
    ----------
    chosen : list[int]
        Site indices, in the order chosen (greedy) or by decreasing marginal gain (exact).
    gains : list[float]
        Marginal covered weight of each chosen site, in that order (sums to ``objective``).
    objective : float
        Total covered weight (union: each unit once).
    bound : float
        Proven upper bound on the optimum. Exact: the smallest of the solver's dual bound and
        the LP relaxation's optimum (``objective`` when proved optimal; ``inf`` when neither
        finished). Greedy: the online bound ``objective + Σ top-K gains left`` (cardinality only).
    optimal : bool
        True only when the bound is met: ``bound − objective ≤ OPTIMAL_REL_TOL · bound``.
    method : str
        ``"greedy"``, ``"greedy-ratio"``, ``"highs"`` or ``"cbc"``.
    seconds : float
        Wall time of the solve.
    status : str
        Exact solves: ``"optimal"`` (proven), ``"time_limit"`` (stopped by the limit; the gap to
        ``bound`` is ``bound_gap_pct``), ``"greedy_kept"`` (the solver's incumbent was below the
        greedy warm start, or it found none, so the greedy solution is returned) or
        ``"trivial"`` (nothing to choose).
    lp_bound : float
        Optimum of the LP relaxation (``inf`` when not computed or not finished).
    found_by : str
        ``"solver"`` when the solver improved on its warm start, else ``"greedy"`` (the start is
        returned: the solver found nothing better).
    solver_status : str
        The solver's own status message.
    solver_objective : float
        Objective of the solver's own incumbent (``nan`` when it returned none).
    """

    chosen: list[int]
    gains: list[float]
    objective: float
    bound: float
    optimal: bool
    method: str
    seconds: float
    status: str = ""
    lp_bound: float = float("inf")
    found_by: str = ""
    solver_status: str = ""
    solver_objective: float = float("nan")

    @property
    def bound_gap_pct(self) -> float:
        """Proven gap to the bound, ``100 · (bound − objective) / bound`` (%); ``inf`` without a bound."""
        if not np.isfinite(self.bound):
            return float("inf")
        return 100.0 * max(self.bound - self.objective, 0.0) / self.bound if self.bound > 0 else 0.0

    def to_dict(self) -> dict:
        return {"chosen": [int(i) for i in self.chosen], "gains": [float(g) for g in self.gains],
                "objective": float(self.objective), "bound": _num(self.bound), "optimal": bool(self.optimal),
                "method": self.method, "seconds": round(float(self.seconds), 4), "status": self.status,
                "lp_bound": _num(self.lp_bound), "bound_gap_pct": _num(self.bound_gap_pct),
                "found_by": self.found_by, "solver_status": self.solver_status,
                "solver_objective": _num(self.solver_objective)}


def _check_limits(n_sites, k, costs, budget):
    if k is None and budget is None:
        raise ValueError("give the number of sites k and/or an area budget")
    if k is not None and k < 0:
        raise ValueError("k must be ≥ 0")
    if budget is not None:
        if costs is None:
            raise ValueError("an area budget needs the site costs (areas, m²)")
        costs = np.asarray(costs, dtype=float)
        if costs.shape != (n_sites,) or (costs < 0).any():
            raise ValueError("costs must be one non-negative area per site")
    return costs


def greedy_max_cover(coverage: sp.spmatrix, weights, *, k: int | None = None, costs=None,
                     budget: float | None = None, refine: bool = False, seeds: int = 20,
                     max_swap_rounds: int = 100) -> CoverSolution:
    """Lazy greedy for the maximal covering problem.

    Each step adds the site with the largest marginal gain ``Σ_j w_j [j covered by site, not yet
    covered]``. Gains only shrink as coverage grows (submodularity), so a stale gain on a max-heap
    is an upper bound: a site is re-evaluated only when it reaches the top (Minoux 1978), and
    accepted when its fresh gain is still the largest. Ties go to the lower site index.
    With ``k`` only, the result is within ``1 − 1/e`` (63 %) of the optimum (Nemhauser,
    Wolsey & Fisher 1978). With an area ``budget`` (``costs`` = site areas), it returns the better
    of the greedy by gain per m² and the best single affordable site (Khuller, Moss & Naor 1999).

    ``refine=True`` then improves on the greedy, at the cost of more work (about 5 s instead of
    0.01 s for 4 000 sites × 38 000 units, K = 50; milliseconds at county size):

    * partial enumeration (Khuller et al.): each of the ``seeds`` sites with the largest gain and
      the ``seeds`` with the largest gain per m² is forced in and the rest filled greedily;
    * local search from the best start: the best exchange of one chosen site for one other
      (each removal scored against every site with one sparse mat-vec), or dropping one site and
      refilling the freed room/budget greedily, while that gains (at most ``max_swap_rounds``).

    The refined sites are listed in greedy order with their marginal gains.

    Parameters
    ----------
    coverage : sparse (n_sites × n_units) boolean
    weights : (n_units,) residents per unit
    k : maximum number of sites (None = only the budget limits)
    costs, budget : site areas (m²) and the total area allowed (m²)

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> A = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 0, 1, 1], [0, 1, 1, 0]], bool))
    >>> s = greedy_max_cover(A, [1, 1, 1, 1], k=2)
    >>> s.chosen, s.objective
    ([0, 1], 4.0)
    """
    t0 = time.perf_counter()
    A = sp.csr_matrix(coverage, dtype=bool)
    w = np.asarray(weights, dtype=float)
    costs = _check_limits(A.shape[0], k, costs, budget)
    if budget is None:
        sol = _lazy_greedy(A, w, k, None, None, ratio=False)
    else:
        by_gain_per_m2 = _lazy_greedy(A, w, k, costs, budget, ratio=True)
        gains0 = _row_sums(A, w)
        affordable = np.flatnonzero(costs <= budget)
        best_single = None
        if len(affordable) and (k is None or k >= 1):
            i = int(affordable[np.argmax(gains0[affordable])])
            best_single = CoverSolution([i], [float(gains0[i])], float(gains0[i]), np.inf, False, "greedy", 0.0)
        sol = by_gain_per_m2
        if best_single is not None and best_single.objective > sol.objective:
            sol = best_single
        plain = _lazy_greedy(A, w, k, costs, budget, ratio=False)  # gain first, as a third try
        if plain.objective > sol.objective:
            sol = plain
    if refine and seeds and (k is None or k >= 1):  # partial enumeration: force one promising site, fill greedily
        Af = A.astype(float)
        gains0 = _row_sums(A, w)
        cost = costs if budget is not None else np.zeros(A.shape[0])
        cap = float(budget) if budget is not None else np.inf
        score = np.where(cost > 0, gains0 / np.maximum(cost, 1e-12), gains0)
        top = np.unique(np.r_[np.argsort(-gains0, kind="stable")[:seeds], np.argsort(-score, kind="stable")[:seeds]])
        top = top[(cost[top] <= cap) & (gains0[top] > 0)]
        for s0 in top:
            sel = _fill(A, Af, w, [int(s0)], [], k, cost, cap, budget is not None)
            v = float(w[np.asarray(Af[sel].sum(axis=0)).ravel() > 0].sum())
            if v > sol.objective + 1e-9 * max(1.0, v):
                sol = CoverSolution(sel, [], v, np.inf, False, "greedy-seeded", 0.0)
    method, chosen = sol.method, list(sol.chosen)
    if refine and chosen:
        chosen = _swap_search(A, w, chosen, k, costs, budget, max_swap_rounds)
        if set(chosen) != set(sol.chosen):
            method += "+exchanges"
    if set(chosen) != set(sol.chosen) or len(sol.gains) != len(sol.chosen):
        sol = _in_greedy_order(A, w, chosen, method)
    sol.seconds = time.perf_counter() - t0
    return sol


def _in_greedy_order(A, w, chosen: list[int], method: str) -> CoverSolution:
    """A set of sites listed in greedy order, each with its marginal gain (sites adding nothing last)."""
    ordered = _lazy_greedy(sp.csr_matrix(A[chosen]), w, len(chosen), None, None, ratio=False)
    picked = [chosen[i] for i in ordered.chosen]
    rest = [i for i in chosen if i not in picked]
    gains = list(ordered.gains) + [0.0] * len(rest)
    return CoverSolution(picked + rest, gains, float(np.sum(gains)), np.inf, False, method, 0.0)


def _fill(A, Af, w, base: list[int], banned, k, cost, cap: float, budgeted: bool) -> list[int]:
    """``base`` completed greedily within the room left (``k``) and the budget left (``cap``)."""
    n = A.shape[0]
    room = None if k is None else int(k) - len(base)
    left = cap - float(cost[base].sum()) if base else cap
    if (room is not None and room <= 0) or left <= 0:
        return list(base)
    covered = np.asarray(Af[base].sum(axis=0)).ravel() > 0 if base else np.zeros(A.shape[1], bool)
    excluded = np.zeros(n, dtype=bool)
    excluded[np.r_[base, list(banned)].astype(int)] = True
    if excluded.all():
        return list(base)
    # the demand already covered weighs nothing (the same gains as the sub-matrix without those
    # columns and rows, without copying it: the swap search makes ~10 000 fills at 10×)
    open_w = np.where(covered, 0.0, w)
    tries = [_lazy_greedy(Af, open_w, room, cost, left if budgeted else None, ratio=r, excluded=excluded)
             for r in ((True, False) if budgeted else (False,))]
    best_try = max(tries, key=lambda t: t.objective)
    return list(base) + [int(i) for i in best_try.chosen]


def _swap_search(A: sp.csr_matrix, w: np.ndarray, chosen: list[int], k, costs, budget, max_rounds: int,
                 shortcut: bool = True) -> list[int]:
    """Local search from a greedy solution; each round applies the best improving move of:

    * exchange: drop one chosen site, add the single other site that gains most (one sparse
      mat-vec scores every site), then refill any budget left greedily;
    * drop and refill: drop one chosen site and refill the freed budget greedily (by gain per m²
      and by gain, the better), which lets one large site give way to several small ones.

    With a fixed number of sites and no budget both moves are one exchange, scored for every
    pair at once by :func:`_exchange_search` (``shortcut=False`` runs the general search, the
    tests' reference).
    """
    n = A.shape[0]
    Af = A.astype(float)
    cost = np.asarray(costs, float) if costs is not None else np.zeros(n)
    cap = np.inf if budget is None else float(budget)
    tol = 1e-9 * max(1.0, float(w.sum()))

    def value(sel):
        return float(w[np.asarray(Af[sel].sum(axis=0)).ravel() > 0].sum()) if sel else 0.0

    def fill(base, banned):
        return _fill(A, Af, w, base, banned, k, cost, cap, budget is not None)

    current = value(chosen)
    if shortcut and budget is None and k is not None and len(chosen) == int(k):
        return _exchange_search(A, Af, w, chosen, current, tol, max_rounds, value)
    for _ in range(max_rounds):
        in_set = np.zeros(n, dtype=bool)
        in_set[chosen] = True
        cnt = np.asarray(Af[chosen].sum(axis=0)).ravel()
        used = float(cost[chosen].sum())
        best_val, best_sel = current + tol, None
        for i in chosen:  # |chosen| moves per round, each vectorised over all sites
            base = [c for c in chosen if c != i]
            cols = A.indices[A.indptr[i]:A.indptr[i + 1]]
            lost = cols[cnt[cols] == 1]
            free = np.where(cnt == 0, w, 0.0)
            free[lost] = w[lost]
            gains = np.asarray(Af @ free).ravel()
            ok = ~in_set & (cost <= cap - used + cost[i] + 1e-9)
            moves = [fill(base, [i])]
            if ok.any():
                j = int(np.flatnonzero(ok)[np.argmax(gains[ok])])
                moves.append(fill(base + [j], [i]))
            for sel in moves:
                v = value(sel)
                if v > best_val:
                    best_val, best_sel = v, sel
        if best_sel is None:
            break
        chosen, current = best_sel, best_val
    return chosen


def _exchange_search(A: sp.csr_matrix, Af: sp.csr_matrix, w: np.ndarray, chosen: list[int], current: float,
                     tol: float, max_rounds: int, value) -> list[int]:
    """The swap search of :func:`_swap_search` when the number of sites is fixed and there is no budget.

    Then dropping site ``i`` leaves room for exactly one site, so both moves are the exchange
    ``i → j`` with ``j`` the site (not chosen) that gains most once ``i`` is gone. Its value is
    ``current − lost(i) + gain₀(j) + extra(i, j)``: ``lost(i)`` the demand only ``i`` covers,
    ``gain₀`` every site's gain against the whole chosen set (one mat-vec) and ``extra(i, j)`` the
    part of ``lost(i)`` that ``j`` covers. The ``lost`` sets of different sites are disjoint, so
    ``extra`` for every pair is one sparse product ``A · L`` (``L[c, i] = w[c]`` for ``c`` in
    ``lost(i)``) with at most nnz(A) entries: a round costs O(nnz(A)) instead of |chosen| greedy
    fills over every site, O(|chosen| · nnz(A)), which made the 10× county's plan superlinear.
    The moves, their values and their ties (first chosen site, then lowest site index) are those
    of the general search.
    """
    for _ in range(max_rounds):
        move = _best_exchange(A, Af, w, chosen)
        if move is None:
            break
        position, j, delta = move
        if delta <= tol:
            break
        candidate = [c for k_, c in enumerate(chosen) if k_ != position] + [j]
        candidate_value = value(candidate)
        if candidate_value <= current + tol:  # rounding: the direct count decides, as in the general search
            break
        chosen, current = candidate, candidate_value
    return chosen


def _best_exchange(A: sp.csr_matrix, Af: sp.csr_matrix, w: np.ndarray, chosen: list[int]):
    """``(position in chosen, site j, value change)`` of the best exchange, or None when no site is free."""
    n, m = A.shape
    rows = np.asarray(chosen, dtype=np.int64)
    in_set = np.zeros(n, dtype=bool)
    in_set[rows] = True
    if in_set.all():
        return None
    count = np.asarray(Af[rows].sum(axis=0)).ravel()
    gain0 = np.asarray(Af @ np.where(count == 0, w, 0.0)).ravel()
    # lost(i): the columns of row i covered by no other chosen site; L holds their weights
    starts, ends = A.indptr[rows], A.indptr[rows + 1]
    lengths = ends - starts
    owner = np.repeat(np.arange(len(rows)), lengths)
    # the CSR positions of the chosen rows, one vectorised range per row
    positions = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
    cols = A.indices[positions]
    only = count[cols] == 1
    lost_cols, lost_owner = cols[only], owner[only]
    lost_w = np.bincount(lost_owner, weights=w[lost_cols], minlength=len(rows))
    L = sp.csc_matrix((w[lost_cols], (lost_cols, lost_owner)), shape=(m, len(rows)))
    extra = (Af @ L).tocsc()
    free_order = np.lexsort((np.arange(n), -gain0))  # best gain first, lowest index among ties
    free_order = free_order[~in_set[free_order]]
    # moves whose values differ by rounding only are ties, won by the first (as the general
    # search, which compares the values counted afresh, where equal sums are equal)
    tie = 1e-12 * max(1.0, float(w.sum()))
    best = None
    for position in range(len(rows)):
        j, score = _best_partner(extra, position, gain0, in_set, free_order, tie)
        delta = score - lost_w[position]
        if best is None or delta > best[2] + tie:
            best = (position, j, delta)
    return best


def _best_partner(extra: sp.csc_matrix, position: int, gain0: np.ndarray, in_set: np.ndarray,
                  free_order: np.ndarray, tie: float) -> tuple[int, float]:
    """The free site with the largest ``gain0 + extra[:, position]`` (lowest index among ties).

    The sites the lost columns touch are scored directly; of the others the best is the first in
    ``free_order`` (free sites by gain, lowest index first) that is not touched, found after at
    most ``len(touched)`` steps.
    """
    lo, hi = extra.indptr[position], extra.indptr[position + 1]
    touched, bonus = extra.indices[lo:hi], extra.data[lo:hi]
    keep = ~in_set[touched]
    touched, bonus = touched[keep], bonus[keep]
    best_j, best_score = -1, -np.inf
    if len(touched):
        score = gain0[touched] + bonus
        best_score = float(score.max())
        best_j = int(touched[score >= best_score - tie].min())
    touched_set = set(touched.tolist())
    for j in free_order[:len(touched_set) + 1].tolist():
        if j not in touched_set:
            score = float(gain0[j])
            if score > best_score + tie or (score >= best_score - tie and j < best_j):
                best_j, best_score = j, max(score, best_score)
            break
    return best_j, best_score


def _row_sums(A: sp.csr_matrix, w: np.ndarray) -> np.ndarray:
    return np.asarray(A.astype(float, copy=False) @ w).ravel()


def _initial_heap(gains0: np.ndarray, cost: np.ndarray, ratio: bool) -> list[tuple[float, int, int]]:
    """The lazy greedy's first heap, ``(-key, site, 0)`` for every site with a gain, built with
    numpy: the swap search starts ~900 greedy fills, and a Python loop over every site each
    time was most of the refined greedy. Listed in ascending order, which is already a heap."""
    sites = np.flatnonzero(gains0 > 0)
    g = gains0[sites]
    if ratio:
        c = cost[sites]
        with np.errstate(divide="ignore", invalid="ignore"):
            keys = np.where(c > 0, g / np.where(c > 0, c, 1.0), np.inf)  # gain > 0 here
    else:
        keys = g
    order = np.lexsort((sites, -keys))
    return list(zip((-keys[order]).tolist(), sites[order].tolist(), [0] * len(sites)))


def _lazy_greedy(A, w, k, costs, budget, *, ratio: bool, excluded: np.ndarray | None = None) -> CoverSolution:
    n = A.shape[0]
    indptr, indices = A.indptr, A.indices
    covered = np.zeros(A.shape[1], dtype=bool)
    gains0 = _row_sums(A, w)
    if excluded is not None:  # sites that may not be picked (already chosen, or just dropped)
        gains0 = np.where(excluded, 0.0, gains0)
    cost = costs if costs is not None else np.ones(n)
    left = np.inf if budget is None else float(budget)

    def key(gain, i):
        if ratio:
            return gain / cost[i] if cost[i] > 0 else (np.inf if gain > 0 else 0.0)
        return gain

    heap = _initial_heap(gains0, cost, ratio)
    chosen, gains = [], []
    step = 0
    limit = n if k is None else int(k)
    while heap and len(chosen) < limit:
        neg, i, stamp = heapq.heappop(heap)
        if cost[i] > left:  # never affordable again: the budget only shrinks
            continue
        if stamp == step:  # fresh this step: its gain is the largest
            cols = indices[indptr[i]:indptr[i + 1]]
            new = cols[~covered[cols]]
            g = float(w[new].sum())
            if g <= 0:
                break
            covered[new] = True
            chosen.append(i)
            gains.append(g)
            left -= cost[i]
            step += 1
            continue
        cols = indices[indptr[i]:indptr[i + 1]]
        g = float(w[cols[~covered[cols]]].sum())
        if g > 0:
            heapq.heappush(heap, (-key(g, i), i, step))
    objective = float(np.sum(gains))
    # online bound (Minoux/Leskovec): OPT ≤ f(S) + sum of the k largest current gains (cardinality only)
    bound = np.inf
    if budget is None and k is not None:
        rest = np.asarray(A[:, ~covered].astype(float) @ w[~covered]).ravel()
        rest = np.sort(rest)[::-1][: int(k)]
        bound = objective + float(rest.sum())
    return CoverSolution(chosen, gains, objective, bound, False, "greedy-ratio" if ratio else "greedy", 0.0)


#: relative tolerance at which an objective meets its bound (``bound − objective ≤ tol · bound``): the
#: scale of HiGHS's MIP feasibility tolerance (1e-6) on a continuous ``y``; a smaller gap is shown as 0 %.
OPTIMAL_REL_TOL = 1e-6


def exact_max_cover(coverage: sp.spmatrix, weights, *, k: int | None = None, costs=None,
                    budget: float | None = None, solver: str = "highs", time_limit: float | None = None,
                    mip_rel_gap: float = 0.0, warm_start=None, lp_bound: bool | None = None) -> CoverSolution:
    """Exact maximal covering by integer programming (Church & ReVelle 1974), warm-started by greedy.

    ``max Σ_j w_j y_j`` s.t. ``y_j ≤ Σ_i A_ij x_i`` (a unit counts only if a chosen site covers
    it), ``Σ_i x_i ≤ k``, ``Σ_i a_i x_i ≤ budget``, ``x_i ∈ {0, 1}``, ``0 ≤ y_j ≤ 1`` (``y`` needs
    no integrality: at the optimum ``y_j = min(1, Σ_i A_ij x_i)``). Units with the same covering
    set are merged first (:func:`aggregate_units`), which shrinks the model without changing it.

    ``solver="highs"`` uses HiGHS through highspy (``Highs.setSolution`` passes the warm start;
    without highspy, ``scipy.optimize.milp``, which takes no start); ``"cbc"`` uses PuLP's
    bundled CBC (``warmStart=True``, the start as initial values).

    The solver starts from ``warm_start`` (site indices or a :class:`CoverSolution`; default: the
    lazy greedy of :func:`greedy_max_cover`) and the better of the solver's incumbent and the
    start is returned, so under a ``time_limit`` (s) the result is never below the greedy.
    ``bound`` is the smallest proven upper bound: the solver's dual bound, or, when that does not
    prove the result optimal, the LP relaxation's optimum (:func:`lp_bound_max_cover`, HiGHS
    interior point, after the solver's time limit: 8.5 s on the bench's hard 2 000 × 20 000
    instance; HiGHS may report only the trivial bound ``Σ w`` when stopped before its root LP;
    ``lp_bound=True`` always computes it, ``False`` never). ``optimal`` is True
    only when the objective meets that bound (within :data:`OPTIMAL_REL_TOL`); ``status`` says
    ``"optimal"``, ``"time_limit"``/``"gap_limit"`` (stopped, ``bound_gap_pct`` from the bound)
    or ``"greedy_kept"`` (the solver's incumbent was worse than the start, or there was none).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> A = sp.csr_matrix(np.array([[1, 1, 1, 0, 0, 0], [1, 1, 0, 0, 0, 0], [0, 0, 0, 1, 1, 1],
    ...                             [0, 0, 1, 1, 0, 0]], bool))
    >>> s = exact_max_cover(A, [1, 1, 1, 1, 1, 1], k=2)
    >>> s.objective, s.optimal, s.status, s.bound_gap_pct
    (6.0, True, 'optimal', 0.0)
    """
    t0 = time.perf_counter()
    costs = _check_limits(coverage.shape[0], k, costs, budget)
    solver = {"pulp": "cbc"}.get(solver.lower(), solver.lower())
    if solver not in ("highs", "cbc"):
        raise ValueError(f"unknown solver {solver!r}; use 'highs' (HiGHS) or 'cbc' (PuLP)")
    Ag, wg, _ = aggregate_units(coverage, weights)
    n, m = Ag.shape
    if m == 0 or n == 0 or (k is not None and k == 0):
        return CoverSolution([], [], 0.0, 0.0, True, solver, time.perf_counter() - t0, "trivial", 0.0, "solver",
                             "trivial", 0.0)
    start = _warm_start(Ag, wg, k, costs, budget, warm_start)
    x0 = np.zeros(n)
    x0[start] = 1.0
    solve = _solve_highs if solver == "highs" else _solve_cbc
    x, solver_bound, message = solve(Ag, wg, k, costs, budget, time_limit, mip_rel_gap, x0)
    greedy = _in_greedy_order(Ag, wg, start, solver)
    best, found_by, worse = greedy, "greedy", True
    incumbent = None if x is None else _in_greedy_order(Ag, wg, [int(i) for i in np.flatnonzero(x > 0.5)], solver)
    if incumbent is not None:
        tol = OPTIMAL_REL_TOL * max(1.0, greedy.objective)
        worse = incumbent.objective < greedy.objective - tol
        if incumbent.objective > greedy.objective + tol:  # the solver improved on its start
            best, found_by = incumbent, "solver"
    bound = max(float(solver_bound), best.objective)
    lp = float("inf")
    if lp_bound or (lp_bound is None and not _meets(best.objective, bound)):
        lp = _lp_relaxation(Ag, wg, k, costs, budget, None)
        bound = max(min(bound, lp), best.objective)
    optimal = _meets(best.objective, bound)
    if optimal:
        status = "optimal"
    elif worse:
        status = "greedy_kept"
    else:
        status = "time_limit" if time_limit is not None else "gap_limit"
    return CoverSolution(best.chosen, best.gains, best.objective, bound, optimal, solver,
                         time.perf_counter() - t0, status, lp, found_by, message,
                         incumbent.objective if incumbent is not None else float("nan"))


def _meets(objective: float, bound: float) -> bool:
    """Whether ``objective`` meets the upper ``bound`` (relative tolerance :data:`OPTIMAL_REL_TOL`)."""
    return bool(np.isfinite(bound) and bound - objective <= OPTIMAL_REL_TOL * max(1.0, abs(bound)))


def _warm_start(Ag, wg, k, costs, budget, warm_start) -> list[int]:
    """The start's site indices: the lazy greedy by default, else the given sites (checked feasible)."""
    if warm_start is None:
        return list(greedy_max_cover(Ag, wg, k=k, costs=costs if budget is not None else None,
                                     budget=budget).chosen)
    chosen = [int(i) for i in (warm_start.chosen if isinstance(warm_start, CoverSolution) else warm_start)]
    n = Ag.shape[0]
    if any(i < 0 or i >= n for i in chosen) or len(set(chosen)) != len(chosen):
        raise ValueError("warm_start: site indices must be distinct and within the coverage matrix")
    if (k is not None and len(chosen) > k) or (budget is not None and float(costs[chosen].sum()) > budget + 1e-9):
        raise ValueError("warm_start: the start exceeds the number of sites or the area budget")
    return chosen


def lp_bound_max_cover(coverage: sp.spmatrix, weights, *, k: int | None = None, costs=None,
                       budget: float | None = None, time_limit: float | None = None) -> float:
    """Upper bound on the maximal covering optimum from the LP relaxation (``0 ≤ x ≤ 1``).

    Solved by HiGHS's interior point method (``scipy.optimize.linprog(method="highs-ipm")``),
    which on large instances is much faster than the dual simplex a MIP solver starts with, so
    it proves ``greedy ÷ optimum ≥ greedy ÷ bound`` even where the integer programme is too big
    to finish. Returns ``inf`` when the LP did not finish within ``time_limit`` seconds.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> A = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]], bool))
    >>> lp_bound_max_cover(A, [1, 1, 1], k=1)     # x = 1/3 each: every unit 2/3 covered; tight here
    2.0
    >>> exact_max_cover(A, [1, 1, 1], k=1).objective
    2.0
    """
    costs = _check_limits(coverage.shape[0], k, costs, budget)
    Ag, wg, _ = aggregate_units(coverage, weights)
    n, m = Ag.shape
    if m == 0 or n == 0 or (k is not None and k == 0):
        return 0.0
    return _lp_relaxation(Ag, wg, k, costs, budget, time_limit)


def _lp_relaxation(Ag, wg, k, costs, budget, time_limit) -> float:
    from scipy.optimize import linprog

    n = Ag.shape[0]
    M, ub = _model_matrix(Ag, k, costs, budget)
    options = {} if time_limit is None else {"time_limit": float(time_limit)}
    res = linprog(np.r_[np.zeros(n), -wg], A_ub=M, b_ub=ub, bounds=(0, 1), method="highs-ipm", options=options)
    if res.status != 0 or res.fun is None:
        return float("inf")
    return round(-float(res.fun), 9)


def _model_matrix(Ag, k, costs, budget):
    n, m = Ag.shape
    # rows: y_j − Σ_i A_ij x_i ≤ 0 ; variables [x (n) | y (m)]
    At = sp.csr_matrix(Ag.T, dtype=float)
    cover_rows = sp.hstack([-At, sp.identity(m, format="csr")], format="csr")
    rows, ub = [cover_rows], [np.zeros(m)]
    if k is not None:
        rows.append(sp.csr_matrix(np.r_[np.ones(n), np.zeros(m)][None, :]))
        ub.append(np.array([float(k)]))
    if budget is not None:
        rows.append(sp.csr_matrix(np.r_[np.asarray(costs, float), np.zeros(m)][None, :]))
        ub.append(np.array([float(budget)]))
    return sp.vstack(rows, format="csr"), np.concatenate(ub)


def _start_values(Ag, x0) -> np.ndarray:
    """``[x0 | y0]`` with ``y0_j = min(1, Σ_i A_ij x0_i)``: the warm start as a full model solution."""
    y0 = np.minimum(1.0, np.asarray(sp.csr_matrix(Ag.T, dtype=float) @ x0).ravel())
    return np.r_[x0, y0]


def _solve_highs(Ag, wg, k, costs, budget, time_limit, mip_rel_gap, x0):
    """HiGHS through highspy, started from ``x0``; ``(x or None, dual bound, message)``.

    Falls back to ``scipy.optimize.milp`` (same HiGHS, no warm start) when highspy is missing.
    """
    try:
        import highspy
    except ImportError:
        return _solve_scipy_milp(Ag, wg, k, costs, budget, time_limit, mip_rel_gap)
    n, m = Ag.shape
    M, ub = _model_matrix(Ag, k, costs, budget)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n + m, M.shape[0]
    lp.col_cost_ = np.r_[np.zeros(n), -wg]
    lp.col_lower_, lp.col_upper_ = np.zeros(n + m), np.ones(n + m)
    lp.row_lower_, lp.row_upper_ = np.full(M.shape[0], -np.inf), ub
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n + m, M.shape[0]
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = M.indptr, M.indices, M.data
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n + [highspy.HighsVarType.kContinuous] * m
    h = _quiet_highs(highspy)
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    if time_limit is not None:
        h.setOptionValue("time_limit", float(time_limit))
    h.passModel(lp)
    start = highspy.HighsSolution()
    start.col_value = _start_values(Ag, x0).tolist()
    start.value_valid = True
    h.setSolution(start)
    h.run()
    info = h.getInfo()
    message = h.modelStatusToString(h.getModelStatus())
    has_x = info.primal_solution_status == 2  # kSolutionStatusFeasible
    x = np.asarray(h.getSolution().col_value)[:n] if has_x else None
    dual = -float(info.mip_dual_bound)  # minimising −Σ w y: the dual bound is a lower bound of that
    return x, (dual if np.isfinite(dual) else np.inf), message


def _quiet_highs(highspy):
    """A ``highspy.Highs()`` without its banner: the C++ constructor prints to fd 1/2, not sys.stdout."""
    import os
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    try:
        saved = os.dup(1), os.dup(2)
    except OSError:  # no standard streams to silence (e.g. a GUI process)
        return highspy.Highs()
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        return highspy.Highs()
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (null, *saved):
            os.close(fd)


def _solve_scipy_milp(Ag, wg, k, costs, budget, time_limit, mip_rel_gap):
    from scipy.optimize import Bounds, LinearConstraint, milp

    n, m = Ag.shape
    M, ub = _model_matrix(Ag, k, costs, budget)
    options = {"disp": False, "mip_rel_gap": mip_rel_gap}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    res = milp(np.r_[np.zeros(n), -wg], constraints=LinearConstraint(M, -np.inf, ub),
               integrality=np.r_[np.ones(n), np.zeros(m)], bounds=Bounds(0, 1), options=options)
    dual = getattr(res, "mip_dual_bound", None)
    bound = -float(dual) if dual is not None and np.isfinite(dual) else np.inf
    return (res.x[:n] if res.x is not None else None), bound, f"scipy.milp: {res.message}"


def _solve_cbc(Ag, wg, k, costs, budget, time_limit, mip_rel_gap, x0):
    """PuLP's CBC started from ``x0`` (``warmStart``); ``(x or None, bound, message)``.

    CBC's dual bound does not come back through PuLP: the bound is the objective when CBC proved
    optimality (``sol_status`` optimal and no relative gap asked), else ``inf`` (the caller then
    takes the LP bound).
    """
    import warnings

    import pulp

    n, m = Ag.shape
    prob = pulp.LpProblem("mclp", pulp.LpMaximize)
    if hasattr(prob, "add_variable"):  # PuLP ≥ 3.3 attaches variables to the model
        x = [prob.add_variable(f"x{i}", 0, 1, cat="Binary") for i in range(n)]
        y = [prob.add_variable(f"y{j}", 0, 1) for j in range(m)]
    else:
        x = [pulp.LpVariable(f"x{i}", cat="Binary") for i in range(n)]
        y = [pulp.LpVariable(f"y{j}", lowBound=0, upBound=1) for j in range(m)]
    prob += pulp.lpDot(wg.tolist(), y)
    At = sp.csr_matrix(Ag.T)
    for j in range(m):  # model building only (one row per merged unit); the solve is CBC's
        terms = [(x[i], -1.0) for i in At.indices[At.indptr[j]:At.indptr[j + 1]]]
        terms.append((y[j], 1.0))
        prob += pulp.LpConstraint(pulp.LpAffineExpression(terms), sense=pulp.LpConstraintLE, rhs=0.0)
    if k is not None:
        prob += pulp.lpSum(x) <= int(k)
    if budget is not None:
        prob += pulp.lpDot(np.asarray(costs, float).tolist(), x) <= float(budget)
    for var, v in zip(x + y, _start_values(Ag, x0).tolist()):
        var.setInitialValue(round(v) if var.cat == pulp.LpInteger else v, check=False)
    with warnings.catch_warnings():  # PuLP 3.3 warns that its bundled CBC moves to an extra in 4.0
        warnings.simplefilter("ignore", DeprecationWarning)
        cmd = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit, gapRel=mip_rel_gap or None, warmStart=True)
    prob.solve(cmd)
    message = f"CBC: {pulp.LpSolution[prob.sol_status]}"  # PuLP calls a stop on time "Optimal" status
    if prob.sol_status not in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
        return None, np.inf, message
    xs = np.array([v.value() or 0.0 for v in x])
    proven = prob.sol_status == pulp.LpSolutionOptimal and not mip_rel_gap
    objective = float(np.dot(wg, np.minimum(1.0, np.asarray(At.astype(float) @ (xs > 0.5)).ravel())))
    return xs, (objective if proven else np.inf), message


# ============================================================================ indicators (what-if)
def green_indicators(*, green: gpd.GeoDataFrame | None, residential: gpd.GeoDataFrame,
                     built_up: gpd.GeoDataFrame | None = None, uncovered_area_m2: float,
                     uncovered_residents: float, population: float | None = None, tiers=PARK_TIERS,
                     population_field: str = "population") -> dict:
    """The green indicators of a (possibly modified) green layer, shares in percent (as the indicator table).

    * ``green_ratio`` 建成区绿地率 (%) = 100 · area(∪ G1,G2,G3,XG ∩ built-up) ÷ built-up area;
    * ``park_area_m2`` = area(∪ G1 ∩ built-up); ``park_per_capita_m2`` 人均公园绿地面积 = that ÷
      population (m²/人; ``population`` given, else the residents of the residential layer);
    * ``service_coverage_land`` 公园绿地服务半径覆盖率 (%) = 100 · residential land inside a qualifying park's
      radius ÷ residential land (the GB 55014-2021 definition, by land area);
    * ``service_coverage_residents`` (%) = 100 · (1 − ``uncovered_residents`` ÷ residents) (population spread
      evenly over each residential polygon).

    With a built-up boundary the first three come from one measure of the city
    (:func:`civgis.analysis.indicators.green_land_indicators`), so "before" equals the indicator
    report. Without one, green land is
    not clipped and the land coverage is ``1 − uncovered_area_m2 ÷ residential area``.

    ``green=None`` — the workspace has no green layer — gives NaN (无数据) for all five: with today's
    green land unknown, neither its share nor the residents its parks serve are 0. An empty green
    layer (surveyed, nothing found) gives 0.
    """
    if green is None:
        return dict.fromkeys(INDICATOR_LABELS, np.nan)
    res_area = float(residential.geometry.area.sum())
    res_pop = float(_population(residential, population_field, None).sum())
    pop = float(population) if population is not None else res_pop
    out = {}
    has_green = green is not None and len(green) > 0
    if has_green:
        cats = green["category"].astype(str)
        parks = shapely.union_all(green.geometry[cats.isin(PARK_CATEGORIES)].to_numpy())
    else:
        parks = shapely.Polygon()
    if built_up is not None and len(built_up):
        parks = shapely.intersection(parks, shapely.union_all(built_up.geometry.to_numpy()))
        measured = (indicators.green_land_indicators(green, built_up, residential=residential, population=population,
                                                     tiers=tiers) if has_green else {})
        out["green_ratio"] = measured.get("green_space_ratio", 0.0)
        out["park_area_m2"] = float(shapely.area(parks))
        out["park_per_capita_m2"] = measured.get("park_area_per_capita", 0.0)
        out["service_coverage_land"] = measured.get("park_service_coverage", 0.0)
    else:
        out["green_ratio"] = np.nan  # no built-up area to divide by
        out["park_area_m2"] = float(shapely.area(parks))
        out["park_per_capita_m2"] = out["park_area_m2"] / pop if pop > 0 else np.nan
        out["service_coverage_land"] = 100.0 * (1.0 - uncovered_area_m2 / res_area) if res_area > 0 else np.nan
    out["service_coverage_residents"] = 100.0 * (1.0 - uncovered_residents / res_pop) if res_pop > 0 else np.nan
    return out


INDICATOR_LABELS = {
    "green_ratio": ("建成区绿地率", "%"),
    "park_area_m2": ("公园绿地面积", "m²"),
    "park_per_capita_m2": ("人均公园绿地面积", "m²/人"),
    "service_coverage_land": ("公园绿地服务半径覆盖率(按用地)", "%"),
    "service_coverage_residents": ("公园绿地服务半径覆盖率(按人口)", "%"),
}


# ============================================================================ the plan
@dataclass
class GreeningPlan:
    """A greening plan: the chosen sites and what they change.

    Attributes
    ----------
    sites : DataFrame
        Chosen sites in the order chosen: ``rank, site_id, name, area_m2, radius_m, tier,
        new_residents`` (exact marginal gain, union with everything chosen before),
        ``new_residents_grid`` (the gain the solver saw, grid units), ``cumulative_residents``
        and ``cumulative_coverage`` (share of all residents inside a park's service radius).
    population : float
        Residents of the residential layer.
    covered_before, covered_after : float
        Residents inside a qualifying park's service radius before/after the chosen sites (exact).
    gap : GeoDataFrame
        Residential pieces outside every service radius today (with ``residents``).
    gap_after : GeoDataFrame
        What stays uncovered after the chosen sites.
    candidates : GeoDataFrame
        All candidate sites considered (``site_id, area_m2, radius_m, tier, source``,
        ``potential_residents`` = residents of the gap within reach alone, grid).
    chosen : GeoDataFrame
        The chosen sites (the rows of ``sites`` with geometry).
    what_if : DataFrame
        Indicators before and after: ``indicator, label_zh, unit, before, after, change, target``.
    greedy : CoverSolution
    exact : CoverSolution or None
    gap_pct : float or None
        ``100 · (exact − greedy) / exact`` on the grid objective (None without the exact run).
    parks : GeoDataFrame or None
        Today's qualifying parks (``area_m2``, ``radius_m``).
    params : dict
        The parameters of the run.
    """

    sites: pd.DataFrame
    population: float
    covered_before: float
    covered_after: float
    gap: gpd.GeoDataFrame
    gap_after: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    chosen: gpd.GeoDataFrame
    what_if: pd.DataFrame
    greedy: CoverSolution
    exact: CoverSolution | None = None
    parks: gpd.GeoDataFrame | None = None
    gap_pct: float | None = None
    params: dict = field(default_factory=dict)

    @property
    def greedy_objective(self) -> float:
        return self.greedy.objective

    @property
    def exact_objective(self) -> float | None:
        return None if self.exact is None else self.exact.objective

    def to_dict(self) -> dict:
        """The ``--json`` structure (sites in the order chosen)."""
        sites = [{"site_id": str(r.site_id), "area_m2": round(float(r.area_m2), 1),
                  "radius_m": float(r.radius_m), "new_residents": round(float(r.new_residents), 1),
                  "new_residents_grid": round(float(r.new_residents_grid), 1),
                  "cumulative_coverage": round(float(r.cumulative_coverage), 6)}
                 for r in self.sites.itertuples()]
        what_if = {row.indicator: {"before": _num(row.before), "after": _num(row.after),
                                   "target": _num(row.target)} for row in self.what_if.itertuples()}
        out = {
            "sites": sites,
            "covered_before": round(float(self.covered_before), 1),
            "covered_after": round(float(self.covered_after), 1),
            "population": round(float(self.population), 1),
            "coverage_before": _num(self.covered_before / self.population if self.population else None),
            "coverage_after": _num(self.covered_after / self.population if self.population else None),
            "new_residents": round(float(self.covered_after - self.covered_before), 1),
            "area_m2": round(float(self.sites["area_m2"].sum()), 1),
            "n_candidates": int(len(self.candidates)),
            "what_if": what_if,
            "greedy": {"objective": round(self.greedy.objective, 3), "method": self.greedy.method,
                       "seconds": round(self.greedy.seconds, 4)},
            "params": self.params,
        }
        if self.exact is not None:
            out["exact"] = {"objective": round(self.exact.objective, 3), "bound": _num(self.exact.bound),
                            "optimal": self.exact.optimal, "status": self.exact.status,
                            "bound_gap_pct": _num(self.exact.bound_gap_pct), "lp_bound": _num(self.exact.lp_bound),
                            "found_by": self.exact.found_by, "solver": self.exact.method,
                            "seconds": round(self.exact.seconds, 4),
                            "site_ids": [str(self.candidates["site_id"].iloc[i]) for i in self.exact.chosen]}
            out["gap_pct"] = _num(self.gap_pct)
        return out


def plan_greening_frames(*, residential: gpd.GeoDataFrame, candidates: gpd.GeoDataFrame | None = None,
                         green: gpd.GeoDataFrame | None = None, built_up: gpd.GeoDataFrame | None = None,
                         extra_candidates: gpd.GeoDataFrame | None = None, sites: int | None = 5,
                         budget_m2: float | None = None, min_area_m2: float | None = None,
                         tiers=PARK_TIERS, cell_m: float = 25.0, exact: bool = False,
                         solver: str = "highs", time_limit: float | None = None, use: str = "greedy",
                         population: float | None = None, targets: dict | None = None,
                         refine: bool = True, quad_segs: int = QUAD_SEGS) -> GreeningPlan:
    """Plan the greening from GeoDataFrames (all in one projected metric CRS).

    Parameters
    ----------
    residential : residential land with ``population``
    candidates : candidate plots (``site_id``, optional ``name``); ``extra_candidates`` are added
        (e.g. from :func:`raster_candidates`)
    green : green land (``category``); its qualifying G1 parks define today's service area
    built_up : built-up boundary, for the green-space ratio and park area per capita
    sites : at most this many sites (None: only the budget limits)
    budget_m2 : total candidate area allowed (m²)
    min_area_m2 : smallest plot considered (default: the smallest tier, 1 000 m²)
    tiers : ``((min_area_m2, radius_m), …)`` service-radius tiers
    cell_m : demand grid cell (m)
    exact : also solve the integer programme (warm-started by the greedy) and report the greedy gap
    solver : ``"highs"`` (highspy; scipy.optimize.milp without highspy) or ``"cbc"`` (PuLP)
    time_limit : seconds for the exact solver; the plan's ``exact`` says whether it proved the optimum
        (``status``, ``bound``, ``bound_gap_pct``)
    use : which solution becomes the plan when both ran: ``"greedy"`` or ``"exact"``
    refine : improve the lazy greedy by seeds and exchanges (:func:`greedy_max_cover`); False gives
        the plain lazy greedy
    population : urban resident population for 人均公园绿地 (default: the residential total)
    targets : what-if targets in percent / m²/人 by what-if key (default :func:`greening_targets` of
        the default targets file)
    """
    if sites is None and budget_m2 is None:
        raise ValueError("give the number of sites and/or an area budget (m²)")
    if use not in ("greedy", "exact"):
        raise ValueError("use must be 'greedy' or 'exact'")
    crs = residential.crs
    parks = qualifying_parks(green, tiers=tiers) if green is not None and len(green) else None
    gap = service_gap(residential, parks, quad_segs=quad_segs)
    res_pop = _population(residential, "population", "res_id")
    total_pop = float(res_pop.sum())
    covered_before = total_pop - float(gap["residents"].sum())

    frames = []
    if candidates is not None and len(candidates):
        c = candidate_sites(candidates, min_area_m2=min_area_m2, tiers=tiers)
        c["source"] = "candidates"
        frames.append(c)
    if extra_candidates is not None and len(extra_candidates):
        e = candidate_sites(extra_candidates, min_area_m2=min_area_m2, tiers=tiers)
        e["source"] = "raster"
        frames.append(e)
    if frames:
        cand = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=crs)
    else:
        cand = gpd.GeoDataFrame({"site_id": pd.Series(dtype="str"), "area_m2": pd.Series(dtype=float),
                                 "radius_m": pd.Series(dtype=float), "tier": pd.Series(dtype="str"),
                                 "source": pd.Series(dtype="str")}, geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    if cand["site_id"].duplicated().any():
        dup = cand.loc[cand["site_id"].duplicated(), "site_id"].iloc[0]
        raise ValueError(f"图层 candidates 要素 {dup} 字段 site_id: 编号重复 (duplicate site id)")
    if "name" not in cand:
        cand["name"] = pd.Series([pd.NA] * len(cand), dtype="string")

    units = demand_units(gap, cell_m=cell_m)
    A = coverage_matrix(units["point"].to_numpy(), cand.geometry.to_numpy(), cand["radius_m"].to_numpy())
    w = units["weight"].to_numpy()
    cand["potential_residents"] = _row_sums(A, w) if len(cand) else np.zeros(0)
    costs = cand["area_m2"].to_numpy(float)
    greedy = greedy_max_cover(A, w, k=sites, costs=costs if budget_m2 is not None else None, budget=budget_m2,
                              refine=refine)
    exact_sol = None
    gap_pct = None
    if exact:
        exact_sol = exact_max_cover(A, w, k=sites, costs=costs if budget_m2 is not None else None,
                                    budget=budget_m2, solver=solver, time_limit=time_limit, warm_start=greedy)
        best = exact_sol.objective  # never below the greedy: the greedy is its warm start
        gap_pct = max(0.0, 100.0 * (best - greedy.objective) / best) if best > 0 else 0.0
    picked = exact_sol if (use == "exact" and exact_sol is not None) else greedy

    # exact (polygon-area) evaluation of the chosen sites, in order: marginal gains of a union
    order = list(picked.chosen)
    buffers = shapely.buffer(cand.geometry.to_numpy()[order], cand["radius_m"].to_numpy()[order],
                             quad_segs=quad_segs) if order else np.array([], dtype=object)
    remaining = gap.geometry.to_numpy().copy()
    density = gap["density"].to_numpy()
    tree = shapely.STRtree(remaining) if len(remaining) else None
    new_exact = []
    for buf in buffers:  # one vectorised clip per chosen site (K is small)
        if tree is None:
            new_exact.append(0.0)
            continue
        idx = tree.query(buf, predicate="intersects")
        idx = idx[~shapely.is_empty(remaining[idx])]
        inter = shapely.intersection(remaining[idx], buf)
        new_exact.append(float(np.sum(density[idx] * shapely.area(inter))))
        remaining[idx] = shapely.difference(remaining[idx], buf)
    left = ~shapely.is_empty(remaining) & (shapely.area(remaining) > 1e-6) if len(remaining) else np.zeros(0, bool)
    gap_after = gap.iloc[np.flatnonzero(left)].copy()
    gap_after = gap_after.set_geometry(remaining[left])
    gap_after["area_m2"] = gap_after.geometry.area
    gap_after["residents"] = gap_after["density"] * gap_after["area_m2"]
    covered_after = covered_before + float(np.sum(new_exact))

    chosen = cand.iloc[order].copy().reset_index(drop=True)
    chosen.insert(0, "rank", np.arange(1, len(chosen) + 1))
    chosen["new_residents"] = np.asarray(new_exact, dtype=float)
    chosen["new_residents_grid"] = np.asarray(picked.gains, dtype=float)
    chosen["cumulative_residents"] = covered_before + np.cumsum(chosen["new_residents"].to_numpy())
    chosen["cumulative_coverage"] = (chosen["cumulative_residents"] / total_pop) if total_pop > 0 else np.nan
    site_cols = ["rank", "site_id", "name", "area_m2", "radius_m", "tier", "source", "new_residents",
                 "new_residents_grid", "cumulative_residents", "cumulative_coverage"]
    sites_df = pd.DataFrame(chosen[site_cols])

    # what-if: indicators before and after the chosen sites become G1 parks
    before = green_indicators(green=green, residential=residential, built_up=built_up,
                              uncovered_area_m2=float(gap["area_m2"].sum()),
                              uncovered_residents=float(gap["residents"].sum()), population=population,
                              tiers=tiers)
    new_green = gpd.GeoDataFrame({"category": ["G1"] * len(chosen)}, geometry=chosen.geometry.to_numpy(), crs=crs)
    green_after = new_green if green is None else gpd.GeoDataFrame(
        pd.concat([green[["category", green.geometry.name]].rename_geometry("geometry")
                   if green.geometry.name != "geometry" else green[["category", "geometry"]], new_green],
                  ignore_index=True), geometry="geometry", crs=crs)
    # without a green layer "after" is as unknown as "before" (the chosen sites plus an unknown stock)
    after = green_indicators(green=None if green is None else green_after, residential=residential, built_up=built_up,
                             uncovered_area_m2=float(gap_after["area_m2"].sum()),
                             uncovered_residents=float(gap_after["residents"].sum()), population=population,
                             tiers=tiers)
    targets = {**greening_targets(), **(targets or {})}
    what_if = pd.DataFrame([{"indicator": key, "label_zh": INDICATOR_LABELS[key][0], "unit": INDICATOR_LABELS[key][1],
                             "before": before[key], "after": after[key], "change": after[key] - before[key],
                             "target": targets.get(key, np.nan)} for key in INDICATOR_LABELS])

    params = {"sites": sites, "budget_m2": budget_m2, "min_area_m2": min_area_m2 if min_area_m2 is not None
              else min(t[0] for t in tiers), "tiers": [list(map(float, t)) for t in tiers], "cell_m": cell_m,
              "exact": exact, "solver": solver if exact else None, "use": use, "refine": refine, "n_units": int(len(units)),
              "n_candidates": int(len(cand))}
    return GreeningPlan(sites=sites_df, population=total_pop, covered_before=covered_before,
                        covered_after=covered_after, gap=gap, gap_after=gap_after, candidates=cand,
                        chosen=chosen, what_if=what_if, greedy=greedy, exact=exact_sol, gap_pct=gap_pct,
                        parks=parks, params=params)


def plan_greening(ws, *, sites: int | None = 5, budget_m2: float | None = None, min_area_m2: float | None = None,
                  exact: bool = False, from_canopy: bool = False, canopy_threshold: float = 0.5,
                  **kwargs) -> GreeningPlan:
    """Plan the greening of a workspace (reads residential, candidates, green, built_up, canopy).

    ``from_canopy=True`` adds plots found by :func:`raster_candidates` in the canopy raster
    (vegetated pixels ≥ ``canopy_threshold`` inside the built-up area, outside green land,
    residential land, the candidate plots and the carriageways — roads buffered by half their
    width). Service tiers, the population and the targets come from the targets file
    (:func:`civgis.store.targets.load_targets`). Other keywords go to :func:`plan_greening_frames`.
    """
    # tiers, population and targets from the bureau's targets file (data/targets.toml, per-workspace override)

    t = load_targets(ws=ws)
    params = t.params
    kwargs.setdefault("tiers", params.park_tiers)
    if params.population is not None:
        kwargs.setdefault("population", params.population)
    file_targets = greening_targets(t)
    kwargs["targets"] = {**file_targets, **(kwargs.get("targets") or {})}
    residential = ws.read("residential")
    candidates = ws.read_optional("candidates")
    green = ws.read_optional("green")
    built_up = ws.read_optional("built_up")
    extra = None
    if from_canopy:
        uri = ws.raster_uri("canopy")
        if uri is None:
            raise ValueError(f"工作空间 {ws.path.name} 中没有图层 canopy（植被覆盖栅格）; import it first")
        excl = [g.geometry.to_numpy() for g in (green, residential, candidates) if g is not None]
        roads = ws.read_optional("roads")
        if roads is not None and len(roads):  # the carriageway: half the width (10 m where unknown) each side
            half = pd.to_numeric(roads.get("width_m"), errors="coerce").fillna(20.0).to_numpy() / 2.0 \
                if "width_m" in roads else np.full(len(roads), 10.0)
            excl.append(shapely.buffer(roads.geometry.to_numpy(), half, cap_style="flat"))
        exclude = np.concatenate(excl) if excl else None
        extra = raster_candidates(uri, built_up=built_up, exclude=exclude, threshold=canopy_threshold,
                                  min_area_m2=min_area_m2 or min(t[0] for t in kwargs.get("tiers", PARK_TIERS)),
                                  crs=ws.crs)
        if len(extra):
            extra = extra.to_crs(residential.crs)
    if candidates is None and (extra is None or not len(extra)):
        raise ValueError(f"工作空间 {ws.path.name} 中没有候选地块 (layer candidates); import it or use the canopy")
    return plan_greening_frames(residential=residential, candidates=candidates, green=green, built_up=built_up,
                                extra_candidates=extra, sites=sites, budget_m2=budget_m2,
                                min_area_m2=min_area_m2, exact=exact, **kwargs)


# ============================================================================ helpers
def _num(v):
    if v is None:
        return None
    v = float(v)
    return None if not np.isfinite(v) else round(v, 6)


def _geoms(obj):
    if obj is None:
        return []
    if isinstance(obj, (gpd.GeoDataFrame, gpd.GeoSeries)):
        return obj.geometry.to_numpy() if isinstance(obj, gpd.GeoDataFrame) else obj.to_numpy()
    if isinstance(obj, shapely.Geometry):
        return [obj]
    return obj


def _check_projected(gdf, layer: str) -> None:
    if gdf.crs is not None and not gdf.crs.is_projected:
        raise ValueError(f"图层 {layer}: 坐标系须为投影坐标系(米) — reproject to the workspace CRS, not {gdf.crs.name}")


def _population(residential, population_field: str, id_field: str | None) -> np.ndarray:
    if population_field not in residential:
        raise ValueError(f"图层 residential 缺少字段 {population_field}（人口）")
    pop = pd.to_numeric(residential[population_field], errors="coerce").astype(float).to_numpy()
    bad = np.isnan(pop) | (pop < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        fid = residential[id_field].iloc[i] if id_field and id_field in residential else i
        raise ValueError(f"图层 residential 要素 {fid} 字段 {population_field}: 人口缺失或为负 "
                         f"(missing or negative population)")
    return pop
