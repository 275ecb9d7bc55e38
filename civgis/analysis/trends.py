"""Trends: Mann-Kendall test and emerging hot spots (ArcGIS's Emerging Hot Spot Analysis categories).

Emerging hot spots (:func:`emerging_hotspots`) follow ArcGIS Pro's *Emerging Hot Spot Analysis*
("How Emerging Hot Spot Analysis works", pro.arcgis.com … space-time-pattern-mining/
learnmoreemerging.htm):

1. cases are counted per hexagon cell per time step (month or week) — a space-time cube;
2. Getis-Ord Gi* is computed for every bin of the cube with binary weights: the cells within the
   distance band in the same time step and in the ``time_window`` previous steps (ArcGIS's
   *neighborhood time step*), the bin itself included; mean and standard deviation are those of
   the whole cube, as in ArcGIS. Each bin gets z, p and an FDR-corrected Gi_Bin
   (:func:`civgis.analysis.hotspots.fdr_bins` over all bins). **Default ``time_window=0``** (each time
   step on its own), where ArcGIS defaults to 1: with a window, the first step has no earlier
   step, so its neighbourhood is half the size and its z-score systematically lower, which biases
   the Mann-Kendall trend upwards — a steady hot spot can come out "intensifying" (seen on a
   synthetic steady cluster: z 4.4 in the first month, ≈ 6 afterwards, trend p = 0.06). Pass
   ``time_window=1`` for ArcGIS's setting;
3. the Mann-Kendall trend test is run on each cell's series of Gi* z-scores ("the intensity of
   clustering");
4. every cell is put in one category. With n time steps, "hot" meaning Gi_Bin > 0 (significant
   at ≥ 90 % confidence after FDR) and "90 % of the time steps" meaning at least ``0.9·n``:

   ===============  ============================================================================
   new              hot in the final step and never hot before
   consecutive      a single uninterrupted run of ≥ 2 hot steps ending in the final step, never
                    hot before that run, and fewer than 90 % of the steps hot
   intensifying     hot in ≥ 90 % of the steps including the final one, and the trend of z is
                    increasing and significant
   persistent       hot in ≥ 90 % of the steps including the final one, no significant trend
   diminishing      hot in ≥ 90 % of the steps including the final one, and the trend of z is
                    decreasing and significant
   sporadic         hot in the final step, on-and-off before, fewer than 90 % of the steps hot,
                    never a cold spot
   oscillating      hot in the final step, a cold spot in some earlier step, fewer than 90 %
                    of the steps hot
   historical       not hot in the final step, but hot in ≥ 90 % of the steps
   ===============  ============================================================================

   and the same eight for cold spots (Gi_Bin < 0, trend signs mirrored: an intensifying cold spot
   has a significantly *decreasing* z). Where ArcGIS's wording leaves cases overlapping, this
   implementation decides: the category is taken in the table's order (new before consecutive
   before sporadic …); "persistent" requires the final step to be hot (ArcGIS says only "90 % of
   the time steps"; a location not hot at the end is "historical"); a cell whose final step is
   hot is only tested against hot categories (and cold against cold).

Significance: a bin is hot/cold at ≥ 90 % confidence (any non-zero Gi_Bin, ArcGIS's rule);
the Mann-Kendall trend is significant at ``trend_alpha`` (default 0.10, i.e. the same 90 %
confidence, two-sided; the ArcGIS pages we could consult do not state the trend's level
explicitly — set 0.05 for a stricter test). Mann-Kendall is run with the tie correction, on the
z-scores of each cell, as ArcGIS evaluates "the intensity of clustering" over time.

Examples
--------
>>> r = mann_kendall([1, 2, 3, 4, 5, 7, 6, 8, 9, 10])
>>> r.s, round(r.z, 4), r.trend
(43, 3.7566, 'increasing')
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import ndtr  # the normal CDF (the survival function is ndtr(-x)); no scipy.stats import

from civgis.analysis.hotspots import (HotspotResult, _grid_params, _points_xy, distance_band_weights, fdr_bins,
                                      filter_cases, grid_centres, hex_cell_index, hex_offsets, hotspots_workspace,
                                      offset_rows, row_window_sums)

__all__ = ["CATEGORIES", "CATEGORY_LABELS_ZH", "CATEGORY_COLOURS", "MannKendallResult", "mann_kendall_many",
           "mann_kendall", "classify_emerging", "time_steps", "gi_star_space_time", "space_time_weights",
           "hex_band_rows", "hex_band_lag",
           "EmergingResult", "emerging_hotspots", "emerging_hotspots_workspace"]

CATEGORIES = ("new", "consecutive", "intensifying", "persistent", "diminishing", "sporadic", "oscillating",
              "historical")
CATEGORY_LABELS_ZH = {
    "new_hot": "新增热点", "consecutive_hot": "连续热点", "intensifying_hot": "加剧热点",
    "persistent_hot": "持续热点", "diminishing_hot": "减弱热点", "sporadic_hot": "零星热点",
    "oscillating_hot": "振荡热点", "historical_hot": "历史热点",
    "new_cold": "新增冷点", "consecutive_cold": "连续冷点", "intensifying_cold": "加剧冷点",
    "persistent_cold": "持续冷点", "diminishing_cold": "减弱冷点", "sporadic_cold": "零星冷点",
    "oscillating_cold": "振荡冷点", "historical_cold": "历史冷点", "none": "无模式",
}
CATEGORY_COLOURS = {
    "new_hot": "#fdd0a2", "consecutive_hot": "#fdae6b", "intensifying_hot": "#a50f15",
    "persistent_hot": "#de2d26", "diminishing_hot": "#fc9272", "sporadic_hot": "#fee0d2",
    "oscillating_hot": "#f768a1", "historical_hot": "#bcbddc",
    "new_cold": "#c6dbef", "consecutive_cold": "#9ecae1", "intensifying_cold": "#08519c",
    "persistent_cold": "#3182bd", "diminishing_cold": "#6baed6", "sporadic_cold": "#deebf7",
    "oscillating_cold": "#74c476", "historical_cold": "#dadaeb", "none": "#f0f0f0",
}


# ---------------------------------------------------------------------------- Mann-Kendall
@dataclass
class MannKendallResult:
    """Mann-Kendall trend test of one series.

    ``s`` = Σ_{i<j} sign(x_j − x_i); ``var_s`` with tie correction; ``z`` with continuity
    correction; ``p`` two-sided; ``tau`` = s / (n(n−1)/2); ``trend`` increasing / decreasing /
    no trend at ``alpha``.
    """

    s: int
    var_s: float
    z: float
    p: float
    tau: float
    n: int
    alpha: float
    trend: str

    def to_dict(self) -> dict:
        return {"s": self.s, "var_s": self.var_s, "z": self.z, "p": self.p, "tau": self.tau, "n": self.n,
                "alpha": self.alpha, "trend": self.trend}


def mann_kendall_many(series, *, alpha: float = 0.10) -> dict[str, np.ndarray]:
    """Mann-Kendall test of every row of a 2-D array (rows = locations, columns = time), vectorised.

    ``S = Σ_{i<j} sign(x_j − x_i)``;
    ``Var(S) = [n(n−1)(2n+5) − Σ_g t_g(t_g−1)(2t_g+5)] / 18`` (t_g = size of tie group g);
    ``Z = (S − 1)/√Var`` if S > 0, ``(S + 1)/√Var`` if S < 0, else 0; ``p = 2(1 − Φ(|Z|))``
    (Mann 1945; Kendall 1975; Gilbert 1987, §16.4).

    Returns a dict of arrays ``s, var_s, z, p, tau, trend`` (trend: +1 / −1 / 0 at ``alpha``).
    """
    x = np.asarray(series, dtype=float)
    if x.ndim == 1:
        x = x[None, :]
    m, n = x.shape
    if n < 3:
        raise ValueError(f"Mann-Kendall needs at least 3 time steps, got {n}")
    # S by lag: Σ_k Σ_t sign(x[t+k] − x[t]); memory O(m·n), not the O(m·n²) of all pairs at once
    s = np.zeros(m, dtype=np.int64)
    for k in range(1, n):
        s += np.sign(x[:, k:] - x[:, :-k]).sum(axis=1).astype(np.int64)
    # tie groups per row: sort, mark run starts, run lengths by bincount
    xs = np.sort(x, axis=1)
    start = np.ones((m, n), dtype=bool)
    start[:, 1:] = xs[:, 1:] != xs[:, :-1]
    run_id = np.cumsum(start.ravel()) - 1
    t = np.bincount(run_id).astype(float)
    run_row = np.repeat(np.arange(m), start.sum(axis=1))
    ties = np.bincount(run_row, weights=t * (t - 1) * (2 * t + 5), minlength=m)
    var_s = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = np.sqrt(var_s)
        z = np.where(s > 0, (s - 1) / sd, np.where(s < 0, (s + 1) / sd, 0.0))
    z = np.where(var_s > 0, z, 0.0)
    p = 2.0 * ndtr(-np.abs(z))
    tau = s / (n * (n - 1) / 2.0)
    trend = np.where(p <= alpha, np.sign(z), 0).astype(np.int8)
    return {"s": s.astype(np.int64), "var_s": var_s, "z": z, "p": p, "tau": tau, "trend": trend}


def mann_kendall(series, *, alpha: float = 0.10) -> MannKendallResult:
    """Mann-Kendall trend test (tie-corrected) of one series; see :func:`mann_kendall_many`.

    Examples
    --------
    >>> r = mann_kendall([5, 5, 4, 3, 3, 1])
    >>> r.s, r.var_s, r.trend     # ties {5,5}, {3,3}: (6·5·17 − 2·2·1·9)/18 = 26.33
    (-13, 26.333333333333332, 'decreasing')
    """
    x = np.asarray(series, dtype=float)
    r = mann_kendall_many(x[None, :], alpha=alpha)
    trend = {1: "increasing", -1: "decreasing", 0: "no trend"}[int(r["trend"][0])]
    return MannKendallResult(s=int(r["s"][0]), var_s=float(r["var_s"][0]), z=float(r["z"][0]), p=float(r["p"][0]),
                             tau=float(r["tau"][0]), n=len(x), alpha=alpha, trend=trend)


# ---------------------------------------------------------------------------- categories
def classify_emerging(bins, trend_z, trend_p, *, trend_alpha: float = 0.10, share: float = 0.9) -> np.ndarray:
    """Emerging hot/cold spot category of each location (rows) from its Gi_Bin series (columns = time).

    Parameters
    ----------
    bins : (m, n) int array
        Gi_Bin per location per time step (> 0 hot, < 0 cold, 0 not significant), oldest first.
    trend_z, trend_p : (m,) arrays
        Mann-Kendall z and p of each location's Gi* z-score series.
    trend_alpha : float
        Trend significance level (default 0.10).
    share : float
        The "ninety percent of the time-step intervals" share.

    Returns
    -------
    ndarray of str: ``"<category>_hot"``, ``"<category>_cold"`` or ``"none"`` (rules in the module doc).

    Examples
    --------
    >>> classify_emerging([[0, 0, 0, 0, 1], [0, 0, 1, 2, 3]], [0, 0], [1, 1]).tolist()
    ['new_hot', 'consecutive_hot']
    """
    b = np.asarray(bins)
    if b.ndim == 1:
        b = b[None, :]
    m, n = b.shape
    tz = np.asarray(trend_z, dtype=float).reshape(m)
    tp = np.asarray(trend_p, dtype=float).reshape(m)
    out = np.full(m, "none", dtype=object)
    need = share * n - 1e-9
    for sign, suffix in ((1, "hot"), (-1, "cold")):
        same = (b * sign) > 0
        other = (b * sign) < 0
        final = same[:, -1]
        n_same = same.sum(axis=1)
        before = same[:, :-1]
        # length of the run of `same` ending in the final step, and whether `same` occurs before it
        rev = same[:, ::-1]
        run = np.where(rev.all(axis=1), n, np.argmin(rev, axis=1))
        csum = np.cumsum(same, axis=1)
        last_before = n - run - 1            # last column before the final run (−1: none)
        hot_before_run = (last_before >= 0) & (csum[np.arange(m), np.maximum(last_before, 0)] > 0)
        mostly = n_same >= need
        sig = tp <= trend_alpha
        up = sig & (tz * sign > 0)
        down = sig & (tz * sign < 0)
        ever_other = other.any(axis=1)
        rules = [
            ("new", final & ~before.any(axis=1)),
            ("consecutive", final & (run >= 2) & ~hot_before_run & ~mostly),
            ("intensifying", final & mostly & up),
            ("persistent", final & mostly & ~sig),
            ("diminishing", final & mostly & down),
            ("sporadic", final & ~mostly & ~ever_other),
            ("oscillating", final & ~mostly & ever_other),
            ("historical", ~final & mostly),
        ]
        todo = out == "none"
        for name, mask in rules:
            hit = todo & mask
            out[hit] = f"{name}_{suffix}"
            todo &= ~hit
    return out.astype(str)


# ---------------------------------------------------------------------------- space-time cube
def time_steps(times, *, by: str = "month", since=None, until=None) -> tuple[np.ndarray, pd.PeriodIndex]:
    """Time-step index of each timestamp (−1 outside) and the calendar periods (months or ISO weeks)."""
    freq = {"month": "M", "week": "W-SUN"}.get(by)
    if freq is None:
        raise ValueError(f"--by must be month or week, not {by!r}")
    t = pd.to_datetime(pd.Series(times), format="mixed")
    valid = t.notna().to_numpy()
    if not valid.any():
        raise ValueError("no case has a reported_at time")
    first = pd.Timestamp(since) if since is not None else t[valid].min()
    last = (pd.Timestamp(until) - pd.Timedelta(1, "ns")) if until is not None else t[valid].max()
    periods = pd.period_range(first.to_period(freq), last.to_period(freq), freq=freq)
    per = t.dt.to_period(freq)
    ordinal = np.where(valid, per.array.asi8 if hasattr(per.array, "asi8") else per.astype("int64"), 0)
    step = np.asarray(ordinal, dtype=np.int64) - periods[0].ordinal
    inside = valid & (step >= 0) & (step < len(periods))
    if since is not None:
        inside &= (t >= pd.Timestamp(since)).to_numpy(dtype=bool, na_value=False)
    if until is not None:
        inside &= (t < pd.Timestamp(until)).to_numpy(dtype=bool, na_value=False)
    return np.where(inside, step, -1), periods


def hex_band_rows(cell_size: float, band: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distance band of a hexagon lattice as rows of axial offsets: for each ``dr``, every ``dq`` in ``[lo, hi]``.

    The offsets are those of :func:`civgis.analysis.hotspots.hex_band_weights` (:func:`hex_offsets`
    with its 1e-9 relative tolerance, both signs, the cell itself): on a lattice row the band's
    ``dq`` form one interval (``dq² + dq·dr + dr² ≤ R²`` is convex in ``dq``), checked here.
    """
    dq, dr, _ = hex_offsets(band * (1.0 + 1e-9) / cell_size)
    return offset_rows(dq, dr)


