"""The readiness report's page (Jinja2, Chinese, no external assets) and its county overview PNG."""

from __future__ import annotations

import html
import os
from pathlib import Path

import jinja2
import matplotlib.pyplot as plt
from matplotlib.patches import Patch

from civgis.render.fonts import cjk_font

__all__ = ["county_overview_png", "render_html"]


def county_overview_png(ws, path, *, audit=None, dpi: int = 110) -> Path:
    """A static county map for the printed report: zones, roads, and the audit's gaps and overlaps."""
    font = cjk_font()
    fig, ax = plt.subplots(figsize=(8, 6.5), dpi=dpi)
    built = ws.read("built_up")
    built.boundary.plot(ax=ax, color="#444", linewidth=1.2, linestyle="--")
    handles = []
    if ws.has("zones"):
        zones = ws.read("zones")
        zones.plot(ax=ax, column="zone_id", cmap="tab20", alpha=0.35, edgecolor="#1f5fbf", linewidth=0.6)
        handles.append(Patch(facecolor="#9ecae1", edgecolor="#1f5fbf", label="包保责任区"))
    if ws.has("roads"):
        ws.read("roads").plot(ax=ax, color="#616161", linewidth=0.5)
    if audit is not None:
        if len(audit.gaps):
            audit.gaps.plot(ax=ax, color="#e53935", edgecolor="#b71c1c", linewidth=1.5)
            handles.append(Patch(facecolor="#e53935", label=f"空白区（死角）{len(audit.gaps)} 处"))
        if len(audit.overlaps):
            audit.overlaps.plot(ax=ax, color="#ff9800", edgecolor="#e65100", linewidth=1.5)
            handles.append(Patch(facecolor="#ff9800", label=f"重叠区 {len(audit.overlaps)} 处"))
    ax.set_axis_off()
    ax.set_aspect("equal")
    ax.set_title("全县包保责任区与覆盖检查", fontproperties=font, fontsize=14)
    if handles:
        ax.legend(handles=handles, prop=font, loc="lower right", fontsize=9, framealpha=0.9)
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def render_html(data: dict) -> str:
    """The report page from the report's JSON data (a Jinja2 template, Chinese, no external assets)."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("civgis.render", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]))
    env.filters["num"] = _format_number
    env.filters["cmp"] = lambda op: {">=": "≥", "<=": "≤"}.get(op, op or "")
    return env.get_template("report.html.j2").render(**data, section_titles={k: v.get("title", k) for k, v in data["sections"].items()})


def _format_number(value, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return html.escape(str(value))


