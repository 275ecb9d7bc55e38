"""达标路径 — the pass plan: the fewest concrete actions that make each failing indicator pass.

For every city-wide indicator that fails its target the plan lists what to build or fix, where,
who answers for it and by when (倒排工期、限期销号):

``lamp_installation_rate`` 装灯率
    New lamps on the unlit stretches (:func:`civgis.analysis.indicators.unlit_stretches`) of the
    failing road classes. A stretch of length ``L`` gets ``n = ⌈L / s⌉`` lamps,
    ``s = min(S_class, 2 · lamp_reach_m)`` (``S_class`` the CJJ 45-2015 spacing from the targets
    file), at ``from_m + (i + ½) · L / n``: every point of the stretch is then within ``½ · L/n ≤
    lamp_reach_m`` of a lamp of its own road. Stretches are taken longest first (the fewest
    stretches, and no lamp spent on a few metres), the last one lit only as far as the target needs.
``lamp_lighting_rate`` 亮灯率
    The smallest number ``r`` of broken lamps to repair with ``(W + r) / K`` passing (``W``
    working, ``K`` lamps of known status inside the built-up area), per failing road class, then
    overall.
``mech_sweeping_rate`` 机械化清扫率
    Unswept roads with a width, largest area (length inside the built-up area × width) first,
    until ``Σ swept area / Σ area`` passes.
``park_service_coverage`` 公园绿地服务半径覆盖率
    The fewest candidate plots whose service radius (by the plot's area tier) brings the covered
    residential land to the target: a set-cover variant of the greening solver — the smallest
    ``k`` whose exact maximal cover (:func:`civgis.analysis.greening.exact_max_cover`) reaches the
    land still needed (:func:`fewest_sites`), then checked on the polygons.
``green_space_ratio`` 绿地率, ``park_area_per_capita`` 人均公园绿地
    The green land needed in m² (``T · |B| − |∪G ∩ B|`` and ``T · P − |∪G1 ∩ B|``) and the
    candidate plots (new area inside ``B`` not already green) that reach it, largest first; what no
    plot can give is reported as still needed.
公厕 ``toilet_density``, ``toilets_per_10k``, ``toilet_service_coverage``, ``accessible_toilet_share``
    The number of new toilets that makes the count targets pass; their sites by maximal covering
    of the built-up area not yet within the toilet radius, over candidate points every
    ``toilet_candidate_step_m`` along the streets; new toilets are planned accessible, and the
    fewest existing toilets are retrofitted when the accessible share has a target.
zones 责任区 (audit)
    Each gap joined to its suggested neighbour, overlaps to settle, zones without staff or phone.

Each task gets its deadline ``完成时限 = inspection date − acceptance_days`` and its class (the
rule, with parameters in the ``[plan]`` table of the targets file): **已达标(巩固)** when the
indicator passes now; **可达标** when the plan reaches the target and ``today + lead_days +
⌈quantity ÷ capacity_per_day⌉ ≤ 完成时限``; **难达标** otherwise.

Task states (:func:`task_states`) come from the data: a lamp task is done when a working lamp
stands within ``DONE_LAMP_M`` of every planned position, a repair when the listed lamps work, a
toilet when one stands within ``DONE_TOILET_M`` of the site, a park when G1 green covers
``DONE_PARK_SHARE`` of the plot, a road when it is swept, a gap when a zone covers it; a task not
done whose deadline has passed is overdue.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from civgis.analysis import greening as _gr
from civgis.analysis import indicators as _ind
from civgis.analysis.audit import AuditResult, assign_gaps
from civgis.analysis.lamps import lamp_states
from civgis.analysis.spatial import query_pairs
from civgis.store.catalogue import layer_spec
from civgis.store.crs import lonlat
from civgis.store.targets import Target, Targets, load_targets

__all__ = ["KINDS", "CLASSES", "TASK_COLUMNS", "RULES", "DONE_LAMP_M", "DONE_TOILET_M", "DONE_PARK_SHARE", "PlanError",
           "PassPlan", "lamp_positions", "lamps_to_install", "repairs_needed", "roads_to_sweep", "fewest_sites",
           "toilet_sites", "count_needed", "plan_frames", "plan_workspace", "apply_plan", "task_states",
           "class_rule"]

#: kind of work → (Chinese name, unit of its quantity)
KINDS = {
    "install_lamp": ("新增路灯", "盏"),
    "repair_lamp": ("修复故障路灯", "盏"),
    "add_sweeping": ("纳入机械化清扫", "m²"),
    "new_park": ("新建公园绿地", "m²"),
    "green_budget": ("另行落实新增绿地", "m²"),
    "new_toilet": ("新建公厕", "座"),
    "retrofit_toilet": ("公厕无障碍改造", "座"),
    "fix_zone": ("调整责任区", "处"),
    "assign_staff": ("明确责任人", "个"),
}
CLASSES = ("已达标(巩固)", "可达标", "难达标")
TASK_COLUMNS = ["task_id", "indicator", "name_zh", "kind", "task", "quantity", "unit", "zone_id", "zone_name",
                "road_id", "road_name", "x", "y", "lon", "lat", "lead_unit", "resp_unit", "staff", "deadline",
                "start_by", "class_", "check"]
DONE_LAMP_M = 5.0
DONE_TOILET_M = 30.0
DONE_PARK_SHARE = 0.95
#: a plan adds this much beyond the exact threshold (strict targets, rounding of areas)
EPS = 1e-6
LEAD_DEFAULTS = {"install_lamp": 20, "repair_lamp": 3, "new_toilet": 60, "retrofit_toilet": 20, "new_park": 90,
                 "green_budget": 120, "add_sweeping": 10, "fix_zone": 3, "assign_staff": 2}
CAPACITY_DEFAULTS = {"install_lamp": 10.0, "repair_lamp": 20.0, "new_toilet": 0.5, "retrofit_toilet": 1.0,
                     "new_park": 2000.0, "green_budget": 2000.0, "add_sweeping": 5.0, "fix_zone": 5.0,
                     "assign_staff": 10.0}
SPACING_DEFAULT_M = 30.0
#: the indicators the plan has action rules for
RULES = ("lamp_installation_rate", "lamp_lighting_rate", "mech_sweeping_rate", "park_service_coverage",
         "green_space_ratio", "park_area_per_capita", "toilet_density", "toilets_per_10k", "toilet_service_coverage",
         "accessible_toilet_share")


class PlanError(ValueError):
    """Input the plan cannot use (names the layer and the fix)."""


def class_rule(plan_params: dict) -> str:
    """The classification rule, in the bureau's words, with its parameters."""
    return (f"已达标(巩固)：指标当前已达标；可达标：按计划措施可达到目标，且 今日 + 准备期 + ⌈数量 ÷ 日完成能力⌉ ≤ "
            f"完成时限（迎检日前 {int(plan_params.get('acceptance_days', 7))} 天）；难达标：候选地块/点位不足以达标，"
            f"或工期超过完成时限（准备期、日完成能力见目标文件 [plan]）")


