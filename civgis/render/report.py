"""The readiness report's page (Jinja2, Chinese, no external assets) and its county overview PNG.

The page is printable as a leader files it: A4, a cover with the county and the date, one
section per page, tables that fit the page. Charts (:mod:`civgis.render.charts`) are drawn from
the report's JSON and embedded as inline SVG, so the page needs no network and no script.
"""

from __future__ import annotations

import functools
import html
import os
import re
from pathlib import Path

import jinja2
from markupsafe import Markup
import matplotlib.pyplot as plt
import numpy as np
import shapely
from matplotlib.patches import Patch

from civgis.render.charts import OUTCOMES_ZH, comparison_zh, indicator_target_chart, monthly_cases_chart, scorecard_chart
from civgis.render.fonts import cjk_font
from civgis.render.mapcontext import add_lines, add_polygons
from civgis.render.png import save_png
from civgis.store.catalogue import load_catalogue

__all__ = ["county_overview_png", "render_html", "report_template", "report_charts", "CHART_SECTIONS", "format_number", "format_value", "standard_zh", "note_zh", "crs_zh", "markup_commands",
           "zone_colours"]

#: counting units: shown without decimals
COUNT_UNITS = ("人", "座", "盏", "个", "件", "处", "m", "m²")

#: English fragments of the targets file's ``standard`` texts → Chinese, for the page
_STANDARD_ZH = (("by city size", "按城市规模"), ("(repealed)", "（已废止）"), ("[local]", "〔地方〕"),
                ("[confirmed]", "〔已核实〕"), ("table", "表"))


def zone_colours(n: int, cmap: str = "tab20") -> np.ndarray:
    """One RGBA colour per zone (cycled through ``cmap``): an (n, 4) array for ``facecolor``."""
    colours = plt.get_cmap(cmap)
    return np.asarray([colours(i % colours.N) for i in range(n)])


def county_overview_png(ws, path, *, audit=None, dpi: int = 110) -> Path:
    """A static county map for the printed report: zones, roads, and the audit's gaps and overlaps.

    Each layer is drawn as one matplotlib collection built from vectorised coordinates
    (:func:`civgis.render.mapcontext.add_lines` / :func:`~civgis.render.mapcontext.add_polygons`),
    the collections geopandas' ``.plot`` builds — the same picture, without the full figure draw
    ``.plot`` makes after every layer. Zones are filled from a colour array (one colour per zone).

    Parameters
    ----------
    ws : Workspace or Layers
        Read for ``built_up`` (required), ``zones`` and ``roads`` (when present).
    path : str or Path
        Where the PNG is written (atomically: a temporary file, then renamed).
    audit : AuditResult, optional
        Its ``gaps`` and ``overlaps`` are drawn in red and orange.
    dpi : int
        Resolution of the 8 × 6.5 inch picture.

    Returns
    -------
    Path
        ``path``.
    """
    font = cjk_font()
    fig, ax = plt.subplots(figsize=(8, 6.5), dpi=dpi)
    built = ws.read("built_up")
    handles = _draw_overview_layers(ax, built, ws, audit)
    xmin, ymin, xmax, ymax = built.total_bounds
    pad = 0.03 * max(xmax - xmin, ymax - ymin)
    ax.set_xlim(xmin - pad, xmax + pad)
    ax.set_ylim(ymin - pad, ymax + pad)
    ax.set_axis_off()
    ax.set_aspect("equal")
    ax.set_title("全县包保责任区与覆盖检查", fontproperties=font, fontsize=14)
    ax.legend(handles=handles, prop=font, loc="lower right", fontsize=9, framealpha=0.9)
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    save_png(fig, tmp, dpi=dpi)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def _draw_overview_layers(ax, built, ws, audit) -> list:
    """Draw the overview's layers bottom to top; returns their legend handles in that order."""
    add_lines(ax, shapely.boundary(np.asarray(built.geometry.values)), color="#444", linewidth=1.2, linestyle="--")
    handles = [plt.Line2D([], [], color="#444", linestyle="--", label="建成区边界")]
    if ws.has("zones"):
        zones = ws.read("zones")
        geoms = np.asarray(zones.geometry.values)
        colours = zone_colours(len(zones))
        colours[:, 3] = 0.35
        # colours stay one per drawn zone: a missing or empty geometry is skipped (as .plot skips it)
        drawn = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        add_polygons(ax, geoms[drawn], color=colours[drawn], edgecolor="#1f5fbf", linewidth=0.6)
        handles.append(Patch(facecolor="#9ecae1", edgecolor="#1f5fbf", label=f"包保责任区 {len(zones)} 个"))
    if ws.has("roads"):
        add_lines(ax, ws.read("roads").geometry.values, color="#616161", linewidth=0.5)
        handles.append(plt.Line2D([], [], color="#616161", linewidth=0.8, label="道路"))
    if audit is not None:
        if len(audit.gaps):
            add_polygons(ax, audit.gaps.geometry.values, color="#e53935", edgecolor="#b71c1c", linewidth=1.5)
            handles.append(Patch(facecolor="#e53935", label=f"空白区（死角）{len(audit.gaps)} 处"))
        if len(audit.overlaps):
            add_polygons(ax, audit.overlaps.geometry.values, color="#ff9800", edgecolor="#e65100", linewidth=1.5)
            handles.append(Patch(facecolor="#ff9800", label=f"重叠区 {len(audit.overlaps)} 处"))
    return handles


