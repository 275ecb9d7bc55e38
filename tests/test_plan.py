"""达标路径 (civgis plan): hand-built instances with known minimal plans, and the closed loop on the demo."""

from __future__ import annotations

import itertools
import json
import shutil

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import shapely
from openpyxl import load_workbook
from shapely.geometry import LineString, Point, box

from civgis.analysis import indicators as ind
from civgis.analysis.greening import coverage_matrix
from civgis.analysis.plan import (PassPlan, count_needed, fewest_sites, lamp_positions, lamps_to_install,
                                  repairs_needed, roads_to_sweep, task_states, toilet_sites)
from civgis.render.plan_xlsx import write_plan_xlsx
from civgis.store.targets import Target
from civgis.store.workspace import Workspace

CRS = 4527
B = gpd.GeoDataFrame({"name": ["城区"]}, geometry=[box(-100, -100, 600, 100)], crs=CRS)


def _alley(length=400.0):
    return gpd.GeoDataFrame({"road_id": ["A1"], "name": ["东门巷"], "road_class": ["alley"], "width_m": [4.0]},
                            geometry=[LineString([(0, 0), (length, 0)])], crs=CRS)


NO_LAMPS = gpd.GeoDataFrame({"lamp_id": pd.Series([], dtype=str), "status": pd.Series([], dtype=str)},
                            geometry=[], crs=CRS)


# ----------------------------------------------------------------------------- 装灯率
def test_400m_unlit_alley_at_30m_spacing_needs_14_lamps_at_known_positions():
    # ⌈400 / 30⌉ = 14 lamps, 400/14 = 28.571 m apart, the first 14.286 m from the end:
    # every point is then within 14.3 m (< 25 m reach) of a lamp; 13 lamps would be 30.8 m apart (> 30 m).
    new = lamps_to_install(_alley(), NO_LAMPS, B, Target("lamp_installation_rate", 100.0, ">="),
                           spacing_m={"alley": 30.0}, reach_m=25.0)
    expected = [(i + 0.5) * 400.0 / 14 for i in range(14)]
    assert len(new) == 14
    np.testing.assert_allclose(sorted(new.geometry.x), expected, atol=1e-6)
    np.testing.assert_allclose(new.geometry.y, 0.0, atol=1e-9)
    # the indicator module (independent code) agrees: the alley is fully lit
    lamps = gpd.GeoDataFrame({"lamp_id": [f"n{i}" for i in range(14)], "status": "working"},
                             geometry=list(new.geometry), crs=CRS)
    assert ind.lamp_installation_rate(_alley(), lamps, B)["alley"] == pytest.approx(100.0)


def test_98_percent_of_the_alley_needs_392m_lit_and_still_14_lamps():
    # 98 % of 400 m = 392 m → ⌈392 / 30⌉ = 14 lamps, 28 m apart starting 14 m in
    new = lamps_to_install(_alley(), NO_LAMPS, B, Target("lamp_installation_rate", 98.0, ">="),
                           spacing_m={"alley": 30.0})
    np.testing.assert_allclose(sorted(new.geometry.x), [14.0 + 28.0 * i for i in range(14)], atol=1e-2)


def test_lamp_positions_by_hand():
    pos, owner = lamp_positions([0.0, 100.0], [60.0, 110.0], [30.0, 30.0])
    assert pos.tolist() == [15.0, 45.0, 105.0] and owner.tolist() == [0, 0, 1]
    # a spacing wider than twice the reach would leave dark gaps: the reach decides (50 m)
    pos, _ = lamp_positions([0.0], [100.0], [80.0], reach_m=25.0)
    assert pos.tolist() == [25.0, 75.0]


# ----------------------------------------------------------------------------- 亮灯率
def test_repairs_reach_98_percent_with_the_fewest_lamps():
    # 100 lamps, 90 working: (90 + r)/100 ≥ 0.98 → r = 8, lowest ids first
    n = 100
    status = ["working"] * 90 + ["broken"] * 10
    lamps = gpd.GeoDataFrame({"lamp_id": [f"L{i:03d}" for i in range(n)], "status": status},
                             geometry=[Point(i * 4.0, 0) for i in range(n)], crs=CRS)
    rows = repairs_needed(lamps, B, Target("lamp_lighting_rate", 98.0, ">="))
    assert lamps["lamp_id"].iloc[rows].tolist() == [f"L{i:03d}" for i in range(90, 98)]
    assert count_needed(lambda r: (90 + r) / 100 > 0.98) == 9     # strict target needs one more