@dataclass
class PassPlan:
    """The pass plan (达标路径).

    Attributes
    ----------
    tasks : DataFrame
        One row per task, :data:`TASK_COLUMNS` (``check`` is JSON: what the data must show for
        the task to be done).
    gaps : DataFrame
        One row per city-wide judged indicator: ``indicator, name_zh, road_class, value, target,
        comparison, passed, reaches, after, class_, quantity, unit, sentence``.
    actions : dict
        What :func:`apply_plan` applies: ``new_lamps``, ``repair_ids``, ``new_toilets``,
        ``retrofit_ids``, ``park_sites``, ``swept_roads``, ``fix_gaps``.
    inspection_date, as_of : date
    rule : str
        The class rule (:func:`class_rule`).
    seconds : dict
        Time per indicator (s).
    """

    tasks: pd.DataFrame
    gaps: pd.DataFrame
    actions: dict
    inspection_date: dt.date
    as_of: dt.date
    rule: str
    seconds: dict = field(default_factory=dict)
    crs: object = None

    def sentences(self) -> list[str]:
        return [s for s in self.gaps["sentence"] if s]

    def to_dict(self) -> dict:
        tasks = self.tasks.drop(columns=["check"]).astype(object).where(self.tasks.drop(columns=["check"]).notna(), None)
        gaps = self.gaps.astype(object).where(self.gaps.notna(), None)
        return {"inspection_date": self.inspection_date.isoformat(), "as_of": self.as_of.isoformat(),
                "rule": self.rule, "seconds": self.seconds, "gaps": gaps.to_dict("records"),
                "tasks": tasks.to_dict("records")}


# ============================================================================ small pure solvers
def count_needed(passes, start: int = 0, limit: int = 100_000) -> int | None:
    """The smallest ``r ≥ start`` with ``passes(r)`` (``passes`` monotone), None beyond ``limit``.

    >>> count_needed(lambda r: (90 + r) / 100 >= 0.98)
    8
    """
    if passes(start):
        return start
    hi = max(start + 1, 1)
    while not passes(hi):
        if hi >= limit:
            return None
        hi = min(hi * 2, limit)
    lo = start  # passes(lo) False, passes(hi) True
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if passes(mid) else (mid, hi)
    return hi


def lamp_positions(from_m, to_m, spacing_m, reach_m: float = 25.0) -> tuple[np.ndarray, np.ndarray]:
    """Lamp positions (m along the road) that light the stretches ``[from_m, to_m]`` completely.

    ``n = ⌈L / s⌉`` lamps, ``s = min(spacing, 2·reach)``, at ``from + (i + ½)·L/n``.

    Returns (positions, stretch index of each position).

    >>> lamp_positions([0.0], [90.0], [30.0])[0].tolist()
    [15.0, 45.0, 75.0]
    """
    a, b = np.asarray(from_m, float), np.asarray(to_m, float)
    s = np.minimum(np.broadcast_to(np.asarray(spacing_m, float), a.shape), 2.0 * reach_m)
    length = b - a
    n = np.maximum(np.ceil(length / s - 1e-9), 1).astype(np.int64)
    owner = np.repeat(np.arange(len(a)), n)
    i = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    return a[owner] + (i + 0.5) * length[owner] / n[owner], owner


def fewest_sites(coverage: sp.spmatrix, weights, need: float, *, exact: bool = True) -> list[int] | None:
    """The fewest sites whose union covers at least ``need`` weight (None when all sites fall short).

    Set-cover variant of the maximal covering model: the greedy gives an upper bound ``k_g``;
    the exact maximal cover (HiGHS) is then solved for ``k = 1, 2, …`` and the first ``k`` whose
    optimum reaches ``need`` is the minimum (max-cover value is monotone in ``k``).
    """
    A = sp.csr_matrix(coverage, dtype=bool)
    w = np.asarray(weights, float)
    if need <= 0:
        return []
    n = A.shape[0]
    if n == 0:
        return None
    greedy = _gr.greedy_max_cover(A, w, k=n)
    cum = np.cumsum(greedy.gains)
    reach = np.flatnonzero(cum >= need - 1e-9)
    if len(reach) == 0:
        return None
    k_g = int(reach[0]) + 1
    best = list(greedy.chosen[:k_g])
    if exact:
        for k in range(1, k_g):
            sol = _gr.exact_max_cover(A, w, k=k)
            if sol.objective >= need - 1e-9:
                return list(sol.chosen)
    return best


def toilet_sites(demand_points, weights, candidates, k: int, *, radius_m: float = 300.0,
                 exact: bool | None = None) -> list[int]:
    """``k`` candidate points covering the most demand weight within ``radius_m`` (maximal covering).

    Exact (HiGHS) when ``exact`` or the instance is small (≤ 300 candidates), else the refined
    greedy. When fewer than ``k`` sites add coverage, the rest are the candidates farthest from
    every chosen site.
    """
    cand = np.asarray(candidates, dtype=object)
    if k <= 0 or len(cand) == 0:
        return []
    A = _gr.coverage_matrix(demand_points, cand, np.full(len(cand), radius_m))
    exact = len(cand) <= 300 if exact is None else exact
    k = min(k, len(cand))
    sol = _gr.exact_max_cover(A, weights, k=k) if exact else _gr.greedy_max_cover(A, weights, k=k, refine=True)
    chosen = [int(i) for i, g in zip(sol.chosen, sol.gains or [1.0] * len(sol.chosen)) if g > 0 or exact]
    chosen = list(dict.fromkeys(chosen))[:k]
    if len(chosen) < k:
        chosen = _farthest_fill(cand, chosen, k)
    return chosen


def _farthest_fill(cand: np.ndarray, chosen: list[int], k: int) -> list[int]:
    """``chosen`` completed to ``k`` sites, each the candidate farthest from every site so far.

    The distance to the nearest chosen site is kept and lowered by each new site (O(n) per site,
    not a full n × |chosen| distance matrix per site).
    """
    nearest = (shapely.distance(cand[:, None], cand[chosen][None, :]).min(axis=1) if chosen
               else np.full(len(cand), np.inf))  # nothing chosen yet: every candidate ties, the first wins
    nearest[chosen] = -1
    while len(chosen) < k:
        site = int(np.argmax(nearest))
        chosen.append(site)
        nearest = np.minimum(nearest, shapely.distance(cand, cand[site]))
        nearest[chosen] = -1
    return chosen


# ============================================================================ per indicator
def _passes(target: Target, value, road_class=None) -> bool:
    return bool(target.passes(value, road_class))


def _need(target: Target, total: float, have: float, road_class=None) -> float:
    """What must be added to ``have`` (of ``total``) so the share passes (percent targets)."""
    t = target.threshold(road_class)
    need = t / 100.0 * total - have
    return need + (EPS * max(total, 1.0) if target.comparison in (">", ">=") else 0.0)


