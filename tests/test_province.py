"""``civgis province``: many counties as tasks on a LocalCluster give each county's own numbers.

The province run is checked against every county computed alone, in this process, with the
single-workspace functions (``compute_indicators``, ``audit_workspace``, ``ledger_workspace``,
``plan_run``); the per-zone case totals counted on Dask from Parquet against a hand-worked example
and against the ledger's own zone view.
"""

from __future__ import annotations

import json

import shutil
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from civgis.analysis.audit import audit_workspace
from civgis.analysis.cases import UNZONED
from civgis.analysis.indicators import compute_indicators
from civgis.analysis.ledger import build_ledger, ledger_workspace
from civgis.analysis.scale import totals_from_zone_counts, zone_totals, zone_totals_dask
from civgis.run.province import CountyResult, county_workspaces, province_tables, run_province
from civgis.store.workspace import Workspace

AS_OF = "2026-11-28"
COUNTS = ["cases", "closed", "closed_on_time", "closed_late", "open", "open_within_deadline", "overdue",
          "excluded_after_as_of"]


@pytest.fixture(scope="module")
def province(tmp_path_factory) -> Path:
    """Four county workspaces made from a small demo county, and one broken file.

    甲县: the demo as it is; 乙县: its own targets file (a 500 m toilet radius — different values —
    and a 40 % green-space target); 丙县: every second lamp removed; 丁县: its cases also as a
    GeoParquet table (counted on Dask); 坏县: not a GeoPackage.
    """
    from civgis.demo import build_demo_workspace

    root = tmp_path_factory.mktemp("province")
    base = build_demo_workspace(root / "_base", scale=0.2, seed=11).path
    for name in ["甲县", "乙县", "丙县", "丁县"]:
        (root / "counties" / name).mkdir(parents=True)
        shutil.copy2(base, root / "counties" / name / "county.gpkg")
    (root / "counties/乙县/county.targets.toml").write_text(
        "[parameters]\ntoilet_radius_m = 500.0\n\n[indicators.green_space_ratio]\ntarget = 40.0\n", encoding="utf-8")
    ws = Workspace(root / "counties/丙县/county.gpkg")
    lamps = ws.read("lamps")
    ws.write("lamps", lamps.iloc[::2].reset_index(drop=True), source="test", action="import")
    cases = Workspace(root / "counties/丁县/county.gpkg").read("inspections")
    import dask_geopandas

    dask_geopandas.from_geopandas(cases, npartitions=4).to_parquet(root / "counties/丁县/county.inspections.parquet")
    (root / "counties/坏县").mkdir()
    (root / "counties/坏县/county.gpkg").write_text("这不是 GeoPackage", encoding="utf-8")
    return root / "counties"


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as c:
        yield c


def _alone(path: Path) -> dict:
    """One county computed alone, in this process, by the single-workspace functions."""
    ws = Workspace(path)
    ind = compute_indicators(ws, zones=True)
    return {"indicators": ind, "audit": audit_workspace(ws), "ledger": ledger_workspace(ws, as_of=AS_OF).totals}