def hex_band_lag(values, q, r, cell_size: float, band: float) -> tuple[np.ndarray, np.ndarray]:
    """``W @ values`` and ``W``'s row sums for the binary band weights of hexagon cells ``(q, r)``, diagonal included.

    The same sums as :func:`civgis.analysis.hotspots.hex_band_weights` ``@ values``, without the
    weights: on each lattice row the band is an interval of ``q`` (:func:`hex_band_rows`), so a
    cell's lag is, row by row, a difference of prefix sums along ``q`` of the dense lattice
    array (:func:`civgis.analysis.hotspots.row_window_sums`). ``values`` must be integers
    (counts, shape ``(n_cells,)`` or ``(n_cells, n_steps)``): the sums are taken in int64, so they
    are exact and equal, bit for bit, to the sparse product in floating point, whatever the order
    of addition. Returns float arrays.
    """
    counts = np.asarray(values)
    if not np.issubdtype(counts.dtype, np.integer):
        as_int = counts.astype(np.int64)
        if not np.array_equal(as_int, counts):
            raise ValueError("hex_band_lag needs integer values (case counts)")
        counts = as_int
    rows = hex_band_rows(cell_size, band)
    cols = counts.reshape(len(counts), -1).astype(np.int64)
    lag = row_window_sums(cols, q, r, *rows)
    deg = row_window_sums(np.ones((len(cols), 1), np.int64), q, r, *rows)[:, 0]
    return lag.astype(float).reshape(counts.shape), deg.astype(float)


