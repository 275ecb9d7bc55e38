"""The rectification ledger: hand-built cases with every count, rate and median worked out by hand."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from civgis.analysis.ledger import UNZONED, as_of_instant, build_ledger, ledger_workspace, natural_key
from civgis.render.ledger_xlsx import write_ledger_xlsx

T = pd.Timestamp
NAT = pd.NaT


@pytest.fixture
def zones():
    # Z2 and Z1 overlap on 50 ≤ x ≤ 100; Z4 has no cases
    return gpd.GeoDataFrame({
        "zone_id": ["Z2", "Z1", "Z3", "Z4"],
        "name": ["一区", "二区", "三区", "四区"],
        "unit": ["一中队", "二中队", "一中队", "二中队"],
        "staff": ["张三", "李四", "王五", "赵六"],
        "phone": ["111", "222", None, "444"],
    }, geometry=[box(0, 0, 100, 100), box(50, 0, 150, 100), box(200, 0, 300, 100), box(400, 0, 500, 100)],
        crs=4527)


@pytest.fixture
def cases():
    rows = [
        # id,  cat,   x,   y,  reported,             deadline,            closed_at,           status
        ("C01", "0102", 10, 50, "2026-03-01 08:00", "2026-03-02 08:00", "2026-03-01 20:00", "closed"),  # on time 0.5 d
        ("C02", "0102", 20, 50, "2026-03-02 08:00", "2026-03-03 08:00", "2026-03-04 08:00", "closed"),  # late 2.0 d
        ("C03", "0501", 75, 50, "2026-03-05 00:00", "2026-03-06 00:00", None, "open"),                # overlap → Z1, overdue
        ("C04", "0501", 120, 50, "2026-03-30 10:00", "2026-04-02 10:00", None, "open"),               # within deadline
        ("C05", "0201", 250, 50, "2026-03-10 06:00", "2026-03-12 06:00", "2026-03-12 06:00", "closed"),  # on time (=) 2.0 d
        ("C06", "0201", 350, 50, "2026-03-15 00:00", "2026-03-16 00:00", "2026-03-17 12:00", "closed"),  # unzoned, late 2.5 d
        ("C07", "0102", 260, 50, "2026-02-20 12:00", "2026-02-21 12:00", "2026-04-02 00:00", "closed"),  # closed after as_of
        ("C08", "0301", 30, 50, "2026-04-01 09:00", "2026-04-02 09:00", None, "open"),                # after as_of: excluded
        ("C09", "9999", 200, 50, "2026-03-31 18:00", "2026-03-31 20:00", None, "open"),               # on Z3's border, overdue
        ("C10", "0104", 40, 50, "2025-12-15 00:00", "2025-12-16 00:00", "2025-12-15 06:00", "closed"),  # on time 0.25 d
    ]
    df = pd.DataFrame(rows, columns=["case_id", "category", "x", "y", "reported_at", "deadline", "closed_at", "status"])
    for c in ("reported_at", "deadline", "closed_at"):
        df[c] = pd.to_datetime(df[c])
    return gpd.GeoDataFrame(df.drop(columns=["x", "y"]), geometry=gpd.points_from_xy(df.x, df.y), crs=4527)


@pytest.fixture
def ledger(cases, zones):
    return build_ledger(cases, zones, as_of="2026-03-31")


def test_totals_by_hand(ledger):
    t = ledger.totals
    assert t["cases"] == 9 and t["excluded_after_as_of"] == 1
    assert (t["closed"], t["closed_on_time"], t["closed_late"]) == (5, 3, 2)
    assert (t["open"], t["open_within_deadline"], t["overdue"]) == (4, 1, 3)
    assert t["closure_rate"] == pytest.approx(5 / 9)
    assert t["on_time_rate"] == pytest.approx(3 / 5)
    assert t["median_days_to_close"] == pytest.approx(2.0)  # of 0.25, 0.5, 2.0, 2.0, 2.5
    assert ledger.as_of == T("2026-03-31 23:59:59.999999")


def test_case_outcomes_and_zones(ledger):
    c = ledger.cases.set_index("case_id")
    assert c.outcome.to_dict() == {
        "C01": "closed_on_time", "C02": "closed_late", "C03": "overdue", "C04": "open_within_deadline",
        "C05": "closed_on_time", "C06": "closed_late", "C07": "overdue", "C09": "overdue", "C10": "closed_on_time"}
    assert c.zone_id["C03"] == "Z1"  # in the Z1/Z2 overlap: smallest zone_id
    assert c.zone_id["C09"] == "Z3"  # on the border: inside
    assert pd.isna(c.zone_id["C06"]) and c.zone_name["C06"] == UNZONED and c.unit["C06"] == UNZONED
    assert c.days_to_close["C06"] == pytest.approx(2.5)
    assert c.days_to_close["C10"] == pytest.approx(0.25)
    assert pd.isna(c.days_to_close["C07"])


def test_overdue_list_with_staff(ledger):
    o = ledger.overdue
    assert o.case_id.tolist() == ["C07", "C03", "C09"]  # most overdue first
    assert o.staff.tolist() == ["王五", "李四", "王五"]
    assert o.unit.tolist() == ["一中队", "二中队", "一中队"]
    one_us = 1e-6 / 86400
    np.testing.assert_allclose(o.days_overdue, [38.5 - one_us, 26.0 - one_us, 4 / 24 - one_us], rtol=0, atol=1e-9)


def test_by_zone(ledger):
    z = ledger.by_zone
    assert z.zone_name.tolist() == ["二区", "一区", "三区", "四区", UNZONED]  # Z1, Z2, Z3, Z4, then unzoned
    z = z.assign(zone_id=z.zone_id.fillna("none")).set_index("zone_id")
    assert z.cases.to_dict() == {"Z1": 2, "Z2": 3, "Z3": 3, "Z4": 0, "none": 1}
    assert z.closed_on_time.to_dict() == {"Z1": 0, "Z2": 2, "Z3": 1, "Z4": 0, "none": 0}
    assert z.closed_late.to_dict() == {"Z1": 0, "Z2": 1, "Z3": 0, "Z4": 0, "none": 1}
    assert z.overdue.to_dict() == {"Z1": 1, "Z2": 0, "Z3": 2, "Z4": 0, "none": 0}
    assert z.open_within_deadline["Z1"] == 1
    assert z.closure_rate["Z1"] == 0 and z.closure_rate["Z3"] == pytest.approx(1 / 3)
    assert np.isnan(z.closure_rate["Z4"]) and np.isnan(z.on_time_rate["Z1"])
    assert z.median_days_to_close["Z2"] == pytest.approx(0.5)  # of 0.25, 0.5, 2.0
    assert z.staff["Z1"] == "李四"


def test_by_unit_category_month(ledger):
    u = ledger.by_unit.set_index("unit")
    assert list(u.index) == ["一中队", "二中队", UNZONED]
    assert u.cases.tolist() == [6, 2, 1]
    assert u.closed.tolist() == [4, 0, 1]
    assert u.overdue.tolist() == [2, 1, 0]
    assert u.median_days_to_close["一中队"] == pytest.approx(1.25)  # of 0.25, 0.5, 2.0, 2.0
    cat = ledger.by_category.set_index("category")
    assert cat.cases.to_dict() == {"0102": 3, "0104": 1, "0201": 2, "0501": 2, "9999": 1}
    assert cat.category_zh["0102"] == "暴露垃圾" and cat.category_zh["9999"] == "其他"
    assert cat.closure_rate["0201"] == 1.0 and cat.overdue["0102"] == 1
    m = ledger.by_month
    assert m.month.tolist() == [T("2025-12-01"), T("2026-01-01"), T("2026-02-01"), T("2026-03-01")]
    assert m.cases.tolist() == [1, 0, 1, 7]  # January had none and is still listed


def test_as_of_instants_and_past_state(cases, zones):
    assert as_of_instant("2026-03-31") == T("2026-03-31 23:59:59.999999")
    assert as_of_instant(dt.date(2026, 3, 31)) == T("2026-03-31 23:59:59.999999")
    assert as_of_instant("2026-03-31T12:00") == T("2026-03-31 12:00")
    noon = build_ledger(cases, zones, as_of="2026-03-31T12:00")
    assert noon.totals["cases"] == 8 and noon.totals["excluded_after_as_of"] == 2  # C09 came at 18:00
    # at the end of 2 March: C01 closed on time; C02 (closed on the 4th) still open and due only on 3 March
    early = build_ledger(cases, zones, as_of="2026-03-02")
    c = early.cases.set_index("case_id")
    assert sorted(c.index) == ["C01", "C02", "C07", "C10"]
    assert c.outcome["C02"] == "open_within_deadline"  # due 3 March 08:00
    assert c.outcome["C07"] == "overdue"
    with pytest.raises(ValueError, match="as_of"):
        as_of_instant("31/03/2026")


def test_bad_input_names_case_and_field(cases, zones):
    bad = cases.copy()
    bad.loc[bad.case_id == "C02", "closed_at"] = NAT
    with pytest.raises(ValueError, match=r"C02.*closed_at"):
        build_ledger(bad, zones, as_of="2026-03-31")
    bad = cases.copy()
    bad.loc[bad.case_id == "C04", "status"] = "pending"
    with pytest.raises(ValueError, match=r"C04.*status"):
        build_ledger(bad, zones, as_of="2026-03-31")


def test_without_zones_everything_is_unzoned(cases):
    ledger = build_ledger(cases, None, as_of="2026-03-31")
    assert ledger.by_zone.zone_name.tolist() == [UNZONED]
    assert ledger.by_unit.cases.tolist() == [9]


def test_natural_unit_order():
    units = ["城区执法三中队", "城区执法十中队", "城区执法一中队", "城区执法二中队"]
    assert sorted(units, key=natural_key) == ["城区执法一中队", "城区执法二中队", "城区执法三中队", "城区执法十中队"]


def test_to_dict_is_json(ledger):
    import json

    d = json.loads(json.dumps(ledger.to_dict(), ensure_ascii=False))
    assert d["totals"]["cases"] == 9 and d["totals"]["as_of"].startswith("2026-03-31T23:59:59")
    assert d["overdue"][0]["case_id"] == "C07" and d["overdue"][0]["deadline"] == "2026-02-21T12:00:00"
    assert d["by_zone"][3]["closure_rate"] is None


def test_xlsx(ledger, tmp_path):
    from openpyxl import load_workbook

    path = tmp_path / "台账.xlsx"
    path.write_bytes(b"old")
    write_ledger_xlsx(ledger, path, county="示范县", prepared_on=dt.date(2026, 4, 1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["台账.xlsx"]  # replaced, no temp file left
    wb = load_workbook(path)
    assert wb.sheetnames == ["汇总", "按类别", "按责任区", "按责任单位", "按月份", "超期案件"]
    for ws in wb.worksheets:   # printed as a bureau prints: A4 landscape, title + header on every page, page N of M
        assert ws.freeze_panes in ("A3", "B3")
        assert ws.page_setup.paperSize == 9 and ws.page_setup.orientation == "landscape"
        assert ws.print_title_rows == "$1:$2"
        assert ws.oddFooter.center.text == "第 &P 页 共 &N 页"
        assert ws["A1"].value.replace("\n", "　") == f"示范县城市管理问题整改工作台账（{ws.title}）　统计截止：2026-03-31 23:59"
        sign = [c.value for c in ws["A"] if isinstance(c.value, str) and c.value.startswith("制表人")]
        assert sign == ["制表人：____________　　审核人：____________　　制表日期：2026-04-01"]
    assert wb["汇总"].page_setup.fitToHeight == 1 and wb["汇总"].sheet_properties.pageSetUpPr.fitToPage
    cat = wb["按类别"]
    header = [c.value for c in cat[2]]
    assert header[:5] == ["序号", "案件类别", "案件类别代码", "案件数", "已结案"]
    assert "结案率" in header and "结案用时中位数(天)" in header
    assert cat["A3"].value == 1 and cat["B3"].value == "暴露垃圾" and cat["C3"].value == "0102"
    last = [c.value for c in cat[cat.max_row - 2]]     # the sign-off line and a blank row follow the table
    assert last[0] is None and last[1] == "合计" and last[3] == 9
    assert [cat.cell(row=r, column=1).value for r in range(3, cat.max_row - 2)] == list(range(1, cat.max_row - 4))
    assert cat["B3"].border.left.style == "thin" and cat.cell(row=cat.max_row - 2, column=4).border.bottom.style == "thin"
    assert cat["B3"].font.name == "Noto Sans CJK SC" and cat.cell(row=cat.max_row - 2, column=2).font.b
    assert cat.cell(row=cat.max_row - 2, column=2).font.name == "Noto Sans CJK SC"
    rate = cat.cell(row=3, column=header.index("结案率") + 1)
    assert rate.value == pytest.approx(2 / 3) and rate.number_format == "0.0%"
    assert cat.column_dimensions["B"].width >= 8
    overdue = wb["超期案件"]
    oh = [c.value for c in overdue[2]]
    assert "责任人" in oh and "处置时限" in oh
    deadline = overdue.cell(row=3, column=oh.index("处置时限") + 1)
    assert isinstance(deadline.value, dt.datetime) and deadline.value == dt.datetime(2026, 2, 21, 12, 0)
    assert deadline.is_date and deadline.number_format.startswith("yyyy-mm-dd")
    assert overdue.cell(row=3, column=oh.index("责任人") + 1).value == "王五"
    month = wb["按月份"]["B3"]
    assert month.value == dt.datetime(2025, 12, 1) and month.number_format == "yyyy-mm"
    summary = {r[0].value: r[1].value for r in wb["汇总"].iter_rows(min_row=3) if r[0].value}
    assert summary["案件数"] == 9 and summary["超期未结"] == 3
    assert summary["统计截止时间"].date() == dt.date(2026, 3, 31)

    write_ledger_xlsx(ledger, path, include_cases=True)
    wb = load_workbook(path)
    assert wb.sheetnames[-1] == "案件明细" and wb["案件明细"].max_row == 2 + 9 + 2
    outcome_col = [c.value for c in wb["案件明细"][2]].index("办理结果") + 1
    assert {wb["案件明细"].cell(row=i, column=outcome_col).value for i in range(3, 12)} == {
        "按期结案", "超期结案", "超期未结", "在办未超期"}


def test_workspace_and_cli(cases, zones, tmp_path, capsys):
    from civgis.cli import main
    from civgis.store.workspace import Workspace

    ws = Workspace.create(tmp_path / "ws.gpkg", crs=4527)
    ws.write("zones", zones)
    ws.write("inspections", cases)
    ledger = ledger_workspace(ws, as_of="2026-03-31")
    assert ledger.totals["cases"] == 9 and ledger.totals["overdue"] == 3
    assert ledger.totals["median_days_to_close"] == pytest.approx(2.0)

    out_xlsx = tmp_path / "ledger.xlsx"
    code = main(["ledger", str(ws.path), "--as-of", "2026-03-31", "--xlsx", str(out_xlsx), "--view", "all"])
    out = capsys.readouterr().out
    assert code == 0 and out_xlsx.exists()
    assert "结案率 55.6%" in out and "按期结案率 60.0%" in out and "超期未结案件 3 件" in out
    assert "王五" in out and "按责任区" in out and "2025-12" in out
    assert main(["ledger", str(ws.path), "--as-of", "not-a-date"]) == 1


def test_demo_ledger_matches_direct_counts(demo_ws):
    inspections = demo_ws.read("inspections")
    zones = demo_ws.read("zones")
    as_of = "2026-10-31"
    ledger = ledger_workspace(demo_ws, as_of=as_of)
    T_ = T("2026-10-31 23:59:59.999999")
    scope = inspections[inspections.reported_at <= T_]
    closed = (scope.status == "closed") & (scope.closed_at <= T_)
    assert ledger.totals["cases"] == len(scope)
    assert ledger.totals["closed"] == int(closed.sum())
    assert ledger.totals["overdue"] == int((~closed & (scope.deadline < T_)).sum())
    assert ledger.totals["closed_on_time"] == int((closed & (scope.closed_at <= scope.deadline)).sum())
    assert ledger.by_zone.cases.sum() == ledger.by_unit.cases.sum() == ledger.by_month.cases.sum() == len(scope)
    # unzoned cases by an independent geopandas join
    joined = gpd.sjoin(scope[["case_id", "geometry"]], zones[["zone_id", "geometry"]], how="left",
                       predicate="intersects")
    n_unzoned = int(joined.groupby("case_id").zone_id.count().eq(0).sum())
    got = ledger.by_zone.loc[ledger.by_zone.zone_name == UNZONED, "cases"]
    assert (int(got.iloc[0]) if len(got) else 0) == n_unzoned
    assert len(ledger.by_zone) == len(zones) + (1 if n_unzoned else 0)


def test_each_case_gets_one_zone_by_hand():
    """Border points count; in an overlap the smallest zone_id (as text) wins; a zone without a name is named by
    its id, one without a unit gets the no-unit label; a case outside every zone is 未划分责任区."""
    import geopandas as gpd
    from shapely.geometry import Point, box

    from civgis.analysis.cases import NO_UNIT, UNZONED, assign_zones

    zones = gpd.GeoDataFrame({"zone_id": ["Z9", "Z10", "Z2"], "name": ["九区", None, "二区"],
                              "unit": ["九中队", "十中队", None], "staff": ["甲", None, "丙"]},
                             geometry=[box(0, 0, 10, 10), box(5, 0, 15, 10), box(20, 0, 30, 10)], crs=4527)
    cases = gpd.GeoDataFrame({"case_id": list("abcde")}, index=[10, 11, 12, 13, 14],
                             geometry=[Point(2, 2), Point(7, 5), Point(20, 5), Point(50, 50), Point(12, 5)], crs=4527)
    got = assign_zones(cases, zones)
    assert list(got.index) == [10, 11, 12, 13, 14]
    assert got["zone_id"].tolist()[:3] == ["Z9", "Z10", "Z2"] and pd.isna(got.loc[13, "zone_id"])
    assert got["zone_name"].tolist() == ["九区", "Z10", "二区", UNZONED, "Z10"]    # 7,5 in Z9 and Z10: "Z10" < "Z9"
    assert got["unit"].tolist() == ["九中队", "十中队", NO_UNIT, UNZONED, "十中队"]
    assert got.loc[10, "staff"] == "甲" and pd.isna(got.loc[11, "staff"]) and got["phone"].isna().all()
    assert str(got["zone_id"].dtype) == "string"
    no_units = assign_zones(cases, zones.drop(columns=["unit", "name"]))
    assert no_units["unit"].tolist() == [NO_UNIT, NO_UNIT, NO_UNIT, UNZONED, NO_UNIT]
    assert no_units["zone_name"].tolist() == ["Z9", "Z10", "Z2", UNZONED, "Z10"]
