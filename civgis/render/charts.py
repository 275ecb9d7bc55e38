"""The report's charts as inline SVG: bars drawn from the report's own records, text set by the page.

Each chart function takes the plain records the report's JSON holds (lists of dicts) and returns
the markup of one ``<svg>`` element, or ``None`` when there is nothing to draw. The page embeds it
as it is: the text is the page's own (its CJK font, selectable, searchable, sharp when printed or
zoomed), each bar carries a ``<title>`` with its exact figures, and every user-supplied text is
escaped. Nothing is fetched at run time and nothing is rasterised: the three charts cost ~1 ms
where matplotlib PNGs cost 1.5 s of the report's CPU.

Layout is computed here in CSS pixels. Text widths are estimated per character (East Asian wide
characters one em, others :data:`NARROW_EM`) to size the margins; the headless-browser test
checks that every text the page lays out stays inside its chart.

Examples
--------
>>> svg = monthly_cases_chart([{"month": "2026-10-01", "closed_on_time": 8, "closed_late": 1,
...                             "open_within_deadline": 0, "overdue": 3}])
>>> svg.startswith('<svg class="chart" id="chart-monthly"'), "每月案件数" in svg
(True, True)
>>> monthly_cases_chart([]) is None
True
"""

from __future__ import annotations

import math
import unicodedata
from html import escape

__all__ = ["OUTCOME_COLOURS", "OUTCOMES_ZH", "NARROW_EM", "PASS_COLOUR", "FAIL_COLOUR", "monthly_cases_chart",
           "indicator_target_chart", "scorecard_chart", "achievement", "text_width", "nice_ticks", "COMPARISON_ZH", "comparison_zh"]

#: case outcomes in stacking order (the ledger's columns) and their Chinese labels
OUTCOMES_ZH = {"closed_on_time": "按期结案", "closed_late": "逾期结案", "open_within_deadline": "在办未超期",
               "overdue": "超期未结"}
OUTCOME_COLOURS = {"closed_on_time": "#66bb6a", "closed_late": "#ffb74d", "open_within_deadline": "#64b5f6",
                   "overdue": "#e53935"}
PASS_COLOUR, FAIL_COLOUR = "#43a047", "#e53935"

#: estimated advance of a narrow (non East Asian wide) character, in em: digits and Latin letters of
#: Noto Sans CJK / Microsoft YaHei are 0.5–0.6 em; the estimate errs wide so margins are never short
NARROW_EM = 0.62
_AXIS = "#333"
_GRID = "#e6e6e6"
_ROW_PX = 30          # one bar's row in the horizontal charts
_BAR_SHARE = 0.62     # a horizontal bar's part of its row
_MONTH_BAR = 0.8      # a month's bar's part of its slot
#: the indicator chart's axis: achievement in percent of the target, bars longer than the cap cut at it
_SHARE_AXIS, _SHARE_CAP = 175.0, 150.0


def text_width(text: str, size: float) -> float:
    """Estimated width of ``text`` set at ``size`` px: wide characters one em, others :data:`NARROW_EM` em.

    >>> text_width("结案率 98%", 10)
    54.8
    """
    return round(sum(size if unicodedata.east_asian_width(c) in "WF" else NARROW_EM * size for c in text), 6)


def nice_ticks(top: float, n: int = 5, *, integer: bool = False) -> list[float]:
    """Axis ticks from 0 to at least ``top`` in about ``n`` steps of 1, 2, 2.5 or 5 × 10ᵏ (integers only
    when ``integer``).

    >>> nice_ticks(1453)
    [0, 500, 1000, 1500]
    >>> nice_ticks(5, integer=True)
    [0, 1, 2, 3, 4, 5]
    >>> nice_ticks(0)
    [0, 1]
    """
    if not top > 0:
        return [0, 1]
    raw = top / n
    magnitude = 10.0 ** math.floor(math.log10(raw))
    factors = (1, 2, 5, 10) if integer else (1, 2, 2.5, 5, 10)
    step = next(f * magnitude for f in factors if f * magnitude >= raw * (1 - 1e-9))
    if integer:
        step = max(1, round(step))
    count = math.ceil(top / step - 1e-9)
    return [_clean(i * step) for i in range(count + 1)]


def achievement(value: float, target: float, comparison: str) -> float:
    """How far an indicator is towards its target, in percent of the target (100 = just met).

    ``≥`` targets: 100 · value ÷ target; ``≤`` targets: 100 · target ÷ value (a value under the
    cap scores above 100). NaN when the value or target is missing or the ratio is undefined.
    """
    if value is None or target is None or not math.isfinite(value) or not math.isfinite(target):
        return math.nan
    if comparison in ("<=", "<"):
        return 100.0 * target / value if value > 0 else math.nan
    return 100.0 * value / target if target > 0 else math.nan