def gi_star_space_time(counts, spatial: sparse.spmatrix | None, time_window: int = 0, *,
                       lattice=None) -> tuple[np.ndarray, np.ndarray]:
    """Gi* z and p of every bin of a space-time cube ``counts`` (cells × steps), without building the cube's weights.

    Same numbers as :func:`civgis.analysis.hotspots.gi_star_from_weights` on ``x = counts`` flattened
    step-major with :func:`space_time_weights` — but the weights are separable (binary spatial ×
    binary time window), so the spatial lag is ``W @ X`` once and the window sum is a running sum
    over steps: memory O(cells × steps) instead of O(nnz(W) × steps × window).

    ``lattice=(q, r, cell_size, band)``: ``spatial`` is (or would be) the band weights of a hexagon
    grid (:func:`civgis.analysis.hotspots.hex_band_weights`) and ``counts`` are integers; the lag is
    then :func:`hex_band_lag` (the same sums, exact) and ``spatial`` is not used (may be None).
    """
    X = np.asarray(counts, dtype=float)
    nc, nt = X.shape
    n = X.size
    if n < 3:
        raise ValueError("Gi* needs at least 3 bins")
    xbar = X.mean()
    s = math.sqrt(max(float((X * X).mean() - xbar * xbar), 0.0))
    if lattice is not None:   # the band weights of a hexagon grid: prefix sums on the lattice, no matrix
        L, deg = hex_band_lag(counts, *lattice)
    else:
        W = sparse.coo_matrix(spatial)
        if W.nnz and not np.all(W.data == 1.0):
            raise ValueError("gi_star_space_time needs binary spatial weights")
        L = W.tocsr() @ X          # CSR × dense: twice as fast as COO × dense on the demo, conversion included
        deg = np.bincount(W.row, minlength=nc).astype(float)
    lag = L.copy()
    steps_in = np.ones(nt)
    for k in range(1, min(time_window, nt - 1) + 1):
        lag[:, k:] += L[:, :-k]
        steps_in[k:] += 1
    wi = deg[:, None] * steps_in[None, :]
    den = s * np.sqrt(np.maximum(n * wi - wi * wi, 0.0) / (n - 1))       # binary: Σw² = Σw
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(den > 0, (lag - xbar * wi) / den, 0.0)
    return z, 2.0 * ndtr(-np.abs(z))