def lamps_to_install(roads: gpd.GeoDataFrame, lamps: gpd.GeoDataFrame, built_up, target: Target, *,
                     spacing_m: dict | None = None, reach_m: float = 25.0, snap_m: float = 40.0) -> gpd.GeoDataFrame:
    """New lamps (points) that bring 装灯率 of every failing road class, then overall, to the target.

    Returns a GeoDataFrame of lamp points with ``road_id``, ``road_class``, ``stretch`` (index),
    ``position_m`` along the road; empty when nothing fails.
    """
    spacing_m = spacing_m or {}
    bu = _ind.union(built_up)
    rp = _ind._road_parts(roads)
    length_in = shapely.length(shapely.intersection(np.asarray(rp.geometry.values, dtype=object), bu))
    cls = rp["road_class"].astype(object).to_numpy()
    st = _ind.unlit_stretches(roads, lamps, reach_m=reach_m, snap_m=snap_m, min_length_m=0.01)
    st = st.sort_values(["length_m", "road_id"], ascending=[False, True], kind="stable").reset_index(drop=True)
    dark_in = shapely.length(shapely.intersection(np.asarray(st.geometry.values, dtype=object), bu))
    scls = st["road_class"].astype(object).to_numpy()
    take = np.zeros(len(st))          # metres of each stretch to light
    classes = [c for c in pd.unique(cls) if isinstance(c, str)]
    scopes = [(c, cls == c, scls == c) for c in classes] + [(None, np.ones(len(cls), bool), np.ones(len(st), bool))]
    for c, rmask, smask in scopes:
        total = float(length_in[rmask].sum())
        lit = total - float(dark_in[smask].sum()) + float(np.minimum(take, dark_in)[smask].sum())
        if total == 0 or _passes(target, 100.0 * lit / total, c):
            continue
        need = _need(target, total, lit, c)
        for i in np.flatnonzero(smask & (take < dark_in)):
            if need <= 0:
                break
            extra = min(dark_in[i] - take[i], need)
            take[i] += extra
            need -= extra
    sel = np.flatnonzero(take > 0)
    if len(sel) == 0:
        return gpd.GeoDataFrame({"road_id": [], "road_class": [], "stretch": [], "position_m": []},
                                geometry=[], crs=roads.crs)
    # light a stretch from its start for `take` metres (whole stretch when take covers it)
    ratio = np.where(dark_in[sel] > 0, take[sel] / dark_in[sel], 0.0)
    length = st["length_m"].to_numpy()[sel]
    lit_len = np.where(ratio >= 1 - 1e-9, length, np.minimum(length, ratio * length))
    spacing = np.array([float(spacing_m.get(c, SPACING_DEFAULT_M)) for c in scls[sel]])
    pos, owner = lamp_positions(np.zeros(len(sel)), lit_len, spacing, reach_m)
    geoms = np.asarray(st.geometry.values, dtype=object)[sel]
    pts = shapely.line_interpolate_point(geoms[owner], pos)
    out = gpd.GeoDataFrame({"road_id": st["road_id"].to_numpy()[sel][owner],
                            "road_name": (st["name"].to_numpy()[sel][owner] if "name" in st else None),
                            "road_class": scls[sel][owner], "stretch": sel[owner],
                            "position_m": st["from_m"].to_numpy()[sel][owner] + pos}, geometry=pts, crs=roads.crs)
    return out


def _lamps_in(lamps, built_up) -> np.ndarray:
    li, _ = _ind.city_region(built_up).points_in(np.asarray(lamps.geometry.values, dtype=object))
    return np.unique(li)


def repairs_needed(lamps: gpd.GeoDataFrame, built_up, target: Target, *, roads=None, snap_m: float = 40.0) -> np.ndarray:
    """Row positions (in ``lamps``) of the broken lamps to repair: the fewest that make 亮灯率 pass,
    per failing road class (the class of the lamp's road), then overall; lowest ``lamp_id`` first."""
    inside = _lamps_in(lamps, built_up)
    states = lamp_states(lamps)   # a lamp without a recorded state is in neither side of the rate
    known, is_working, is_broken = states.known[inside], states.working[inside], states.broken[inside]
    if roads is not None:
        rp = _ind._road_parts(roads)
        owner = _ind.assign_lamps(lamps.iloc[inside], np.asarray(rp.geometry.values, dtype=object), snap_m=snap_m)
        rc = rp["road_class"].astype(object).to_numpy()
        lcls = np.where(owner >= 0, rc[np.clip(owner, 0, None)], None)
    else:
        lcls = np.full(len(inside), None)
    ids = lamps["lamp_id"].astype(str).to_numpy()[inside]
    order = np.argsort(ids, kind="stable")
    fixed = np.zeros(len(inside), bool)
    scopes = [(c, lcls == c) for c in pd.unique(lcls[known]) if isinstance(c, str)] + [(None, np.ones(len(inside), bool))]
    for c, mask in scopes:
        m = mask & known
        k = int(m.sum())
        if k == 0:
            continue
        working = int((is_working & m).sum()) + int((fixed & m).sum())
        broken = [i for i in order if m[i] and is_broken[i] and not fixed[i]]
        r = count_needed(lambda r: _passes(target, 100.0 * (working + r) / k, c), limit=len(broken) or 1)
        if r is None:
            r = len(broken)
        fixed[broken[:r]] = True
    return inside[fixed]


def roads_to_sweep(roads: gpd.GeoDataFrame, built_up, target: Target) -> pd.DataFrame:
    """Roads to add to mechanical sweeping, largest area inside ``B`` first, until the rate passes.

    Returns ``road_id, name, area_m2`` of the roads chosen (in order); empty when it passes or
    when no width is known.
    """
    bu = _ind.union(built_up)
    geoms = np.asarray(roads.geometry.values, dtype=object)
    width = pd.to_numeric(roads["width_m"], errors="coerce").to_numpy(float) if "width_m" in roads else np.full(len(roads), np.nan)
    swept = _ind._bool(roads["mech_swept"]) if "mech_swept" in roads else np.zeros(len(roads), bool)
    area = shapely.length(shapely.intersection(geoms, bu)) * width
    ok = np.isfinite(area) & (area > 0)
    total, have = float(area[ok].sum()), float(area[ok & swept].sum())
    empty = pd.DataFrame({"road_id": [], "name": [], "area_m2": []})
    if total == 0 or _passes(target, 100.0 * have / total):
        return empty
    cand = np.flatnonzero(ok & ~swept)
    cand = cand[np.argsort(-area[cand], kind="stable")]
    cum = have + np.cumsum(area[cand])
    hit = np.flatnonzero([_passes(target, 100.0 * v / total) for v in cum])
    n = int(hit[0]) + 1 if len(hit) else len(cand)
    pick = cand[:n]
    names = roads["name"].astype(object).to_numpy()[pick] if "name" in roads else np.full(n, None)
    return pd.DataFrame({"road_id": roads["road_id"].astype(str).to_numpy()[pick], "name": names,
                         "area_m2": area[pick], "row": pick})


# ============================================================================ context helpers
class _Zones:
    """Zone lookup for points (first zone containing the point)."""

    def __init__(self, zones: gpd.GeoDataFrame | None):
        self.zones = zones
        self.zone_geoms = np.asarray(zones.geometry.values, dtype=object) if zones is not None else np.empty(0, object)
        self.tree = shapely.STRtree(self.zone_geoms) if len(self.zone_geoms) else None
        # the zone fields as arrays once: a plan looks up a zone per task (911 tasks × 500 zones at 10×)
        self.fields = {c: zones[c].astype(object).to_numpy() if zones is not None and c in zones else None
                       for c in ("zone_id", "name", "unit", "staff")}

    def of(self, points) -> pd.DataFrame:
        pts = np.asarray(points, dtype=object)
        idx = np.full(len(pts), -1)
        if self.tree is not None and len(pts):
            ip, iz = query_pairs(self.zone_geoms, pts, tree=self.tree)
            first = np.unique(ip, return_index=True)
            idx[first[0]] = iz[first[1]]
            miss = np.flatnonzero(idx < 0)
            if len(miss):
                mp, mz = self.tree.query_nearest(pts[miss], all_matches=False)
                idx[miss[mp]] = mz
        cols = {c: [v[i] if v is not None and i >= 0 and pd.notna(v[i]) else None for i in idx]
                for c, v in self.fields.items()}
        return pd.DataFrame(cols)