def test_repairs_count_only_lamps_with_a_recorded_state_as_the_indicator_does():
    # 100 lamps: 80 working, 10 broken, 10 never patrolled (unknown / blank). 亮灯率 = 80 / 90 (the unknown
    # lamps are in neither side); (80 + r) / 90 ≥ 0.98 → r ≥ 8.2 → 9 repairs, lowest ids first
    n = 100
    status = ["working"] * 80 + ["broken"] * 10 + ["unknown"] * 5 + [None] * 5
    lamps = gpd.GeoDataFrame({"lamp_id": [f"L{i:03d}" for i in range(n)], "status": status},
                             geometry=[Point(i * 4.0, 0) for i in range(n)], crs=CRS)
    rows = repairs_needed(lamps, B, Target("lamp_lighting_rate", 98.0, ">="))
    assert lamps["lamp_id"].iloc[rows].tolist() == [f"L{i:03d}" for i in range(80, 89)]
    table = ind.indicator_table(B, lamps=lamps)
    rate = table.loc[table["indicator"] == "lamp_lighting_rate", "value"].iloc[0]
    assert rate == pytest.approx(100 * 80 / 90)   # the same rule in the indicator


# ----------------------------------------------------------------------------- 机械化清扫率
def test_sweeping_target_reached_by_the_two_largest_roads():
    # areas (length × width): r1 1000 swept; r2 3000, r3 2500, r4 2000, r5 500 unswept; total 9000.
    # 60 % needs 5400: 1000 + 3000 = 4000 (44 %) short, + 2500 = 6500 (72 %) passes → {r2, r3}.
    # (r2 + r4 = 6000 also passes, but no single road does: two roads is the minimum.)
    lengths = [100, 300, 250, 200, 50]
    roads = gpd.GeoDataFrame({"road_id": ["r1", "r2", "r3", "r4", "r5"], "name": list("abcde"),
                              "road_class": "branch", "width_m": 10.0,
                              "mech_swept": [True, False, False, False, False]},
                             geometry=[LineString([(0, 10 * i), (L, 10 * i)]) for i, L in enumerate(lengths)], crs=CRS)
    big = gpd.GeoDataFrame({"name": ["b"]}, geometry=[box(-10, -10, 400, 100)], crs=CRS)
    pick = roads_to_sweep(roads, big, Target("mech_sweeping_rate", 60.0, ">="))
    assert pick["road_id"].tolist() == ["r2", "r3"]
    after = roads.assign(mech_swept=roads["road_id"].isin(["r1", "r2", "r3"]))
    assert ind.mech_sweeping_rate(after, big) == pytest.approx(6500 / 9000 * 100)


# ----------------------------------------------------------------------------- set cover (greening)
def _min_cover_exhaustive(A: np.ndarray, w: np.ndarray, need: float) -> int | None:
    for k in range(1, A.shape[0] + 1):
        for combo in itertools.combinations(range(A.shape[0]), k):
            if w[A[list(combo)].any(axis=0)].sum() >= need - 1e-9:
                return k
    return None


def test_fewest_sites_beats_greedy_and_matches_exhaustive_search():
    # greedy takes the big set {0,1,2,3} first and then needs two more; {0,1,4} ∪ {2,3,5} covers all with 2
    A = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 0, 0, 1, 0], [0, 0, 1, 1, 0, 1]], bool)
    w = np.ones(6)
    chosen = fewest_sites(sp.csr_matrix(A), w, 6.0)
    assert sorted(chosen) == [1, 2]
    assert _min_cover_exhaustive(A, w, 6.0) == 2