# ---------------------------------------------------------------------- the three charts
def monthly_cases_chart(by_month: list[dict]) -> str | None:
    """Stacked bars: each month's cases by outcome (按期结案, 逾期结案, 在办未超期, 超期未结).

    ``by_month`` is the ledger's 按月份 table (``month`` ISO date, one count column per outcome);
    the four outcomes add up to the month's cases, and a bar's height is its count on the y axis.
    """
    if not by_month:
        return None
    counts = [[float(r.get(key) or 0) for key in OUTCOMES_ZH] for r in by_month]
    ticks = nice_ticks(max(sum(c) for c in counts), integer=True)
    svg = _Svg("chart-monthly", "每月案件数（按处置结果）", width=900, height=330)
    left, top, right, bottom = 72, 40, 884, 262
    scale = (bottom - top) / ticks[-1]
    _y_axis(svg, ticks, left, right, top, bottom, scale, label="案件数（件）")
    svg.heading((left + right) / 2, svg.title)
    slot = (right - left) / len(by_month)
    step = max(1, math.ceil(len(by_month) / 12))
    for i, (record, month_counts) in enumerate(zip(by_month, counts)):
        month = str(record["month"])[:7]
        x, base = left + slot * (i + (1 - _MONTH_BAR) / 2), bottom
        for (key, label), n in zip(OUTCOMES_ZH.items(), month_counts):
            if n > 0:
                svg.rect(x, base - n * scale, slot * _MONTH_BAR, n * scale, OUTCOME_COLOURS[key],
                         title=f"{month} {label} {n:,.0f} 件")
                base -= n * scale
        if i % step == 0:
            svg.text(left + slot * (i + 0.5), bottom + 16, month, size=11, anchor="middle")
    svg.line(left, bottom, right, bottom, _AXIS)
    _legend(svg, [(label, OUTCOME_COLOURS[key]) for key, label in OUTCOMES_ZH.items()], centre=450, y=306)
    return svg.markup()


def indicator_target_chart(rows: list[dict]) -> str | None:
    """Horizontal bars: each county indicator's value as a share of its target (dashed line at 100 %).

    ``rows``: indicator records (``name_zh, value, unit, target, comparison, passed``); rows without
    a target or value are left out (the table beside the chart says 无数据 for them). The bar is
    :func:`achievement` on a 0–175 % axis, cut at 150 % (its label gives the real value).
    """
    measured = [(r, achievement(r["value"], r["target"], r.get("comparison") or ">=")) for r in rows
                if r.get("target") is not None and r.get("value") is not None]
    measured = [(r, s) for r, s in measured if math.isfinite(s)]
    rows, shares = [r for r, _ in measured], [s for _, s in measured]
    if not rows:
        return None
    labels = [f"{_fmt(r['value'])} {r['unit'] or ''}（目标 {comparison_zh(r.get('comparison'))} {_fmt(r['target'])}）"
              for r in rows]
    names = [r["name_zh"] for r in rows]
    width, top = 900, 40
    left = _label_margin(0, names)
    bottom = top + _ROW_PX * len(rows)
    plot = _fitted_plot(width - left, [min(s, _SHARE_CAP) / _SHARE_AXIS for s in shares], labels)
    scale = plot / _SHARE_AXIS
    svg = _Svg("chart-indicators", "全县考核指标与目标", width=width, height=bottom + 56)
    ticks = list(range(0, int(_SHARE_AXIS) + 1, 25))
    _x_axis(svg, ticks, left, top, bottom, scale, label="达成度（占目标的 %，虚线 = 达标）")
    svg.heading(left + plot / 2, svg.title)
    for i, (row, share, label, name) in enumerate(zip(rows, shares, labels, names)):
        y = top + _ROW_PX * i
        length = min(share, _SHARE_CAP) * scale
        svg.text(left - 8, y + _ROW_PX / 2, name, size=13, anchor="end")
        svg.rect(left, y + _ROW_PX * (1 - _BAR_SHARE) / 2, length, _ROW_PX * _BAR_SHARE,
                 PASS_COLOUR if row.get("passed") else FAIL_COLOUR,
                 title=f"{name}：{label}，达成度 {share:.1f}%{'，达标' if row.get('passed') else '，未达标'}")
        svg.text(left + length + 6, y + _ROW_PX / 2, label, size=12, halo=True)   # readable over the 100 % line
    svg.line(left + 100 * scale, top - 4, left + 100 * scale, bottom, _AXIS, dash="5 3")
    return svg.markup()