class _Tasks:
    """Collects task rows."""

    def __init__(self, zones: _Zones, targets: Targets, crs):
        self.rows: list[dict] = []
        self.zones, self.targets, self.crs = zones, targets, crs

    def add(self, indicator: str, kind: str, task: str, quantity: float, points, check: dict, *,
            road_id=None, road_name=None, zone=None):
        pts = np.asarray(points, dtype=object)
        z = self.zones.of(pts[:1]).iloc[0] if len(pts) else pd.Series({"zone_id": None, "name": None, "unit": None,
                                                                        "staff": None})
        if zone is not None:
            z = zone
        lead = self.targets.get(indicator).responsible_unit or self.targets.get("area").responsible_unit
        c = shapely.centroid(shapely.multipoints(pts)) if len(pts) else None
        lon, lat = lonlat([c], self.crs) if c is not None else ([np.nan], [np.nan])
        self.rows.append(dict(indicator=indicator, name_zh=_ind.INDICATORS.get(indicator, (indicator,))[0], kind=kind,
                              task=task, quantity=float(quantity), unit=KINDS[kind][1], zone_id=z["zone_id"],
                              zone_name=z["name"], road_id=road_id, road_name=road_name,
                              x=float(shapely.get_x(c)) if c is not None else np.nan,
                              y=float(shapely.get_y(c)) if c is not None else np.nan, lon=float(lon[0]), lat=float(lat[0]),
                              lead_unit=lead, resp_unit=z["unit"] or lead, staff=z["staff"],
                              check=json.dumps(check, ensure_ascii=False)))


def _road_label(road_id, name) -> str:
    return f"{name}（{road_id}）" if isinstance(name, str) and name else str(road_id)


# ============================================================================ the plan
def plan_frames(layers: dict, indicators: pd.DataFrame, *, targets: Targets, inspection_date, as_of=None,
                audit: AuditResult | None = None, crs=None) -> PassPlan:
    """The pass plan from layers (pure; see the module docstring).

    Parameters
    ----------
    layers : dict of GeoDataFrames (``built_up`` required; ``zones, green, roads, lamps, toilets,
        residential, candidates`` optional), all in one projected metric CRS
    indicators : the city-wide rows of :func:`civgis.analysis.indicators.compute_indicators`
        (the same numbers the CLI prints)
    targets : Targets (thresholds, responsible units, ``[plan]`` parameters)
    inspection_date : date-like, the inspection the plan schedules backwards from
    as_of : date-like, today (default: the current date)
    audit : the zone audit, for the zone tasks
    """
    inspection = pd.Timestamp(inspection_date).date()
    today = pd.Timestamp(as_of).date() if as_of is not None else dt.date.today()
    pp = {**targets.plan}
    param = targets.params.to_dict()  # the one parameters object (store.targets.Parameters)
    bu = layers["built_up"]
    crs = crs if crs is not None else bu.crs
    zones = _Zones(layers.get("zones"))
    T = _Tasks(zones, targets, crs)
    city = indicators[indicators["scope"] == "city"]
    actions: dict = {"new_lamps": None, "repair_ids": [], "new_toilets": None, "retrofit_ids": [], "park_sites": [],
                     "swept_roads": [], "fix_gaps": False}
    seconds: dict = {}
    after: dict = {}
    reaches: dict = {}
    qty: dict = {}

    def failing(ind):
        rows = city[(city["indicator"] == ind) & (city["passed"] == False)]  # noqa: E712
        return rows

    roads, lamps = layers.get("roads"), layers.get("lamps")
    # --- 装灯率
    t0 = time.perf_counter()
    if roads is not None and lamps is not None and len(failing("lamp_installation_rate")):
        new = lamps_to_install(roads, lamps, bu, targets.get("lamp_installation_rate"),
                               spacing_m=pp.get("lamp_spacing_m"), reach_m=param["lamp_reach_m"],
                               snap_m=param["lamp_snap_m"])
        actions["new_lamps"] = new
        for rid, grp in new.groupby("road_id", sort=False):
            pts = np.asarray(grp.geometry.values, dtype=object)
            name = grp["road_name"].iloc[0]
            cz = layer_spec("roads").fields["road_class"].values.get(grp["road_class"].iloc[0], "")
            T.add("lamp_installation_rate", "install_lamp",
                  f"在{_road_label(rid, name)}（{cz}）暗段新增路灯 {len(grp)} 盏", len(grp), pts,
                  {"points": np.c_[shapely.get_x(pts), shapely.get_y(pts)].round(2).tolist()},
                  road_id=rid, road_name=name)
        reaches["lamp_installation_rate"] = True
        qty["lamp_installation_rate"] = (len(new), new["road_id"].nunique(),
                                         int((new["road_class"] == "alley").sum()), new.loc[new["road_class"] == "alley", "road_id"].nunique())
    seconds["lamp_installation_rate"] = time.perf_counter() - t0

    # --- 亮灯率
    t0 = time.perf_counter()
    if lamps is not None and len(failing("lamp_lighting_rate")):
        rows = repairs_needed(lamps, bu, targets.get("lamp_lighting_rate"), roads=roads, snap_m=param["lamp_snap_m"])
        rep = lamps.iloc[rows]
        actions["repair_ids"] = rep["lamp_id"].astype(str).tolist()
        zinfo = zones.of(np.asarray(rep.geometry.values, dtype=object))
        zkey = zinfo["zone_id"].fillna("").to_numpy()
        for zid in pd.unique(zkey):
            m = zkey == zid
            ids = rep["lamp_id"].astype(str).to_numpy()[m]
            pts = np.asarray(rep.geometry.values, dtype=object)[m]
            T.add("lamp_lighting_rate", "repair_lamp", f"修复故障路灯 {m.sum()} 盏：{'、'.join(ids)}", int(m.sum()), pts,
                  {"lamp_ids": ids.tolist()}, zone=zinfo[m].iloc[0])
        reaches["lamp_lighting_rate"] = True
        qty["lamp_lighting_rate"] = (len(rows), len(pd.unique(zkey)))
    seconds["lamp_lighting_rate"] = time.perf_counter() - t0

    # --- 机械化清扫率
    t0 = time.perf_counter()
    if roads is not None and len(failing("mech_sweeping_rate")):
        pick = roads_to_sweep(roads, bu, targets.get("mech_sweeping_rate"))
        actions["swept_roads"] = pick["road_id"].tolist()
        geoms = np.asarray(roads.geometry.values, dtype=object)
        for r in pick.itertuples():
            mid = shapely.line_interpolate_point(geoms[int(r.row)], 0.5, normalized=True)
            T.add("mech_sweeping_rate", "add_sweeping", f"将{_road_label(r.road_id, r.name)}纳入机械化清扫（{r.area_m2:,.0f} m²）",
                  round(r.area_m2, 1), [mid], {"road_ids": [r.road_id]}, road_id=r.road_id, road_name=r.name)
        reaches["mech_sweeping_rate"] = True
        qty["mech_sweeping_rate"] = (len(pick), float(pick["area_m2"].sum()))
    seconds["mech_sweeping_rate"] = time.perf_counter() - t0

    # --- green: service coverage, then green ratio and park per capita
    t0 = time.perf_counter()
    _plan_green(layers, city, targets, param, pp, T, actions, reaches, qty, after)
    seconds["greening"] = time.perf_counter() - t0

    # --- toilets
    t0 = time.perf_counter()
    _plan_toilets(layers, city, targets, param, pp, T, actions, reaches, qty)
    seconds["toilets"] = time.perf_counter() - t0

    # --- zones (audit)
    t0 = time.perf_counter()
    if audit is not None:
        _plan_zones(audit, layers.get("zones"), T, actions)
    seconds["zones"] = time.perf_counter() - t0

    tasks = pd.DataFrame(T.rows, columns=[c for c in TASK_COLUMNS if c not in ("task_id", "deadline", "start_by", "class_")])
    gaps = _gap_table(city, targets, reaches, qty, after)
    tasks, gaps = _schedule(tasks, gaps, pp, inspection, today)
    return PassPlan(tasks=tasks, gaps=gaps, actions=actions, inspection_date=inspection, as_of=today,
                    rule=class_rule(pp), seconds={k: round(v, 3) for k, v in seconds.items()}, crs=crs)