def render_html(data: dict, charts: dict | None = None) -> str:
    """The report page from the report's JSON data (a Jinja2 template, Chinese, no external assets).

    ``charts``: :func:`report_charts` of the same sections, drawn earlier (the report draws them
    while its background sections are still running); drawn here when not given.
    """
    sections = data["sections"]
    return report_template().render(
        **data, section_titles={k: v.get("title", k) for k, v in sections.items()},
        charts=report_charts(sections) if charts is None else charts, outcomes_zh=OUTCOMES_ZH)


@functools.lru_cache(maxsize=1)
def report_template() -> jinja2.Template:
    """The page's template with its filters, compiled once a process.

    Compiling ``report.html.j2`` is ~0.15 s; the report asks for it while its background
    sections still run, so the page is only rendered, not compiled, once they are done.
    """
    env = jinja2.Environment(loader=jinja2.PackageLoader("civgis.render", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]))
    env.filters["num"] = format_number
    env.filters["val"] = format_value
    env.filters["pct"] = lambda share, digits=1: format_number(None if share is None else 100.0 * share, digits) + "\u00a0%"
    env.filters["cmp"] = comparison_zh
    env.filters["standard_zh"] = standard_zh
    env.filters["when"] = _format_when
    env.filters["note_zh"] = lambda text: markup_commands(note_zh(text))
    env.filters["crs_zh"] = crs_zh
    return env.get_template("report.html.j2")


#: the sections the page's charts are drawn from
CHART_SECTIONS = ("ledger", "indicators", "scorecard")


def report_charts(sections: dict) -> dict:
    """The page's charts (inline SVG markup, :mod:`civgis.render.charts`) from the sections :data:`CHART_SECTIONS` names."""
    def ok(key):
        return sections.get(key, {}).get("ok")
    charts = {}
    if ok("ledger"):
        charts["monthly"] = monthly_cases_chart(sections["ledger"].get("by_month") or [])
    if ok("indicators"):
        county = [r for r in sections["indicators"]["city"] if r.get("road_class") is None]
        charts["indicators"] = indicator_target_chart(county)
    if ok("scorecard"):
        charts["scorecard"] = scorecard_chart(sections["scorecard"]["table"])
    return {k: v for k, v in charts.items() if v}


def format_number(value, digits: int = 1) -> str:
    """A number as the page shows it: thousands separated, ``digits`` decimals; 无数据 when missing."""
    if value is None or (isinstance(value, float) and value != value):
        return "无数据"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return html.escape(str(value))


def format_value(value, unit: str | None) -> str:
    """A value in its unit: counts and lengths without decimals, percent with one, others with two."""
    if unit in COUNT_UNITS:
        return format_number(None if value is None else float(value), 0)
    if unit == "%":
        return format_number(value, 1)
    return format_number(value, 2)


def standard_zh(text: str | None) -> str:
    """The targets file's ``standard`` note with its English remarks in Chinese (the page is Chinese)."""
    out = str(text or "")
    for en, zh in _STANDARD_ZH:
        out = out.replace(en, zh)
    return re.sub(r"\s+", " ", out).strip()


def note_zh(text: str | None) -> str:
    """A message with the catalogue's layer keys replaced by their Chinese titles.

    ``缺少图层 lamps（路灯），无法计算`` → ``缺少图层「路灯」，无法计算``; a bare key after 图层 or
    inside ``(layer …)`` is replaced the same way. Other text is left as it is.
    """
    titles = {name: spec.title_zh for name, spec in load_catalogue().items()}
    out = str(text or "")
    out = re.sub(r"图层\s*([a-z_]+)\s*[（(]([^）)]*)[）)]", lambda m: f"图层「{m.group(2)}」" if m.group(1) in titles else m.group(0),
                 out)
    out = re.sub(r"\(?layer ([a-z_]+)\)?", lambda m: f"（图层「{titles[m.group(1)]}」）" if m.group(1) in titles else m.group(0), out)
    out = re.sub(r"图层\s*([a-z_]+)", lambda m: f"图层「{titles[m.group(1)]}」" if m.group(1) in titles else m.group(0), out)
    return out


def markup_commands(text: str) -> Markup:
    """Escape ``text`` and set what a user types (``civgis …`` commands, ``--options``, ``[table] key``
    settings of the targets file) in ``<code>``, so it reads as input, not as prose."""
    pattern = re.compile(r"(civgis(?: [\w./~:+-]*[A-Za-z0-9_./~:+-])*|--[a-z][a-z-]*|\[[a-z_]+\](?:\s*[a-z_]+)?)",
                         re.ASCII)
    parts = pattern.split(str(text or ""))
    return Markup("".join(f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p) for i, p in enumerate(parts)))


def crs_zh(name: str | None) -> str:
    """A CRS name in Chinese where it is the usual Gauss-Krüger one (``CGCS2000 / 3-degree Gauss-Kruger
    zone 39`` → ``CGCS2000 3 度分带高斯-克吕格投影 第 39 带``); other names are kept."""
    text = str(name or "")
    m = re.match(r"(.+?) / (3|6)-degree Gauss-Kruger (?:zone (\d+)|CM (\d+)E)$", text)
    if not m:
        return text
    where = f"第 {m.group(3)} 带" if m.group(3) else f"中央经线东经 {m.group(4)}°"
    return f"{m.group(1)} {m.group(2)} 度分带高斯-克吕格投影 {where}"


def _format_when(value) -> str:
    """An ISO timestamp as ``YYYY-MM-DD HH:MM`` (a date alone stays a date)."""
    text = str(value or "")
    m = re.match(r"(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}))?", text)
    if not m:
        return text
    return m.group(1) + (f" {m.group(2)}" if m.group(2) and m.group(2) != "00:00" else "")