def scorecard_chart(rows: list[dict]) -> str | None:
    """Two panels per responsible unit: its county indicators (达标 / 未达标 stacked) and its overdue
    cases with the closure rate written beside each bar. ``rows``: the scorecard records."""
    indicators = [r for r in rows if (r.get("n_indicators") or 0) > 0]
    cases = [r for r in rows if r.get("cases") is not None and r.get("cases") == r.get("cases")]
    if not indicators and not cases:
        return None
    n_rows = max(len(indicators), len(cases))
    width, top = 1000, 40
    bottom = top + _ROW_PX * n_rows
    svg = _Svg("chart-scorecard", "责任单位记分卡", width=width, height=bottom + 76)
    panels = [p for p in (indicators and "indicators", cases and "cases") if p]
    panel_w = width / len(panels)
    for k, panel in enumerate(panels):
        x0, x1 = panel_w * k, panel_w * (k + 1)
        if panel == "indicators":
            _indicator_panel(svg, indicators, x0, x1, top)
        else:
            _cases_panel(svg, cases, x0, x1, top)
    return svg.markup()


def _indicator_panel(svg: _Svg, rows: list[dict], x0: float, x1: float, top: float) -> None:
    """Each unit's county indicators: passed (green) then failed (red), on an integer axis."""
    names = [r["unit"] for r in rows]
    left = _label_margin(x0, names)
    ticks = nice_ticks(max(r["n_indicators"] for r in rows), integer=True)
    scale = (x1 - 24 - left) / ticks[-1]
    bottom = top + _ROW_PX * len(rows)
    svg.heading(left + ticks[-1] * scale / 2, "各单位负责的全县指标")
    _x_axis(svg, ticks, left, top, bottom, scale, label="考核指标数（项）")
    for i, (row, name) in enumerate(zip(rows, names)):
        y = top + _ROW_PX * i + _ROW_PX * (1 - _BAR_SHARE) / 2
        passed, failed = row["n_passed"], row["n_indicators"] - row["n_passed"]
        svg.text(left - 8, top + _ROW_PX * (i + 0.5), name, size=13, anchor="end")
        if passed:
            svg.rect(left, y, passed * scale, _ROW_PX * _BAR_SHARE, PASS_COLOUR, title=f"{name}：达标 {passed:.0f} 项")
        if failed:
            svg.rect(left + passed * scale, y, failed * scale, _ROW_PX * _BAR_SHARE, FAIL_COLOUR,
                     title=f"{name}：未达标 {failed:.0f} 项")
    _legend(svg, [("达标", PASS_COLOUR), ("未达标", FAIL_COLOUR)], centre=left + ticks[-1] * scale / 2, y=bottom + 62)


def _cases_panel(svg: _Svg, rows: list[dict], x0: float, x1: float, top: float) -> None:
    """Each unit's overdue cases, its closure rate written after the bar."""
    names = [r["unit"] for r in rows]
    overdue = [float(r.get("overdue") or 0) for r in rows]
    labels = []
    for row, n in zip(rows, overdue):
        rate = row.get("closure_rate")
        labels.append(f"{n:,.0f} 件" + (f"，结案率 {rate:.1f}%" if rate is not None and rate == rate else ""))
    left = _label_margin(x0, names)
    ticks = nice_ticks(max(overdue), integer=True)
    scale = _fitted_plot(x1 - left, [n / ticks[-1] for n in overdue], labels, spare=24) / ticks[-1]
    bottom = top + _ROW_PX * len(rows)
    svg.heading(left + ticks[-1] * scale / 2, "各单位超期案件与结案率")
    _x_axis(svg, ticks, left, top, bottom, scale, label="超期未结案件（件）")
    for i, (name, n, label) in enumerate(zip(names, overdue, labels)):
        y = top + _ROW_PX * i
        svg.text(left - 8, y + _ROW_PX / 2, name, size=13, anchor="end")
        if n > 0:
            svg.rect(left, y + _ROW_PX * (1 - _BAR_SHARE) / 2, n * scale, _ROW_PX * _BAR_SHARE, FAIL_COLOUR,
                     title=f"{name}：{label}")
        svg.text(left + n * scale + 6, y + _ROW_PX / 2, label, size=12)


# ---------------------------------------------------------------------- layout, axes and legends
def _label_margin(x0: float, names: list[str]) -> float:
    """Where the bars start: after the longest row name (13 px, right-aligned 8 px before the axis)."""
    return x0 + 16 + max(text_width(n, 13) for n in names)


def _fitted_plot(room: float, fractions: list[float], labels: list[str], *, spare: float = 12) -> float:
    """The plot's width within ``room``: as wide as leaves each bar's label (12 px, 6 px after a bar reaching
    ``fraction`` of the axis) inside the chart, and ``spare`` px free at the right."""
    fits = [(room - 12 - 6 - text_width(t, 12)) / f for f, t in zip(fractions, labels) if f > 0]
    return min(room - spare, *fits)