def _clip_new_area(sites: np.ndarray, bu, existing) -> np.ndarray:
    """Area (m²) of each site inside ``bu`` and not already in ``existing`` (a polygon)."""
    inside = _ind.clip_to_pieces(sites, np.asarray(_ind.chop(bu), dtype=object))
    area = shapely.area(inside)
    if existing is not None and not existing.is_empty:
        # |site ∩ bu \ existing| = |site ∩ bu| − |site ∩ bu ∩ existing|, each site meeting small pieces
        # of the existing green only (a difference with the whole union: 14 s at 10× the demo)
        hit = np.flatnonzero(area > 0)
        parts, owner = _ind.intersect_pieces(inside[hit], np.asarray(_ind.chop(existing), dtype=object), hit)
        area = np.maximum(area - _ind.area_by(owner, parts, len(sites)), 0.0)
    return area


def _plan_green(layers, city, targets, param, pp, T, actions, reaches, qty, after):
    green, res, cand, bu = layers.get("green"), layers.get("residential"), layers.get("candidates"), layers["built_up"]
    judged = {i: city[(city["indicator"] == i)] for i in ("park_service_coverage", "green_space_ratio", "park_area_per_capita")}
    fails = {i: bool(len(r) and (r["passed"] == False).any()) for i, r in judged.items()}  # noqa: E712
    if green is None or not any(fails.values()):
        return
    tiers = param["park_tiers"]
    B = _ind.union(bu)
    sites = cand.reset_index(drop=True) if cand is not None and len(cand) else None
    chosen: list[int] = []
    reason: dict[int, str] = {}
    if sites is not None:
        sgeo = np.asarray(sites.geometry.values, dtype=object)
        radius = _ind.park_radius(shapely.area(sgeo), tiers)
    # service coverage: the fewest plots
    if fails["park_service_coverage"] and res is not None:
        tgt = targets.get("park_service_coverage")
        res_in = res.copy()
        res_in["geometry"] = shapely.intersection(np.asarray(res.geometry.values, dtype=object), B)
        res_in = res_in[~res_in.geometry.is_empty & (res_in.geometry.area > 0)]
        total = float(res_in.geometry.area.sum())
        value = float(judged["park_service_coverage"]["value"].iloc[0])
        ok = False
        if sites is not None and (radius > 0).any():
            parks = _ind.qualifying_parks(green, tiers=tiers)
            gap = _gr.service_gap(res_in, parks)
            units = _gr.demand_units(gap, cell_m=float(pp.get("park_demand_cell_m", 25.0)))
            usable = np.flatnonzero(radius > 0)
            A = _gr.coverage_matrix(units["point"].values, sgeo[usable], radius[usable])
            need = _need(tgt, total, value / 100.0 * total)
            pick = fewest_sites(A, units["area_m2"].to_numpy(), need, exact=len(usable) <= 200)
            order = list(_gr.greedy_max_cover(A, units["area_m2"].to_numpy(), k=len(usable)).chosen)
            pick = pick if pick is not None else order
            pick = [int(usable[i]) for i in pick]
            rest = [int(usable[i]) for i in order if int(usable[i]) not in pick]
            while True:   # check on the polygons, add the next greedy plot while short
                v = _service_with(res, green, sites.iloc[pick], bu, tiers, pp)
                ok = _passes(tgt, v)
                if ok or not rest:
                    break
                pick.append(rest.pop(0))
            after["park_service_coverage"] = v
            chosen += pick
            reason.update({i: "park_service_coverage" for i in pick})
        reaches["park_service_coverage"] = ok
        qty["park_service_coverage"] = (len(chosen),)
    # green space ratio / park per capita: area budget, largest first
    for ind, cats in (("green_space_ratio", _ind.GREEN_SPACE_CATEGORIES), ("park_area_per_capita", _ind.PARK_CATEGORIES)):
        if not fails[ind]:
            continue
        tgt = targets.get(ind)
        mask = green["category"].astype(object).isin(list(cats)).to_numpy()
        existing = _ind.union(green[mask])
        have = float(shapely.area(shapely.intersection(existing, B)))
        if ind == "green_space_ratio":
            need_total = tgt.threshold() / 100.0 * B.area
        else:
            pop = param.get("population") or float(city.loc[city["indicator"] == "residents", "value"].iloc[0])
            need_total = tgt.threshold() * pop
        need_total += EPS * max(need_total, 1.0)
        if sites is None:
            gain = np.zeros(0)
        else:
            gain = _clip_new_area(sgeo, B, existing)
        got = have + float(gain[chosen].sum()) if len(gain) else have
        rest = [i for i in np.argsort(-gain, kind="stable") if i not in chosen and gain[i] > 0]
        while got < need_total and rest:
            i = int(rest.pop(0))
            chosen.append(i)
            reason.setdefault(i, ind)
            got += gain[i]
        short = max(need_total - got, 0.0)
        reaches[ind] = short <= 0
        qty[ind] = (max(need_total - have, 0.0), short)
        if short > 0:
            T.add(ind, "green_budget", f"候选地块不足，另需落实新增{'公园' if ind == 'park_area_per_capita' else ''}绿地 "
                  f"{short:,.0f} m²（选址待定）", round(short, 0), [], {"indicator": ind})
    chosen = list(dict.fromkeys(chosen))
    actions["park_sites"] = sites["site_id"].astype(str).iloc[chosen].tolist() if chosen else []
    for i in chosen:
        row = sites.iloc[i]
        g = sgeo[i]
        name = row.get("name") if isinstance(row.get("name"), str) else ""
        T.add(reason.get(i, "green_space_ratio"), "new_park", f"将候选地块 {row['site_id']}{('（' + name + '）') if name else ''} 建成公园绿地 "
              f"{g.area:,.0f} m²（服务半径 {radius[i]:.0f} m）", round(g.area, 0), [shapely.point_on_surface(g)],
              {"site_id": str(row["site_id"])})


