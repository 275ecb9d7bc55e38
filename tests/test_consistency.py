"""One rule per concept, checked on the demo county: every place that shows a number shows the same one.

* 超期 (overdue = open at ``as_of`` and past the deadline) per zone: the ledger, the zone summary,
  the hotspot zone ranking and the report agree — and equal a count worked out here from the raw
  layers with geopandas (not through :mod:`civgis.analysis.cases`).
* The report's 未达标指标数 per zone equals ``civgis indicators --zones``.
"""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest

from civgis.analysis.cases import case_states
from civgis.analysis.ledger import ledger_workspace
from civgis.analysis.zones import zone_summary
from civgis.cli import main
from civgis.cli.indicators import zone_view
from civgis.demo import DEMO_TODAY
from civgis.run.hotspots import RANKING_CSV_ZH
from civgis.run.report import write_report

#: the end of the demo's "today" (a date means the end of that day)
AS_OF = pd.Timestamp(DEMO_TODAY) + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)


@pytest.fixture(scope="module")
def report(demo_ws, tmp_path_factory):
    out = tmp_path_factory.mktemp("consistency_report")
    result = write_report(demo_ws, out, as_of=DEMO_TODAY, sites=2, patrol_maps=False)
    assert result.errors == {}
    return result


def read_ranking(report) -> pd.DataFrame:
    """The report's hotspots/zone_ranking.csv (Chinese headers) with the ranking's English names."""
    zh = pd.read_csv(report.index.parent / "hotspots" / "zone_ranking.csv", dtype={"责任区编号": str})
    return zh.rename(columns={v: k for k, v in RANKING_CSV_ZH.items()})


@pytest.fixture(scope="module")
def by_hand(demo_ws) -> pd.Series:
    """Overdue cases per zone from the raw layers: reported ≤ T, not closed by T, deadline < T;
    the zone is the smallest zone_id among those the point intersects."""
    cases, zones = demo_ws.read("inspections"), demo_ws.read("zones")
    closed = (cases["status"] == "closed") & (cases["closed_at"] <= AS_OF)
    overdue = cases[(cases["reported_at"] <= AS_OF) & ~closed & (cases["deadline"] < AS_OF)]
    joined = gpd.sjoin(overdue[["geometry"]], zones[["zone_id", "geometry"]], predicate="intersects")
    one_zone = joined.reset_index().sort_values(["index", "zone_id"]).drop_duplicates("index")
    counts = one_zone.groupby("zone_id").size()
    return counts.reindex(sorted(zones["zone_id"].astype(str)), fill_value=0).astype(int)


def test_hand_count_is_not_trivial(by_hand):
    # the demo plants overdue cases in most zones; a rule that counted nothing would pass vacuously
    assert by_hand.sum() > 50 and (by_hand > 0).sum() >= len(by_hand) // 2


def test_overdue_per_zone_is_one_number_everywhere(demo_ws, report, by_hand):
    ledger = ledger_workspace(demo_ws, as_of=DEMO_TODAY).by_zone.dropna(subset=["zone_id"])
    summary = zone_summary(demo_ws, as_of=DEMO_TODAY)
    ranking = read_ranking(report)
    sections = json.loads((report.index.parent / "report.json").read_text(encoding="utf-8"))["sections"]
    report_zones = pd.DataFrame(sections["zones"]["table"])
    report_ledger = pd.DataFrame(sections["ledger"]["by_zone"]).dropna(subset=["zone_id"])

    def per_zone(df, column):
        return df.set_index(df["zone_id"].astype(str))[column].astype(int).reindex(by_hand.index)

    expected = by_hand.to_dict()
    assert per_zone(ledger, "overdue").to_dict() == expected
    assert per_zone(summary, "cases_overdue").to_dict() == expected
    assert per_zone(ranking, "overdue").to_dict() == expected
    assert per_zone(report_zones, "cases_overdue").to_dict() == expected
    assert per_zone(report_ledger, "overdue").to_dict() == expected
    # the county totals: zoned overdue cases plus those outside every zone = the ledger's total
    unzoned = int(ledger_workspace(demo_ws, as_of=DEMO_TODAY).by_zone.query("zone_id.isna()")["overdue"].sum())
    assert by_hand.sum() + unzoned == sections["ledger"]["totals"]["overdue"]


def test_closed_late_is_shown_apart(demo_ws, report):
    ranking = read_ranking(report)
    assert "超期合计" not in ranking.columns and "overdue_open" not in ranking.columns
    assert {"overdue", "closed_late"} <= set(ranking.columns)
    ledger = ledger_workspace(demo_ws, as_of=DEMO_TODAY).by_zone.dropna(subset=["zone_id"])
    late = ledger.set_index(ledger["zone_id"].astype(str))["closed_late"].astype(int)
    assert ranking.set_index("zone_id")["closed_late"].astype(int).to_dict() == late.reindex(ranking["zone_id"]).to_dict()


def test_patrol_map_rule_is_the_ledger_rule(demo_ws):
    cases = demo_ws.read("inspections")
    states = case_states(cases, DEMO_TODAY, demo_ws.read("zones"))
    ledger = ledger_workspace(demo_ws, as_of=DEMO_TODAY)
    assert int(states["overdue"].sum()) == ledger.totals["overdue"]
    assert set(states.loc[states["overdue"], "case_id"]) == set(ledger.overdue["case_id"])


def test_failing_indicators_per_zone_equal_the_cli(demo_ws, report, capsys):
    capsys.readouterr()
    assert main(["indicators", str(demo_ws.path), "--zones", "--json", "-"]) == 0
    rows = pd.DataFrame(json.loads(capsys.readouterr().out))
    zone_rows = rows[(rows["scope"] == "zone") & rows["road_class"].isna() & rows["passed"].eq(False)]
    cli_json = zone_rows.groupby("zone_id")["indicator"].nunique()
    # the table `civgis indicators --zones` prints (未达标项), from the same rows
    printed = zone_view(rows).set_index("责任区")["未达标项"]
    sections = json.loads((report.index.parent / "report.json").read_text(encoding="utf-8"))["sections"]
    reported = pd.DataFrame(sections["zones"]["table"]).set_index("zone_id")["n_failed"].astype(int)
    ids = sorted(reported.index)
    assert reported.reindex(ids).to_dict() == cli_json.reindex(ids, fill_value=0).astype(int).to_dict()
    assert reported.reindex(ids).to_dict() == printed.reindex(ids).astype(int).to_dict()
    assert reported.sum() > 0