def space_time_weights(spatial: sparse.spmatrix, n_steps: int, time_window: int = 0) -> sparse.coo_matrix:
    """Space-time binary weights of a cube flattened step-major (bin = step·n_cells + cell).

    ``kron(T, W)`` with ``T[t, t'] = 1`` for ``0 ≤ t − t' ≤ time_window`` (current and previous
    steps, ArcGIS's neighborhood time step) and ``W`` the spatial weights (diagonal included).
    """
    diags = [np.ones(n_steps - k) for k in range(min(time_window, n_steps - 1) + 1)]
    T = sparse.diags(diags, offsets=[-k for k in range(len(diags))], shape=(n_steps, n_steps), format="csr")
    return sparse.kron(T, sparse.coo_matrix(spatial), format="coo")


@dataclass
class EmergingResult:
    """Emerging hot spots.

    Attributes
    ----------
    cells : GeoDataFrame
        Per cell: ``cell_id, category, category_zh, trend_z, trend_p, trend_tau, n_hot, n_cold,
        final_bin, total`` and the geometry.
    periods : PeriodIndex
        The time steps.
    counts, z, p, bins : (n_cells, n_steps) arrays
        The cube: counts, Gi* z, p and Gi_Bin per cell per step.
    """

    cells: gpd.GeoDataFrame
    periods: pd.PeriodIndex
    counts: np.ndarray
    z: np.ndarray
    p: np.ndarray
    bins: np.ndarray
    by: str
    band_m: float
    time_window: int
    trend_alpha: float
    params: dict = field(default_factory=dict)

    def category_counts(self) -> dict[str, int]:
        vc = self.cells["category"].value_counts()
        return {k: int(v) for k, v in vc.items()}

    def to_dict(self) -> dict:
        return {"by": self.by, "n_steps": int(len(self.periods)),
                "first": str(self.periods[0]), "last": str(self.periods[-1]),
                "band_m": round(float(self.band_m), 2), "time_window": self.time_window,
                "trend_alpha": self.trend_alpha, "categories": self.category_counts(), **self.params}