def _service_with(res, green, new_sites, bu, tiers, pp) -> float:
    parks = _new_parks(new_sites, green, pp)
    return _ind.park_service_coverage(res, pd.concat([green, parks], ignore_index=True), bu, tiers=tiers)


def _new_parks(sites: gpd.GeoDataFrame, green: gpd.GeoDataFrame, pp: dict) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"green_id": ("NEW-" + sites["site_id"].astype(str)).to_numpy(),
                             "name": sites["name"].to_numpy() if "name" in sites else None,
                             "category": "G1", "subcategory": pp.get("new_park_subcategory", "G14")},
                            geometry=sites.geometry.to_numpy(), crs=green.crs)


def _unique_boxes(cells: np.ndarray) -> np.ndarray:
    """The grid cells without repeats (same lower-left corner), in their first order."""
    corners = shapely.bounds(cells)[:, :2]
    _, first = np.unique(corners, axis=0, return_index=True)
    return cells[np.sort(first)]


def _plan_toilets(layers, city, targets, param, pp, T, actions, reaches, qty):
    toilets, bu, roads = layers.get("toilets"), layers["built_up"], layers.get("roads")
    if toilets is None:
        return
    val = {i: city[city["indicator"] == i] for i in ("toilet_density", "toilets_per_10k", "toilet_service_coverage",
                                                      "accessible_toilet_share")}
    fails = {i: bool(len(r) and (r["passed"] == False).any()) for i, r in val.items()}  # noqa: E712
    if not any(fails.values()):
        return
    B = _ind.union(bu)
    tg = np.asarray(toilets.geometry.values, dtype=object)
    inside = _ind.city_region(bu).points_in(tg)[0]
    count = len(np.unique(inside))
    radius = float(param["toilet_radius_m"])
    n_new = 0
    if fails["toilet_density"]:
        tgt = targets.get("toilet_density")
        n_new = max(n_new, count_needed(lambda r: _passes(tgt, (count + r) / (B.area / 1e6))) or 0)
    if fails["toilets_per_10k"]:
        tgt = targets.get("toilets_per_10k")
        pop = param.get("population") or float(city.loc[city["indicator"] == "residents", "value"].iloc[0])
        n_new = max(n_new, count_needed(lambda r: _passes(tgt, (count + r) * 1e4 / pop)) or 0)
    # demand: cells of B not within the radius of a toilet; candidates along the streets
    pieces = np.asarray(_ind.chop(B), dtype=object)
    cells, _, _ = _ind.bbox_grid_cells(pieces, float(pp.get("toilet_demand_cell_m", 50.0)))
    cells = _unique_boxes(cells)   # a cell on a cut between two pieces is in both pieces' boxes: once
    cells = _ind.clip_to_pieces(cells, pieces)
    cells = cells[shapely.area(cells) > 0]
    cpts = shapely.point_on_surface(cells)
    far = np.ones(len(cpts), bool)
    if len(tg):
        near, _ = shapely.STRtree(tg).query(cpts, predicate="dwithin", distance=radius)
        far[near] = False
    dem, w = cpts[far], shapely.area(cells[far])
    cand = _street_points(roads, B, float(pp.get("toilet_candidate_step_m", 100.0))) if roads is not None else np.empty(0, object)
    if fails["toilet_service_coverage"] and len(cand):
        tgt = targets.get("toilet_service_coverage")
        covered = float(shapely.area(cells).sum() - w.sum())
        A = _gr.coverage_matrix(dem, cand, np.full(len(cand), radius))
        pick = fewest_sites(A, w, _need(tgt, B.area, covered), exact=False)
        n_new = max(n_new, len(pick) if pick is not None else len(cand))
    n_new = min(n_new, len(cand))
    reaches_count = True
    chosen = toilet_sites(dem, w, cand, n_new, radius_m=radius, exact=False) if n_new else []
    new = gpd.GeoDataFrame({"toilet_id": [f"NEW-T{i + 1:03d}" for i in range(len(chosen))]},
                           geometry=list(cand[chosen]) if chosen else [], crs=toilets.crs)
    actions["new_toilets"] = new
    for r in new.itertuples():
        T.add("toilet_density" if fails["toilet_density"] else "toilets_per_10k", "new_toilet",
              f"新建公厕 1 座（{r.toilet_id}，含无障碍卫生间）", 1, [r.geometry],
              {"points": [[round(r.geometry.x, 2), round(r.geometry.y, 2)]]})
    for i in ("toilet_density", "toilets_per_10k", "toilet_service_coverage"):
        if fails[i]:
            reaches[i] = reaches_count
            qty[i] = (len(chosen),)
    if fails["accessible_toilet_share"]:
        tgt = targets.get("accessible_toilet_share")
        acc = toilets["accessible"].astype("boolean").to_numpy(dtype=object, na_value=None)
        u = np.unique(inside)
        yes = sum(1 for v in acc[u] if v is True)
        known = sum(1 for v in acc[u] if v is not None)
        no = [int(i) for i in u if acc[i] is False]
        r = count_needed(lambda r: _passes(tgt, 100.0 * (yes + len(chosen) + r) / (known + len(chosen))), limit=len(no) or 1)
        r = len(no) if r is None else r
        pick = sorted(no, key=lambda i: str(toilets["toilet_id"].iloc[i]))[:r]
        actions["retrofit_ids"] = toilets["toilet_id"].astype(str).iloc[pick].tolist()
        for i in pick:
            T.add("accessible_toilet_share", "retrofit_toilet", f"公厕 {toilets['toilet_id'].iloc[i]} 增设无障碍卫生间", 1,
                  [tg[i]], {"toilet_ids": [str(toilets["toilet_id"].iloc[i])]})
        reaches["accessible_toilet_share"] = True
        qty["accessible_toilet_share"] = (len(pick),)


def _street_points(roads, B, step_m: float) -> np.ndarray:
    """Points every ``step_m`` along the road lines inside ``B`` (candidate sites beside the street)."""
    lines = shapely.intersection(np.asarray(_ind._road_parts(roads).geometry.values, dtype=object), B)
    lines = shapely.get_parts(lines)
    lines = lines[(shapely.get_type_id(lines) == 1) & (shapely.length(lines) > 0)]
    L = shapely.length(lines)
    n = np.maximum(np.floor(L / step_m).astype(np.int64), 1)
    owner = np.repeat(np.arange(len(lines)), n)
    i = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    return shapely.line_interpolate_point(lines[owner], (i + 0.5) * L[owner] / n[owner])


