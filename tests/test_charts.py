"""The report's SVG charts: every bar's length is its figure on the chart's own axis, worked out here
by hand from the records, and no user text becomes markup."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from civgis.render.charts import (FAIL_COLOUR, OUTCOME_COLOURS, PASS_COLOUR, indicator_target_chart,
                                  monthly_cases_chart, nice_ticks, scorecard_chart)

NS = {"s": "http://www.w3.org/2000/svg"}


def parse(markup: str) -> ET.Element:
    return ET.fromstring(markup)   # well-formed XML, or this raises


def bars(svg: ET.Element) -> list[dict]:
    """The chart's bars (rects with a tooltip) as numbers: x, y, width, height, fill, tooltip."""
    out = []
    for rect in svg.iterfind(".//s:rect", NS):
        title = rect.find("s:title", NS)
        if title is not None:
            out.append({k: float(rect.get(k)) for k in ("x", "y", "width", "height")}
                       | {"fill": rect.get("fill"), "title": title.text})
    return out


def texts(svg: ET.Element) -> list[str]:
    return [t.text for t in svg.iterfind(".//s:text", NS)]


def tick_position(svg: ET.Element, label: str, axis: str) -> float:
    """The x (or y) where the tick label ``label`` is written."""
    return next(float(t.get(axis)) for t in svg.iterfind(".//s:text", NS) if t.text == label)


def test_monthly_bars_stack_each_outcome_at_its_count():
    by_month = [{"month": "2026-09-01", "closed_on_time": 30, "closed_late": 5, "open_within_deadline": 0, "overdue": 2},
                {"month": "2026-10-01", "closed_on_time": 20, "closed_late": 0, "open_within_deadline": 4, "overdue": 9}]
    svg = parse(monthly_cases_chart(by_month))
    drawn = bars(svg)
    assert len(drawn) == 6                       # the two zero counts draw nothing
    # the y axis: the ticks 0 … 40 (top 37 cases) where their labels are written
    zero, forty = tick_position(svg, "0", "y"), tick_position(svg, "40", "y")
    per_case = (zero - forty) / 40
    expected = [30, 5, 2, 20, 4, 9]
    for bar, n in zip(drawn, expected):
        assert bar["height"] == pytest.approx(n * per_case, abs=0.02)
    # each month's stack: outcomes in the ledger's order, bottom to top, starting on the axis
    september = drawn[:3]
    assert september[0]["y"] + september[0]["height"] == pytest.approx(zero, abs=0.02)
    for lower, upper in zip(september, september[1:]):
        assert upper["y"] + upper["height"] == pytest.approx(lower["y"], abs=0.02)
    assert [b["fill"] for b in september] == [OUTCOME_COLOURS[k] for k in ("closed_on_time", "closed_late", "overdue")]
    assert drawn[3]["x"] > drawn[0]["x"] and "2026-10 超期未结 9 件" in [b["title"] for b in drawn]


def test_indicator_bars_are_the_share_of_the_target_cut_at_150():
    rows = [{"name_zh": "建成区绿地率", "value": 30.4, "unit": "%", "target": 31.0, "comparison": ">=", "passed": False},
            {"name_zh": "公厕密度", "value": 2.0, "unit": "座/km²", "target": 4.0, "comparison": "<=", "passed": True},
            {"name_zh": "机械化清扫率", "value": 88.5, "unit": "%", "target": 20.0, "comparison": ">=", "passed": True},
            {"name_zh": "无数据", "value": None, "unit": "%", "target": 80.0, "comparison": ">=", "passed": None}]
    svg = parse(indicator_target_chart(rows))
    drawn = bars(svg)
    assert len(drawn) == 3                       # the row without a value is left out
    zero, hundred = tick_position(svg, "0", "x"), tick_position(svg, "100", "x")
    per_percent = (hundred - zero) / 100
    # by hand: 30.4 / 31; a cap of 4 at 2 scores 4 / 2 = 200 %; 88.5 / 20 = 442 % → cut at 150
    for bar, share in zip(drawn, [100 * 30.4 / 31, 150.0, 150.0]):
        assert bar["x"] == pytest.approx(zero, abs=0.02)
        assert bar["width"] == pytest.approx(share * per_percent, abs=0.02)
    assert [b["fill"] for b in drawn] == [FAIL_COLOUR, PASS_COLOUR, PASS_COLOUR]
    assert "88.5 %（目标 ≥ 20.0）" in texts(svg) and "2.0 座/km²（目标 ≤ 4.0）" in texts(svg)
    dashed = [line for line in svg.iterfind(".//s:line", NS) if line.get("stroke-dasharray")]
    assert len(dashed) == 1 and float(dashed[0].get("x1")) == pytest.approx(hundred, abs=0.02)