def _y_axis(svg: _Svg, ticks, left, right, top, bottom, scale, *, label: str) -> None:
    """A vertical value axis on the left with grid lines across the plot."""
    for tick in ticks:
        y = bottom - tick * scale
        if tick:
            svg.line(left, y, right, y, _GRID)
        svg.text(left - 6, y, f"{tick:,g}", size=11, anchor="end")
    svg.line(left, top - 4, left, bottom, _AXIS)
    svg.text(16, (top + bottom) / 2, label, size=12, anchor="middle", rotate=-90)


def _x_axis(svg: _Svg, ticks, left, top, bottom, scale, *, label: str) -> None:
    """A horizontal value axis under the bars, with grid lines up the plot."""
    for tick in ticks:
        x = left + tick * scale
        if tick:
            svg.line(x, top - 4, x, bottom, _GRID)
        svg.text(x, bottom + 16, f"{tick:,g}", size=11, anchor="middle")
    svg.line(left, bottom, left + ticks[-1] * scale, bottom, _AXIS)
    svg.line(left, top - 4, left, bottom, _AXIS)
    svg.text(left + ticks[-1] * scale / 2, bottom + 38, label, size=12, anchor="middle")


def _legend(svg: _Svg, entries: list[tuple[str, str]], *, centre: float, y: float) -> None:
    """Colour swatches with their labels in one centred row."""
    widths = [14 + 6 + text_width(label, 12) + 22 for label, _ in entries]
    x = centre - sum(widths) / 2
    for (label, colour), w in zip(entries, widths):
        svg.rect(x, y - 6, 14, 10, colour)
        svg.text(x + 20, y, label, size=12)
        x += w


class _Svg:
    """An SVG element under construction: shapes and texts appended as markup, every text escaped."""

    def __init__(self, element_id: str, title: str, *, width: float, height: float):
        self.id, self.title, self.width, self.height = element_id, title, width, height
        self.parts: list[str] = []

    def rect(self, x, y, w, h, fill: str, *, title: str | None = None) -> None:
        tip = f"<title>{escape(title)}</title>" if title else ""
        self.parts.append(f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" height="{_n(h)}" fill="{fill}">{tip}</rect>')

    def line(self, x1, y1, x2, y2, stroke: str, *, dash: str | None = None) -> None:
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}" stroke="{stroke}"{dashed}/>')

    def text(self, x, y, text: str, *, size: float, anchor: str = "start", weight: str | None = None,
             rotate: float | None = None, halo: bool = False) -> None:
        extra = (f' font-weight="{weight}"' if weight else "") + (
            f' transform="rotate({_n(rotate)} {_n(x)} {_n(y)})"' if rotate else "") + (
            ' stroke="#fff" stroke-width="3" stroke-linejoin="round" paint-order="stroke"' if halo else "")
        self.parts.append(f'<text x="{_n(x)}" y="{_n(y)}" font-size="{_n(size)}" text-anchor="{anchor}" '
                          f'dominant-baseline="central"{extra}>{escape(str(text))}</text>')

    def heading(self, centre_x, text: str) -> None:
        """A chart's (or a panel's) title, centred over its plot."""
        self.text(centre_x, 22, text, size=15, anchor="middle", weight="bold")

    def markup(self) -> str:
        return (f'<svg class="chart" id="{self.id}" xmlns="http://www.w3.org/2000/svg" role="img" '
                f'aria-label="{escape(self.title)}" width="{_n(self.width)}" height="{_n(self.height)}" '
                f'viewBox="0 0 {_n(self.width)} {_n(self.height)}"><title>{escape(self.title)}</title>'
                + "".join(self.parts) + "</svg>")


#: a target's comparison as the page writes it
COMPARISON_ZH = {">=": "≥", "<=": "≤", ">": "＞", "<": "＜"}


def comparison_zh(op: str | None) -> str:
    """``>=`` → ``≥`` … (an unknown operator as it is, none as ``""``): the page's and the charts' one mapping."""
    return COMPARISON_ZH.get(op, op or "")


def _n(value: float) -> str:
    """A coordinate as SVG writes it: two decimals at most, no trailing zeros."""
    return f"{value + 0.0:.2f}".rstrip("0").rstrip(".")   # + 0.0: -0.0 written as 0


def _clean(value: float):
    """A tick as an int when it is one (``2.0`` → ``2``), so labels read ``2`` not ``2.0``."""
    return int(value) if float(value).is_integer() else round(value, 10)


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}"