def _plan_zones(audit: AuditResult, zones, T: _Tasks, actions: dict):
    if zones is None:
        return
    zi = zones.set_index(zones["zone_id"].astype(str))
    for r in audit.gaps.itertuples():
        zone = None
        if r.suggested_zone is not None and str(r.suggested_zone) in zi.index:
            z = zi.loc[str(r.suggested_zone)]
            zone = pd.Series({"zone_id": str(r.suggested_zone), "name": z.get("name"), "unit": z.get("unit"),
                              "staff": z.get("staff")})
        pt = shapely.point_on_surface(r.geometry)
        T.add("area", "fix_zone", f"将责任区死角 {r.gap_id}（{r.area_m2:,.0f} m²）并入责任区 {r.suggested_zone or '（待定）'}",
              1, [pt], {"point": [round(pt.x, 2), round(pt.y, 2)], "gap": True}, zone=zone)
        actions["fix_gaps"] = True
    for r in audit.overlaps.itertuples():
        pt = shapely.point_on_surface(r.geometry)
        T.add("area", "fix_zone", f"明确重叠区 {r.overlap_id}（{r.area_m2:,.0f} m²）归属：{'、'.join(map(str, r.zones))}",
              1, [pt], {"point": [round(pt.x, 2), round(pt.y, 2)], "overlap": True})
    for z in audit.zones_missing_contact:
        miss = "、".join({"staff": "责任人", "phone": "联系电话"}.get(m, m) for m in z["missing"])
        row = zi.loc[str(z["zone_id"])] if str(z["zone_id"]) in zi.index else None
        pts = [shapely.point_on_surface(row.geometry)] if row is not None else []
        zone = pd.Series({"zone_id": z["zone_id"], "name": z.get("name"),
                          "unit": row.get("unit") if row is not None else None, "staff": row.get("staff") if row is not None else None})
        T.add("area", "assign_staff", f"为责任区 {z['zone_id']}（{z.get('name') or ''}）明确{miss}", 1, pts,
              {"zone_id": str(z["zone_id"]), "fields": list(z["missing"])}, zone=zone)


def _gap_table(city, targets, reaches, qty, after) -> pd.DataFrame:
    judged = city[city["passed"].notna()].copy()
    rows = []
    for r in judged.itertuples():
        ind, c = r.indicator, r.road_class
        if bool(r.passed):
            reach = True
            sentence = ""
        else:
            reach = bool(reaches.get(ind, False))
            sentence = _sentence(ind, qty.get(ind), reach) if c is None or ind not in ("lamp_installation_rate",
                                                                                          "lamp_lighting_rate") else ""
        rows.append(dict(indicator=ind, name_zh=r.name_zh, road_class=c, value=r.value, target=r.target,
                         comparison=r.comparison, passed=bool(r.passed), reaches=reach,
                         after=after.get(ind, np.nan) if c is None else np.nan, sentence=sentence))
    # a failing class row without an overall failure still needs its sentence once
    out = pd.DataFrame(rows)
    for ind in ("lamp_installation_rate", "lamp_lighting_rate"):
        m = (out["indicator"] == ind) & ~out["passed"]
        if m.any() and not (out.loc[m, "road_class"].isna()).any():
            i = out.index[m][0]
            out.loc[i, "sentence"] = _sentence(ind, qty.get(ind), bool(reaches.get(ind)))
    return out


def _sentence(ind: str, q, reach: bool) -> str:
    name = _ind.INDICATORS[ind][0]
    if q is None:
        if ind in RULES:
            return f"{name}未达标，无法计算措施（缺少所需图层或候选地块）"
        return f"{name}未达标，civgis 暂无此指标的措施规则，需专题研究"
    if ind == "lamp_installation_rate":
        n, roads, na, ra = q
        s = f"需在 {roads} 条道路暗段新增路灯 {n} 盏"
        return s + (f"（其中背街小巷 {ra} 条 {na} 盏）" if na else "")
    if ind == "lamp_lighting_rate":
        return f"需修复故障路灯 {q[0]} 盏（涉及 {q[1]} 个责任区）"
    if ind == "mech_sweeping_rate":
        return f"需将 {q[0]} 条道路纳入机械化清扫，面积 {q[1]:,.0f} m²"
    if ind == "park_service_coverage":
        return f"需将 {q[0]} 块候选地块建成公园绿地，位置见图" + ("" if reach else "；候选地块全部建成仍不达标，需另行选址")
    if ind in ("green_space_ratio", "park_area_per_capita"):
        kind = "公园绿地" if ind == "park_area_per_capita" else "绿地"
        s = f"需新增{kind} {q[0]:,.0f} m²"
        return s + (f"，候选地块不足，尚缺 {q[1]:,.0f} m²" if q[1] > 0 else "，候选地块可满足，位置见图")
    if ind in ("toilet_density", "toilets_per_10k", "toilet_service_coverage"):
        return f"需新增公厕 {q[0]} 座，位置见图"
    if ind == "accessible_toilet_share":
        return f"需对 {q[0]} 座公厕进行无障碍改造"
    return f"{name}未达标"


def _schedule(tasks: pd.DataFrame, gaps: pd.DataFrame, pp: dict, inspection: dt.date, today: dt.date):
    lead = {**LEAD_DEFAULTS, **pp.get("lead_days", {})}
    cap = {**CAPACITY_DEFAULTS, **pp.get("capacity_per_day", {})}
    deadline = inspection - dt.timedelta(days=int(pp.get("acceptance_days", 7)))
    tasks = tasks.copy()
    tasks.insert(0, "task_id", [f"T{i + 1:04d}" for i in range(len(tasks))])
    tasks["deadline"] = deadline
    # work per indicator and kind: lead + ceil(total quantity / capacity)
    days = {}
    for (ind, kind), grp in tasks.groupby(["indicator", "kind"]):
        d = int(lead.get(kind, 0)) + math.ceil(float(grp["quantity"].sum()) / max(float(cap.get(kind, 1.0)), 1e-9))
        days[(ind, kind)] = d
    tasks["start_by"] = [deadline - dt.timedelta(days=days[(i, k)]) for i, k in zip(tasks["indicator"], tasks["kind"])]
    late = {ind for (ind, k), d in days.items() if today + dt.timedelta(days=d) > deadline}
    gaps = gaps.copy()
    gaps["class_"] = [CLASSES[0] if p else (CLASSES[1] if r and i not in late else CLASSES[2])
                      for i, p, r in zip(gaps["indicator"], gaps["passed"], gaps["reaches"])]
    cls = gaps.drop_duplicates("indicator").set_index("indicator")["class_"]
    worst = gaps.groupby("indicator")["class_"].agg(lambda s: max(s, key=CLASSES.index))
    tasks["class_"] = [worst.get(i, CLASSES[2] if (i in late or k == "green_budget") else CLASSES[1])
                       for i, k in zip(tasks["indicator"], tasks["kind"])]
    del cls
    return tasks[TASK_COLUMNS], gaps


def plan_workspace(ws, *, inspection_date, as_of=None, indicators: pd.DataFrame | None = None,
                   audit: AuditResult | None = None, targets: Targets | None = None) -> PassPlan:
    """The pass plan of a workspace (reads the layers; indicators from ``compute_indicators``)."""
    targets = targets if isinstance(targets, Targets) else load_targets(targets, ws=ws)
    names = ("built_up", "zones", "green", "roads", "lamps", "toilets", "residential", "candidates")
    layers = {n: ws.read_optional(n) for n in names}
    if layers["built_up"] is None:
        raise PlanError("缺少图层 built_up（建成区）：先导入建成区 civgis import WS built_up FILE")
    if indicators is None:
        indicators = _ind.compute_indicators(ws, targets=targets)
    return plan_frames(layers, indicators, targets=targets, inspection_date=inspection_date, as_of=as_of,
                       audit=audit, crs=ws.crs)