def emerging_hotspots(points, times, grid: gpd.GeoDataFrame, band: float, *, by: str = "month", since=None,
                      until=None, time_window: int = 0, fdr: bool = True, trend_alpha: float = 0.10,
                      min_steps: int = 4, weights=None) -> EmergingResult:
    """Emerging hot spot analysis of point incidents on a hexagon grid (see module doc).

    Parameters
    ----------
    points : points (metres) and their ``times`` (reported_at)
    grid : GeoDataFrame from :func:`civgis.analysis.hotspots.hex_grid`
    band : float
        Spatial distance band, metres.
    by : "month" | "week"
        Time-step length (calendar months / ISO weeks).
    time_window : int
        Previous time steps included in each bin's neighbourhood (default 0 = each step alone;
        ArcGIS's default is 1, see the module doc for why we do not follow it).
    fdr : bool
        FDR-corrected Gi_Bin over all bins of the cube.
    trend_alpha : float
        Mann-Kendall significance level (default 0.10).
    weights : sparse matrix, optional
        Binary spatial weights to use instead of the distance band. Without them, a grid with
        ``q``/``r`` columns (a :func:`~civgis.analysis.hotspots.hex_grid`) has its band sums taken
        on the lattice (:func:`hex_band_lag`, no matrix); any other grid gets KD-tree band weights.
    """
    xy = _points_xy(points)
    step, periods = time_steps(times, by=by, since=since, until=until)
    n_steps = len(periods)
    if n_steps < min_steps:
        raise ValueError(f"新兴热点分析至少需要 {min_steps} 个时间步 emerging hot spots need at least "
                         f"{min_steps} time steps, got {n_steps} ({by}); ArcGIS recommends 10 or more")
    cell = hex_cell_index(xy, grid)
    ok = (cell >= 0) & (step >= 0)
    nc = len(grid)
    counts = np.bincount(cell[ok] * n_steps + step[ok], minlength=nc * n_steps).astype(float).reshape(nc, n_steps)
    if weights is None and {"q", "r"} <= set(grid.columns):   # a hex_grid: its band sums on the lattice
        z, p = gi_star_space_time(counts, None, time_window,
                                  lattice=(grid["q"].to_numpy(), grid["r"].to_numpy(), _grid_params(grid)[0], band))
    else:
        W = weights if weights is not None else distance_band_weights(grid_centres(grid), band)
        z, p = gi_star_space_time(counts, W, time_window)
    bins = fdr_bins(z.ravel(), p.ravel(), fdr=fdr).reshape(nc, n_steps)
    mk = mann_kendall_many(z, alpha=trend_alpha)
    cat = classify_emerging(bins, mk["z"], mk["p"], trend_alpha=trend_alpha)
    cells = gpd.GeoDataFrame({
        "cell_id": grid["cell_id"].to_numpy(), "q": grid["q"].to_numpy(), "r": grid["r"].to_numpy(), "category": cat,
        "category_zh": [CATEGORY_LABELS_ZH[c] for c in cat],
        "trend_z": mk["z"], "trend_p": mk["p"], "trend_tau": mk["tau"],
        "n_hot": (bins > 0).sum(axis=1), "n_cold": (bins < 0).sum(axis=1), "final_bin": bins[:, -1].astype(int),
        "total": counts.sum(axis=1).astype(np.int64)}, geometry=grid.geometry.values, crs=grid.crs)
    cells.attrs.update(grid.attrs)
    return EmergingResult(cells=cells, periods=periods, counts=counts, z=z, p=p, bins=bins, by=by, band_m=float(band),
                          time_window=time_window, trend_alpha=trend_alpha,
                          params={"n_cases": int(ok.sum())})


