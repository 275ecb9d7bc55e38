"""The report's charts, drawn offline with matplotlib and embedded into the page as PNG data URIs.

Each function takes the plain records the report's JSON holds (lists of dicts) and returns a
``data:image/png;base64,…`` string, or ``None`` when there is nothing to draw. Chinese text is set
in the checked CJK font (:func:`civgis.render.fonts.cjk_rc`); nothing is fetched at run time.
"""

from __future__ import annotations

import base64
import io
import math

import matplotlib.pyplot as plt

from civgis.render.fonts import cjk_rc
from civgis.render.png import save_png

__all__ = ["OUTCOME_COLOURS", "OUTCOMES_ZH", "monthly_cases_chart", "indicator_target_chart", "scorecard_chart",
           "achievement"]

#: case outcomes in stacking order (the ledger's columns) and their Chinese labels
OUTCOMES_ZH = {"closed_on_time": "按期结案", "closed_late": "逾期结案", "open_within_deadline": "在办未超期",
               "overdue": "超期未结"}
OUTCOME_COLOURS = {"closed_on_time": "#66bb6a", "closed_late": "#ffb74d", "open_within_deadline": "#64b5f6",
                   "overdue": "#e53935"}

_DPI = 110


def _data_uri(fig) -> str:
    buf = io.BytesIO()
    save_png(fig, buf, dpi=_DPI)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def monthly_cases_chart(by_month: list[dict]) -> str | None:
    """Stacked bars: each month's cases by outcome (按期结案, 逾期结案, 在办未超期, 超期未结).

    ``by_month`` is the ledger's 按月份 table (``month`` ISO date, one count column per outcome);
    the four outcomes add up to the month's cases.
    """
    if not by_month:
        return None
    labels = [str(r["month"])[:7] for r in by_month]
    with plt.rc_context(cjk_rc()):
        fig, ax = plt.subplots(figsize=(9, 3.4))
        bottom = [0.0] * len(by_month)
        x = range(len(by_month))
        for key, label in OUTCOMES_ZH.items():
            values = [float(r.get(key) or 0) for r in by_month]
            ax.bar(x, values, bottom=bottom, color=OUTCOME_COLOURS[key], label=label, width=0.8)
            bottom = [b + v for b, v in zip(bottom, values)]
        step = max(1, math.ceil(len(labels) / 12))
        ax.set_xticks(list(x)[::step], labels[::step], fontsize=8)
        ax.set_ylabel("案件数（件）")
        ax.set_title("每月案件数（按处置结果）", fontsize=12)
        ax.legend(ncol=4, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        return _data_uri(fig)


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


def indicator_target_chart(rows: list[dict]) -> str | None:
    """Horizontal bars: each county indicator's value as a share of its target (line at 100 %).

    ``rows``: indicator records (``name_zh, value, unit, target, comparison, passed``); rows without
    a target or value are left out (the table beside the chart says 无数据 for them).
    """
    rows = [r for r in rows if r.get("target") is not None and r.get("value") is not None
            and math.isfinite(achievement(r["value"], r["target"], r.get("comparison") or ">="))]
    if not rows:
        return None
    rows = rows[::-1]
    shares = [achievement(r["value"], r["target"], r.get("comparison") or ">=") for r in rows]
    with plt.rc_context(cjk_rc()):
        fig, ax = plt.subplots(figsize=(9, 0.42 * len(rows) + 1.1))
        colours = ["#43a047" if r.get("passed") else "#e53935" for r in rows]
        y = range(len(rows))
        ax.barh(y, [min(s, 150.0) for s in shares], color=colours, height=0.65)
        ax.axvline(100, color="#333", linewidth=1, linestyle="--", zorder=0.5)
        ax.set_yticks(list(y), [r["name_zh"] for r in rows], fontsize=9)
        for i, (r, s) in enumerate(zip(rows, shares)):
            cmp = {">=": "≥", "<=": "≤"}.get(r.get("comparison"), r.get("comparison") or "")
            ax.text(min(s, 150.0) + 1.5, i, f"{_fmt(r['value'])} {r['unit']}（目标 {cmp} {_fmt(r['target'])}）",
                    va="center", fontsize=8, bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})
        ax.set_xlim(0, 175)
        ax.set_xlabel("达成度（占目标的 %，虚线 = 达标）")
        ax.set_title("全县考核指标与目标", fontsize=12)
        ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        return _data_uri(fig)


def scorecard_chart(rows: list[dict]) -> str | None:
    """Two panels per responsible unit: its indicators (达标 / 未达标) and its overdue cases with the
    closure rate written beside each bar. ``rows``: the scorecard records."""
    ind = [r for r in rows if (r.get("n_indicators") or 0) > 0]
    cases = [r for r in rows if r.get("cases") is not None and r.get("cases") == r.get("cases")]
    if not ind and not cases:
        return None
    panels = [p for p in (ind, cases) if p]
    height = 0.45 * max(len(p) for p in panels) + 1.3
    with plt.rc_context(cjk_rc()):
        fig, axes = plt.subplots(1, len(panels), figsize=(10, height), squeeze=False)
        axes = list(axes[0])
        if ind:
            ax = axes.pop(0)
            y = range(len(ind))
            passed = [r["n_passed"] for r in ind]
            failed = [r["n_indicators"] - r["n_passed"] for r in ind]
            ax.barh(y, passed, color="#43a047", label="达标", height=0.6)
            ax.barh(y, failed, left=passed, color="#e53935", label="未达标", height=0.6)
            ax.set_yticks(list(y), [r["unit"] for r in ind], fontsize=9)
            ax.invert_yaxis()
            ax.set_xlabel("考核指标数（项）")
            ax.set_title("各单位负责的全县指标", fontsize=11)
            ax.legend(fontsize=8, loc="lower right")
            ax.spines[["top", "right"]].set_visible(False)
        if cases:
            ax = axes.pop(0)
            y = range(len(cases))
            overdue = [float(r.get("overdue") or 0) for r in cases]
            ax.barh(y, overdue, color="#e53935", height=0.6)
            ax.set_yticks(list(y), [r["unit"] for r in cases], fontsize=9)
            ax.invert_yaxis()
            top = max(overdue) if overdue and max(overdue) > 0 else 1.0
            for i, r in enumerate(cases):
                rate = r.get("closure_rate")
                text = f"{overdue[i]:.0f} 件" + (f"，结案率 {rate:.1f}%" if rate is not None and rate == rate else "")
                ax.text(overdue[i] + top * 0.02, i, text, va="center", fontsize=8)
            ax.set_xlim(0, top * 1.6)
            ax.set_xlabel("超期未结案件（件）")
            ax.set_title("各单位超期案件与结案率", fontsize=11)
            ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        return _data_uri(fig)


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}"