def test_fewest_parks_on_a_geometric_instance_is_exactly_minimal():
    rng = np.random.default_rng(7)
    pts = shapely.points(rng.uniform(0, 2000, 300), rng.uniform(0, 2000, 300))
    w = rng.uniform(1, 5, 300)
    sites = [box(x, y, x + 60, y + 60) for x, y in rng.uniform(0, 1900, (12, 2))]
    A = coverage_matrix(pts, sites, np.full(12, 500.0))
    dense = A.toarray()
    total = w[dense.any(axis=0)].sum()
    need = 0.9 * total
    chosen = fewest_sites(A, w, need)
    assert w[dense[chosen].any(axis=0)].sum() >= need
    assert len(chosen) == _min_cover_exhaustive(dense, w, need)


# ----------------------------------------------------------------------------- toilets (maximal covering)
def test_toilet_sites_are_the_exhaustive_optimum():
    rng = np.random.default_rng(3)
    demand = shapely.points(rng.uniform(0, 1500, 200), rng.uniform(0, 1500, 200))
    w = rng.uniform(1, 3, 200)
    cand = shapely.points(rng.uniform(0, 1500, 10), rng.uniform(0, 1500, 10))
    k, r = 3, 300.0
    d = shapely.distance(cand[:, None], demand[None, :]) <= r
    best = max(w[d[list(c)].any(axis=0)].sum() for c in itertools.combinations(range(10), k))
    chosen = toilet_sites(demand, w, cand, k, radius_m=r, exact=True)
    assert len(chosen) == k
    assert w[d[chosen].any(axis=0)].sum() == pytest.approx(best)


# ----------------------------------------------------------------------------- states and workbook
def _tiny_plan(tasks: pd.DataFrame) -> PassPlan:
    gaps = pd.DataFrame({"name_zh": ["道路装灯率"], "value": [90.0], "target": [98.0], "class_": ["可达标"],
                         "sentence": ["=HYPERLINK(\"http://x\")"], "road_class": [None]})
    return PassPlan(tasks=tasks, gaps=gaps, actions={}, inspection_date=pd.Timestamp("2027-06-30").date(),
                    as_of=pd.Timestamp("2026-12-01").date(), rule="规则")


def _task(**kw):
    base = dict(task_id="T0001", indicator="lamp_lighting_rate", name_zh="路灯亮灯率", kind="repair_lamp",
                task="修复故障路灯 1 盏", quantity=1.0, unit="盏", zone_id="Z01", zone_name="一区", road_id=None,
                road_name=None, x=0.0, y=0.0, lon=np.nan, lat=np.nan, lead_unit="市政公用基础设施管理股",
                resp_unit="一中队", staff="张三", deadline=pd.Timestamp("2027-06-23").date(),
                start_by=pd.Timestamp("2027-06-19").date(), class_="可达标", check=json.dumps({"lamp_ids": ["L1"]}))
    base.update(kw)
    return base


def test_task_state_done_overdue_in_progress_from_the_data():
    tasks = pd.DataFrame([_task(), _task(task_id="T0002", kind="install_lamp",
                                         check=json.dumps({"points": [[10.0, 0.0]]}))])
    broken = gpd.GeoDataFrame({"lamp_id": ["L1"], "status": ["broken"]}, geometry=[Point(0, 0)], crs=CRS)
    s = task_states(tasks, {"lamps": broken}, date="2027-01-01")
    assert s["state"].tolist() == ["进行中", "进行中"]
    s = task_states(tasks, {"lamps": broken}, date="2027-06-24")
    assert s["state"].tolist() == ["已逾期", "已逾期"]
    fixed = gpd.GeoDataFrame({"lamp_id": ["L1", "N1"], "status": ["working", "working"]},
                             geometry=[Point(0, 0), Point(12.0, 1.0)], crs=CRS)   # 2.2 m from the planned spot
    s = task_states(tasks, {"lamps": fixed}, date="2027-06-24")
    assert s["state"].tolist() == ["已完成", "已完成"]


def test_workbook_keeps_formula_looking_text_as_text(tmp_path):
    tasks = pd.DataFrame([_task(task="=1+1", staff="@SUM(A1)")])
    path = write_plan_xlsx(_tiny_plan(tasks), tmp_path / "整改任务清单.xlsx")
    wb = load_workbook(path)
    assert wb.sheetnames == ["达标路径", "全部任务", "市政公用基础设施管理股"]
    sheet = wb["市政公用基础设施管理股"]
    cells = {c.value: c.data_type for row in sheet.iter_rows(min_row=3) for c in row if isinstance(c.value, str)}
    assert cells["=1+1"] == "s" and cells["@SUM(A1)"] == "s"
    assert wb["达标路径"]["E3"].data_type == "s"
    assert sheet.page_setup.paperSize == 9