# ============================================================================ applying and checking
def apply_plan(layers: dict, plan: PassPlan, *, audit: AuditResult | None = None, targets: Targets | None = None) -> dict:
    """The layers with every proposed action applied (pure: new frames, nothing written).

    Lamps planned are added as working, the listed ones repaired, toilets added (accessible) and
    retrofitted, candidate plots added as G1 parks, roads marked swept, gaps joined to zones.
    Returns a dict layer → GeoDataFrame of the layers that changed.
    """
    pp = (targets or load_targets()).plan
    out: dict = {}
    a = plan.actions
    lamps = layers.get("lamps")
    if lamps is not None and (a["repair_ids"] or (a["new_lamps"] is not None and len(a["new_lamps"]))):
        lamps = lamps.copy()
        rep = lamps["lamp_id"].astype(str).isin(a["repair_ids"])
        lamps.loc[rep, "status"] = "working"
        new = a["new_lamps"]
        if new is not None and len(new):
            add = gpd.GeoDataFrame({"lamp_id": [f"NEW-L{i + 1:05d}" for i in range(len(new))], "status": "working"},
                                   geometry=new.geometry.to_numpy(), crs=lamps.crs)
            lamps = gpd.GeoDataFrame(pd.concat([lamps, add], ignore_index=True), geometry="geometry", crs=lamps.crs)
        out["lamps"] = lamps
    toilets = layers.get("toilets")
    if toilets is not None and (a["retrofit_ids"] or (a["new_toilets"] is not None and len(a["new_toilets"]))):
        toilets = toilets.copy()
        toilets.loc[toilets["toilet_id"].astype(str).isin(a["retrofit_ids"]), "accessible"] = True
        new = a["new_toilets"]
        if new is not None and len(new):
            add = gpd.GeoDataFrame({"toilet_id": new["toilet_id"].to_numpy(), "name": "新建公厕", "accessible": True},
                                   geometry=new.geometry.to_numpy(), crs=toilets.crs)
            toilets = gpd.GeoDataFrame(pd.concat([toilets, add], ignore_index=True), geometry="geometry", crs=toilets.crs)
        out["toilets"] = toilets
    green, cand = layers.get("green"), layers.get("candidates")
    if green is not None and cand is not None and a["park_sites"]:
        sites = cand[cand["site_id"].astype(str).isin(a["park_sites"])]
        out["green"] = gpd.GeoDataFrame(pd.concat([green, _new_parks(sites, green, pp)], ignore_index=True),
                                        geometry="geometry", crs=green.crs)
    roads = layers.get("roads")
    if roads is not None and a["swept_roads"]:
        roads = roads.copy()
        roads.loc[roads["road_id"].astype(str).isin(a["swept_roads"]), "mech_swept"] = True
        out["roads"] = roads
    zones = layers.get("zones")
    if zones is not None and a["fix_gaps"] and audit is not None:
        out["zones"] = assign_gaps(zones, audit)[0]
    return out


def task_states(tasks: pd.DataFrame, layers: dict, *, date, indicators: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each task's state from the data on ``date``: 已完成 / 已逾期 / 进行中 (see the module docstring).

    Returns ``tasks`` with ``done`` (bool) and ``state``.
    """
    day = pd.Timestamp(date).date()
    lamps, toilets, green, cand = (layers.get(k) for k in ("lamps", "toilets", "green", "candidates"))
    roads, zones = layers.get("roads"), layers.get("zones")
    working = None
    if lamps is not None:
        lg = np.asarray(lamps.geometry.values, dtype=object)
        st = lamps["status"].astype(object).to_numpy()
        working = shapely.STRtree(lg[st == "working"])
        status = dict(zip(lamps["lamp_id"].astype(str), st))
    ttree = shapely.STRtree(np.asarray(toilets.geometry.values, dtype=object)) if toilets is not None else None
    acc = dict(zip(toilets["toilet_id"].astype(str), toilets["accessible"].astype("boolean").to_numpy(dtype=object, na_value=None))) \
        if toilets is not None and "accessible" in toilets else {}
    g1 = _ind.union(green[green["category"].astype(object).isin(list(_ind.PARK_CATEGORIES))]) if green is not None else None
    swept = dict(zip(roads["road_id"].astype(str), _ind._bool(roads["mech_swept"]))) if roads is not None and "mech_swept" in roads else {}
    zg = np.asarray(zones.geometry.values, dtype=object) if zones is not None else np.empty(0, object)
    passed = {}
    if indicators is not None:
        c = indicators[(indicators["scope"] == "city") & indicators["road_class"].isna()]
        passed = dict(zip(c["indicator"], c["passed"]))

    def near(tree, pts, d):
        if tree is None or len(pts) == 0:
            return False
        p = shapely.points(np.asarray(pts, float))
        ip, _ = tree.query(p, predicate="dwithin", distance=d)
        return len(np.unique(ip)) == len(p)

    done = []
    for kind, chk in zip(tasks["kind"], tasks["check"]):
        c = json.loads(chk) if isinstance(chk, str) else (chk or {})
        if kind == "install_lamp":
            ok = near(working, c["points"], DONE_LAMP_M)
        elif kind == "repair_lamp":
            ok = lamps is not None and all(status.get(i) == "working" for i in c["lamp_ids"])
        elif kind == "new_toilet":
            ok = near(ttree, c["points"], DONE_TOILET_M)
        elif kind == "retrofit_toilet":
            ok = all(acc.get(i) is True for i in c["toilet_ids"])
        elif kind == "new_park":
            g = cand.loc[cand["site_id"].astype(str) == c["site_id"]].geometry if cand is not None else []
            ok = bool(len(g) and g1 is not None and shapely.area(shapely.intersection(g.iloc[0], g1)) >= DONE_PARK_SHARE * g.iloc[0].area)
        elif kind == "add_sweeping":
            ok = all(swept.get(i, False) for i in c["road_ids"])
        elif kind == "fix_zone":
            n_in = int(shapely.covers(zg, shapely.Point(c["point"])).sum()) if len(zg) else 0
            ok = n_in == 1 if c.get("overlap") else n_in >= 1
        elif kind == "assign_staff":
            row = zones[zones["zone_id"].astype(str) == c["zone_id"]] if zones is not None else []
            ok = bool(len(row)) and all(pd.notna(row[f].iloc[0]) and str(row[f].iloc[0]).strip() for f in c["fields"] if f in row)
        else:   # green_budget: done when the indicator passes
            ok = bool(passed.get(c.get("indicator")) is True)
        done.append(bool(ok))
    out = tasks.copy()
    out["done"] = done
    deadline = pd.to_datetime(out["deadline"]).dt.date
    out["state"] = np.where(out["done"], "已完成", np.where(deadline < day, "已逾期", "进行中"))
    return out