def emerging_hotspots_workspace(ws, result: HotspotResult | None = None, *, by: str = "month", category=None,
                                since=None, until=None, cell_size: float | None = None, band: float | None = None,
                                time_window: int = 0, trend_alpha: float = 0.10, cases=None) -> EmergingResult:
    """Emerging hot spots of the workspace's inspections on the grid (and band) of a hot spot result.

    Without ``result``, :func:`civgis.analysis.hotspots.hotspots_workspace` is run first to choose the grid.
    ``cases``: the inspections already read and filtered (the result's category, ``since``,
    ``until``) when the caller has them, so the layer is not read and filtered again.
    """

    if result is None:
        result = hotspots_workspace(ws, category=category, since=since, until=until, cell_size=cell_size, band=band,
                                    cases=cases)
    if cases is None:
        f = result.filters or {}
        category = category or f.get("category")
        cases = filter_cases(ws.read("inspections"), category=category, since=since, until=until)
    grid = result.cells[["cell_id", "q", "r", "geometry"]].copy()
    grid.attrs.update(result.cells.attrs)
    # no weights passed: the grid is a hex_grid, so emerging_hotspots sums the band on its lattice
    # (the same pairs as result.weights, faster than the sparse product)
    return emerging_hotspots(cases, cases["reported_at"], grid, band or result.band_m, by=by, since=since,
                             until=until, time_window=time_window, trend_alpha=trend_alpha)