# ----------------------------------------------------------------------------- closed loop on the demo
@pytest.fixture(scope="module")
def demo_loop(demo_ws, tmp_path_factory):
    from civgis.run.plan import snapshot, write_plan

    tmp = tmp_path_factory.mktemp("plan_loop")
    ws = Workspace(shutil.copy2(demo_ws.path, tmp / "county.gpkg"))      # never touch the fixture
    before = snapshot(ws, date="2026-12-01", inspection_date="2027-06-30")
    out = write_plan(ws, tmp / "out", inspection_date="2027-06-30", as_of="2026-12-01", what_if=tmp / "what_if.gpkg")
    copy = Workspace(out.files["what_if"])
    after = snapshot(copy, date="2026-12-02")
    return ws, out, copy, before, after


def test_what_if_copy_passes_every_indicator_the_plan_addressed(demo_loop):
    ws, out, copy, _, _ = demo_loop
    plan = out.plan
    addressed = plan.gaps[~plan.gaps["passed"] & plan.gaps["reaches"]]
    assert {"lamp_installation_rate", "lamp_lighting_rate", "park_service_coverage", "toilet_density",
            "toilets_per_10k"} <= set(addressed["indicator"])
    table = ind.compute_indicators(copy)
    city = table[table["scope"] == "city"]
    for r in addressed.itertuples():
        row = city[(city["indicator"] == r.indicator)
                   & ((city["road_class"] == r.road_class) if isinstance(r.road_class, str) else city["road_class"].isna())]
        assert bool(row["passed"].iloc[0]), (r.indicator, r.road_class, float(row["value"].iloc[0]))
    # the original is untouched
    orig = ind.compute_indicators(ws)
    assert not bool(orig.loc[(orig["indicator"] == "toilet_density") & (orig["scope"] == "city"), "passed"].iloc[0])


def test_snapshots_show_the_tasks_open_before_and_done_on_the_copy(demo_loop):
    _, out, _, before, after = demo_loop
    applied = ["install_lamp", "repair_lamp", "new_toilet", "new_park"]
    b = before[before["kind"].isin(applied)]
    a = after[after["kind"].isin(applied)]
    assert len(a) == len(b) > 0
    assert not b["done"].any()
    assert a["done"].all(), a.loc[~a["done"], ["task_id", "task"]]
    assert set(a["task_id"]) == set(out.plan.tasks.loc[out.plan.tasks["kind"].isin(applied), "task_id"])


def test_plan_tasks_carry_owner_deadline_and_class(demo_loop):
    _, out, _, _, _ = demo_loop
    t = out.plan.tasks
    assert t["lead_unit"].notna().all() and (t["lead_unit"] != "").all()
    assert (t["deadline"] == pd.Timestamp("2027-06-23").date()).all()      # 7 days of acceptance before 06-30
    assert set(t["class_"]) <= {"可达标", "难达标"}
    lamps = t[t["kind"] == "install_lamp"]
    assert lamps["staff"].notna().all() and lamps["road_id"].notna().all()
    sentences = " ".join(out.plan.sentences())
    assert "新增路灯" in sentences and "新增公厕" in sentences
    wb = load_workbook(out.files["xlsx"])
    assert {"达标路径", "全部任务", "市政公用基础设施管理股", "城区环境卫生工作站"} <= set(wb.sheetnames)


def test_cli_bad_date_and_missing_workspace_are_one_line_errors(tmp_path, capsys):
    from civgis.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["plan", str(tmp_path / "x.gpkg"), "--inspection-date", "2027-13-45"])
    assert exc.value.code == 2
    assert "日期格式错误" in capsys.readouterr().err
    assert main(["plan", str(tmp_path / "x.gpkg"), "--inspection-date", "2027-06-30"]) == 1
    err = capsys.readouterr().err
    assert "工作空间不存在" in err and "Traceback" not in err