# ---------------------------------------------------------------------- the command on a LocalCluster
def test_province_command_on_two_workers_equals_each_county_alone(province, tmp_path, capsys):
    from civgis.cli import main

    out = tmp_path / "out"
    code = main(["province", str(province), "--out", str(out), "--workers", "2", "--as-of", AS_OF, "--no-plan", "-q"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "province.xlsx" in printed and "坏县" in printed
    ranking = pd.read_csv(out / "province.csv", encoding="utf-8-sig")
    rows = pd.read_csv(out / "province_indicators.csv", encoding="utf-8-sig")
    assert len(ranking) == 5

    expected_failed = {}
    for name in ["甲县", "乙县", "丙县", "丁县"]:
        path = province / name / "county.gpkg"
        alone = _alone(path)
        row = ranking[ranking["工作空间"] == str(path.resolve())].iloc[0]
        assert row["状态"] == "完成" and row["县区"] == f"示范县（{name}）"

        city = alone["indicators"][alone["indicators"]["scope"] == "city"]
        mine = rows[rows["县区"] == row["县区"]]
        assert list(mine["指标代码"]) == list(city["indicator"])
        got = pd.to_numeric(mine["数值"], errors="coerce").to_numpy()
        np.testing.assert_allclose(got, city["value"].to_numpy(float), rtol=1e-9, equal_nan=True)
        assert list(mine["达标"]) == ["无数据" if pd.isna(v) else "—" if pd.isna(p) else ("达标" if p else "未达标")
                                      for v, p in zip(city["value"], city["passed"])]

        judged = city[city["road_class"].isna()]
        passed = judged["passed"].dropna().astype(bool)
        assert (row["参评指标"], row["达标"], row["未达标"]) == (len(passed), passed.sum(), (~passed).sum())
        assert row["达标率(%)"] == pytest.approx(100 * passed.sum() / len(passed))
        expected_failed[name] = int((~passed).sum())

        audit = alone["audit"]
        assert row["责任区覆盖率(%)"] == pytest.approx(100 * audit.zoned_area_m2 / audit.built_up_area_m2, rel=1e-5)
        assert (row["空白区块"], row["重叠区块"]) == (len(audit.gaps), len(audit.overlaps))

        ledger = alone["ledger"]
        assert (row["案件数"], row["超期未结"]) == (ledger["cases"], ledger["overdue"])
        assert row["结案率(%)"] == pytest.approx(100 * ledger["closure_rate"])
        assert row["按期结案率(%)"] == pytest.approx(100 * ledger["on_time_rate"])
        assert row["案件来源"] == ("Parquet (Dask)" if name == "丁县" else "工作空间")

    # the counties differ where they were changed, so equality above is not trivially one county four times
    values = rows.pivot_table(index="县区", columns="指标代码", values="数值", aggfunc="first")
    assert values.loc["示范县（乙县）", "toilet_service_coverage"] != values.loc["示范县（甲县）", "toilet_service_coverage"]
    assert values.loc["示范县（丙县）", "lamp_installation_rate"] != values.loc["示范县（甲县）", "lamp_installation_rate"]
    # ranked: fewest failing first; the broken county last, without a rank, with its error line
    ok = ranking[ranking["状态"] == "完成"]
    assert list(ok["未达标"]) == sorted(expected_failed.values())
    assert ok["排名"].iloc[0] == 1
    bad = ranking.iloc[-1]
    assert bad["状态"] == "失败" and pd.isna(bad["排名"]) and "坏县" in bad["错误"] and "GeoPackage" in bad["错误"]
    book = pd.read_excel(out / "province.xlsx", sheet_name=None)
    assert set(book) == {"县区排名", "指标明细"} and len(book["县区排名"]) == 5


def test_province_with_plan_and_report_on_one_county(province, client, tmp_path):
    from civgis.run.context import RunContext
    from civgis.run.plan import default_inspection_date, plan_run
    from civgis.store.targets import load_targets

    paths = county_workspaces([province / "甲县" / "county.gpkg", province / "乙县" / "county.gpkg"])
    result = run_province(paths[:1], tmp_path, client=client, as_of=AS_OF, plan=True, report=True, progress=False)
    county = result.counties[0]
    assert county.error == "" and Path(county.report).is_file()
    assert Path(county.report).parent == tmp_path / "reports" / "甲县"   # named by its folder
    # the report is written from the county task's own run: the same instant
    report = json.loads((Path(county.report).parent / "report.json").read_text(encoding="utf-8"))
    assert report["as_of"] == pd.Timestamp(AS_OF).date().isoformat()
    ws = Workspace(paths[0])
    with RunContext(ws, as_of=AS_OF) as run:
        day, _ = default_inspection_date(load_targets(ws=ws), run.as_of)
        tasks = plan_run(run, inspection_date=day, as_of=run.as_of.date()).tasks
    assert county.plan["n_tasks"] == len(tasks) > 0
    assert result.ranking.loc[0, "整改任务"] == len(tasks)


def test_province_on_a_scheduler_address(province, client, tmp_path, capsys):
    from civgis.cli import main

    listed = tmp_path / "counties.txt"
    listed.write_text("甲县/county.gpkg\n", encoding="utf-8")
    shutil.copytree(province / "甲县", tmp_path / "甲县")
    code = main(["province", str(listed), "--out", str(tmp_path / "out"), "--scheduler", client.scheduler.address,
                 "--as-of", AS_OF, "--no-plan", "-q"])
    assert code == 0
    row = pd.read_csv(tmp_path / "out" / "province.csv", encoding="utf-8-sig").iloc[0]
    alone = _alone(tmp_path / "甲县" / "county.gpkg")
    judged = alone["indicators"][(alone["indicators"]["scope"] == "city") & alone["indicators"]["road_class"].isna()]
    assert (row["县区"], row["排名"], row["未达标"]) == ("示范县", 1, int((judged["passed"] == False).sum()))  # noqa: E712
    assert row["案件数"] == alone["ledger"]["cases"]


def test_unreachable_scheduler_is_one_line(tmp_path, province, capsys):
    import dask

    from civgis.cli import main

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code = main(["province", str(province / "甲县" / "county.gpkg"), "--out", str(tmp_path / "o"),
                     "--scheduler", "tcp://127.0.0.1:1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err[-1].startswith("错误 error: 无法连接 Dask 调度器") and "Traceback" not in "".join(err)


# ---------------------------------------------------------------------- per-zone totals from Parquet on Dask
def _hand_cases():
    """Two 10 m squares Z1 [0,10]², Z2 [10,20]×[0,10] sharing the edge x = 10; as_of 2026-03-10 end of day.

    c1 in Z1 closed on time; c2 in Z1 closed late; c3 on the shared edge (→ Z1, the smaller id) open and
    past its deadline (overdue); c4 in Z2 open within its deadline; c5 outside (未划分) closed on time;
    c6 in Z2 reported after as_of (excluded).
    """
    zones = gpd.GeoDataFrame({"zone_id": ["Z2", "Z1"], "name": ["二", "一"]},
                             geometry=[box(10, 0, 20, 10), box(0, 0, 10, 10)], crs=4527)
    t = pd.Timestamp
    cases = gpd.GeoDataFrame({
        "case_id": ["c1", "c2", "c3", "c4", "c5", "c6"], "category": ["0102"] * 6,
        "reported_at": [t("2026-03-01"), t("2026-03-01"), t("2026-03-02"), t("2026-03-09"), t("2026-03-01"),
                        t("2026-03-11")],
        "deadline": [t("2026-03-05"), t("2026-03-03"), t("2026-03-04"), t("2026-03-20"), t("2026-03-05"),
                     t("2026-03-15")],
        "closed_at": [t("2026-03-04"), t("2026-03-06"), pd.NaT, pd.NaT, t("2026-03-02"), pd.NaT],
        "status": ["closed", "closed", "open", "open", "closed", "open"],
    }, geometry=[Point(2, 2), Point(5, 5), Point(10, 5), Point(15, 5), Point(30, 30), Point(12, 2)], crs=4527)
    return cases, zones


HAND = pd.DataFrame({"cases": [1, 3, 1], "closed_on_time": [0, 1, 1], "closed_late": [0, 1, 0],
                     "overdue": [0, 1, 0], "open_within_deadline": [1, 0, 0], "excluded_after_as_of": [1, 0, 0]},
                    index=pd.Index(["Z2", "Z1", UNZONED], name="zone_id", dtype=object))


def test_zone_totals_by_hand_and_on_dask_from_parquet(client, tmp_path):
    import dask.dataframe as dd

    cases, zones = _hand_cases()
    T = pd.Timestamp("2026-03-10 23:59:59.999999")
    single = zone_totals(cases, zones, as_of=T)
    pd.testing.assert_frame_equal(single[HAND.columns], HAND, check_dtype=False)
    # x/y Parquet in 3 parts, one of them empty of zoned cases
    table = pd.DataFrame(cases.drop(columns="geometry")).assign(x=cases.geometry.x, y=cases.geometry.y)
    dd.from_pandas(table, npartitions=3).to_parquet(tmp_path / "xy")
    on_dask = zone_totals_dask(tmp_path / "xy", zones, as_of="2026-03-10", client=client)
    pd.testing.assert_frame_equal(on_dask, single)
    totals = totals_from_zone_counts(on_dask, T)
    assert {k: totals[k] for k in ["cases", "closed", "open", "overdue", "excluded_after_as_of"]} == \
        {"cases": 5, "closed": 3, "open": 2, "overdue": 1, "excluded_after_as_of": 1}
    assert totals["closure_rate"] == pytest.approx(3 / 5) and totals["on_time_rate"] == pytest.approx(2 / 3)
    assert np.isnan(totals["median_days_to_close"])


def test_per_county_and_zone_totals_of_a_province_table_on_dask(client, tmp_path):
    import dask.dataframe as dd

    cases, zones = _hand_cases()
    cases["county"] = ["A", "A", "A", "B", "B", "B"]
    table = pd.DataFrame(cases.drop(columns="geometry")).assign(x=cases.geometry.x, y=cases.geometry.y)
    dd.from_pandas(table, npartitions=2).to_parquet(tmp_path / "province")
    got = zone_totals_dask(tmp_path / "province", zones, as_of="2026-03-10", by="county", client=client)
    # by hand (see _hand_cases): A has c1–c3 in Z1; B has c4 (and c6, after as_of) in Z2 and c5 outside
    assert got.index.tolist() == [("A", "Z1"), ("B", "Z2"), ("B", UNZONED)]
    assert got["cases"].tolist() == [3, 1, 1] and got["excluded_after_as_of"].tolist() == [0, 1, 0]
    assert got["closed_on_time"].tolist() == [1, 0, 1] and got["overdue"].tolist() == [1, 0, 0]
    per_county = got.groupby(level=0).sum()
    assert per_county["cases"].to_dict() == {"A": 3, "B": 2}
    pd.testing.assert_frame_equal(got, zone_totals(cases, zones, as_of=pd.Timestamp("2026-03-10 23:59:59.999999"),
                                                   by="county"))


def test_zone_totals_on_dask_equal_the_ledger_of_the_demo_cases(province, client, tmp_path):
    ws = Workspace(province / "甲县" / "county.gpkg")
    cases, zones = ws.read("inspections"), ws.read("zones")
    cases = pd.concat([cases, cases.assign(case_id=cases["case_id"] + "b",
                                           reported_at=pd.Timestamp("2026-11-29"),
                                           deadline=pd.Timestamp("2026-12-05"),
                                           closed_at=pd.NaT, status="open")], ignore_index=True)   # some after as_of
    import dask_geopandas

    dask_geopandas.from_geopandas(cases, npartitions=6).to_parquet(tmp_path / "geo")
    got = zone_totals_dask(tmp_path / "geo", zones, as_of=AS_OF, client=client)
    ledger = build_ledger(cases, zones, as_of=AS_OF)
    by_zone = ledger.by_zone.set_index(ledger.by_zone["zone_id"].astype(object).fillna(UNZONED))
    for col in ["cases", "closed_on_time", "closed_late", "overdue", "open_within_deadline"]:
        assert got[col].reindex(by_zone.index).tolist() == by_zone[col].astype(int).tolist(), col
    totals = totals_from_zone_counts(got, ledger.as_of)
    for key in COUNTS:
        assert totals[key] == ledger.totals[key], key
    assert totals["excluded_after_as_of"] == len(cases) // 2 > 0


# ---------------------------------------------------------------------- inputs, ranking, missing Dask
def test_county_workspaces_from_folder_list_and_missing(province, tmp_path):
    listed = tmp_path / "counties.txt"
    listed.write_text(f"# 本市各县\n{province / '乙县' / 'county.gpkg'}\n\n{province / '甲县' / 'county.gpkg'}\n",
                      encoding="utf-8")
    assert [p.parent.name for p in county_workspaces(listed)] == ["乙县", "甲县"]
    assert sorted(p.parent.name for p in county_workspaces(province)) == ["丁县", "丙县", "乙县", "坏县", "甲县"]
    assert sorted(p.parent.name for p in county_workspaces(province, exclude=province / "丁县")) == \
        ["丙县", "乙县", "坏县", "甲县"]                       # the output folder's own .gpkg files are not counties
    with pytest.raises(FileNotFoundError, match="no-such"):
        county_workspaces([tmp_path / "no-such"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="没有找到"):
        county_workspaces(tmp_path / "empty")


def _county(name: str, passed: list) -> CountyResult:
    ind = pd.DataFrame({"indicator": [f"i{k}" for k in range(len(passed))], "name_zh": [f"指标{k}" for k in range(len(passed))],
                        "scope": "city", "zone_id": None, "zone_name": None, "road_class": None,
                        "value": [np.nan if p is None else 1.0 for p in passed], "unit": "%", "target": 1.0,
                        "comparison": ">=", "passed": pd.array(passed, dtype="boolean"), "responsible_unit": "",
                        "standard": "", "note": ""})
    return CountyResult(path=f"/p/{name}.gpkg", county=name, indicators=ind, seconds=1.0)


def test_ranking_by_hand():
    # A: 1 failing of 3 judged; B: 0 failing of 2; C: 1 failing of 3 (ties A); D: 1 failing of 2 (lower rate)
    counties = [_county("A", [True, True, False]), _county("B", [True, True, None]),
                _county("C", [False, True, True]), _county("D", [True, False]),
                CountyResult(path="/p/E.gpkg", county="E", error="坏了")]
    ranking, rows = province_tables(counties)
    assert list(ranking["县区"]) == ["B", "A", "C", "D", "E"]
    assert ranking["排名"].tolist()[:4] == [1, 2, 2, 4] and pd.isna(ranking["排名"].iloc[4])
    assert ranking.set_index("县区").loc["B", "无数据"] == 1            # missing is counted as 无数据, not as a pass
    assert ranking.set_index("县区").loc["E", "错误"] == "坏了"
    assert (rows["达标"] == "无数据").sum() == 1 and rows["数值"].isna().sum() == 1   # missing, not 0


def test_province_says_one_line_without_dask(monkeypatch, tmp_path, capsys):
    from civgis.cli import main

    monkeypatch.setitem(sys.modules, "distributed", None)   # import distributed → ImportError
    assert main(["province", str(tmp_path), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "civgis[scale]" in err[0] and "Traceback" not in err[0]