def test_scorecard_bars_count_indicators_and_overdue_cases():
    rows = [{"unit": "园林站", "n_indicators": 5, "n_passed": 1, "cases": None, "overdue": None, "closure_rate": None},
            {"unit": "一中队", "n_indicators": None, "n_passed": None, "cases": 100, "overdue": 12, "closure_rate": 91.25},
            {"unit": "二中队", "n_indicators": None, "n_passed": None, "cases": 40, "overdue": 3, "closure_rate": 97.5},
            {"unit": "三中队", "n_indicators": None, "n_passed": None, "cases": 10, "overdue": 0, "closure_rate": 100.0}]
    svg = parse(scorecard_chart(rows))
    drawn = bars(svg)
    passed, failed = drawn[0], drawn[1]
    assert passed["fill"] == PASS_COLOUR and failed["fill"] == FAIL_COLOUR
    assert failed["x"] == pytest.approx(passed["x"] + passed["width"], abs=0.02)
    assert failed["width"] == pytest.approx(4 * passed["width"], abs=0.05)        # 4 failed, 1 passed
    overdue = drawn[2:]
    assert len(overdue) == 2                                                       # 三中队 has none overdue
    assert overdue[0]["width"] == pytest.approx(4 * overdue[1]["width"], abs=0.05)  # 12 against 3
    assert {"12 件，结案率 91.2%", "3 件，结案率 97.5%", "0 件，结案率 100.0%"} <= set(texts(svg))


def test_no_records_no_chart():
    assert monthly_cases_chart([]) is None
    assert indicator_target_chart([{"name_zh": "x", "value": None, "unit": "%", "target": 1.0}]) is None
    assert scorecard_chart([{"unit": "u", "n_indicators": 0, "cases": None}]) is None


def test_user_text_is_text_not_markup():
    evil = '<script>alert(1)</script>"&{{ 7*7 }}'
    rows = [{"unit": evil, "n_indicators": 2, "n_passed": 1, "cases": 3, "overdue": 1, "closure_rate": 50.0}]
    markup = scorecard_chart(rows)
    svg = parse(markup)
    assert "<script" not in markup and svg.find(".//s:script", NS) is None
    assert evil in texts(svg) and any(evil in b["title"] for b in bars(svg))
    indicators = parse(indicator_target_chart([{"name_zh": evil, "value": 1.0, "unit": "<b>", "target": 2.0,
                                                "comparison": ">=", "passed": False}]))
    assert evil in texts(indicators) and "1.0 <b>（目标 ≥ 2.0）" in texts(indicators)


@pytest.mark.parametrize("top, integer", [(1453, True), (37, True), (5, True), (0.37, False), (175, False)])
def test_nice_ticks_cover_the_top_in_round_steps(top, integer):
    ticks = nice_ticks(top, integer=integer)
    step = ticks[1] - ticks[0]
    assert ticks[0] == 0 and ticks[-1] >= top > ticks[-2] and 3 <= len(ticks) - 1 <= 10
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert any(math.isclose(mantissa, m) for m in (1, 2, 2.5, 5))
    assert not integer or all(float(t).is_integer() for t in ticks)


def test_nice_ticks_of_small_counts_are_whole():
    assert nice_ticks(1, integer=True) == [0, 1] and nice_ticks(3, integer=True) == [0, 1, 2, 3]
    assert nice_ticks(0) == [0, 1]   # an axis even when every count is zero
