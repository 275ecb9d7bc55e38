"""Greening plan outputs: the ranked-site table, the what-if table, the web map and the printable PNG.

Every figure comes from the :class:`~civgis.analysis.greening.GreeningPlan` the CLI prints.
"""

from __future__ import annotations

import json
from pathlib import Path

import folium
import geopandas as gpd
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shapely
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from civgis.analysis.greening import GreeningPlan
from civgis.render.fonts import cjk_font, cjk_rc
from civgis.render.mapcontext import (add_lines, add_polygons, draw_built_up, draw_legend, draw_north, draw_scalebar,
                                      draw_streets, draw_zone_outlines, finish_axes, fix_view, map_view)
from civgis.render.png import save_png
from civgis.render.webmap import escape_html, escape_text, metric_scale, save_map
from civgis.store.inert import inert_frame

__all__ = ["SITE_COLUMNS_ZH", "sites_table_zh", "what_if_table_zh", "greening_map", "save_greening_map",
           "plot_greening", "save_greening_png", "write_outputs"]

SITE_COLUMNS_ZH = {"rank": "序号", "site_id": "地块编号", "name": "地块名称", "area_m2": "面积(m²)",
                   "radius_m": "服务半径(m)", "tier": "等级", "new_residents": "新增覆盖人口",
                   "cumulative_residents": "累计覆盖人口", "cumulative_coverage": "累计覆盖率"}


def sites_table_zh(plan: GreeningPlan) -> pd.DataFrame:
    """The ranked table with Chinese headers (rounded for print/CSV)."""
    df = plan.sites.copy()
    df["area_m2"] = df["area_m2"].round(0)
    df["new_residents"] = df["new_residents"].round(0)
    df["cumulative_residents"] = df["cumulative_residents"].round(0)
    df["cumulative_coverage"] = (100 * df["cumulative_coverage"]).round(1).astype(str) + "%"
    df["name"] = df["name"].astype("string").fillna("")
    return df[list(SITE_COLUMNS_ZH)].rename(columns=SITE_COLUMNS_ZH)


def what_if_table_zh(plan: GreeningPlan) -> pd.DataFrame:
    rows = []
    for r in plan.what_if.itertuples():
        pct = r.unit == "%"
        fmt = (lambda v: "无数据" if pd.isna(v) else f"{v:.1f}%") if pct else \
              (lambda v: "无数据" if pd.isna(v) else f"{v:,.2f}")
        rows.append({"指标": r.label_zh, "现状": fmt(r.before), "建设后": fmt(r.after),
                     "变化": fmt(r.change), "目标": fmt(r.target) if not pd.isna(r.target) else "—",
                     "单位": "" if pct else r.unit})
    return pd.DataFrame(rows)


def greening_map(plan: GreeningPlan, *, boundary: gpd.GeoDataFrame | None = None):
    """A folium map: today's gap, all candidates, the chosen sites with their service radius."""
    layers = [g for g in (plan.gap, plan.candidates, boundary) if g is not None and len(g)]
    if not layers:
        return folium.Map(location=[0, 0], zoom_start=2, tiles=None)
    bounds = np.array([g.to_crs(4326).total_bounds for g in layers])
    lon0, lat0, lon1, lat1 = bounds[:, 0].min(), bounds[:, 1].min(), bounds[:, 2].max(), bounds[:, 3].max()
    m = folium.Map(location=[(lat0 + lat1) / 2, (lon0 + lon1) / 2], zoom_start=14, tiles=None)
    metric_scale(m)
    if boundary is not None and len(boundary):
        folium.GeoJson(boundary[[boundary.geometry.name]].to_crs(4326), name="建成区",
                       style_function=lambda f: {"color": "#444444", "weight": 2, "fillOpacity": 0,
                                                 "dashArray": "8 4"}).add_to(m)
    if plan.parks is not None and len(plan.parks):
        folium.GeoJson(plan.parks[[plan.parks.geometry.name]].to_crs(4326), name="现有公园绿地",
                       style_function=lambda f: {"color": "#2e7d32", "weight": 1, "fillColor": "#81c784",
                                                 "fillOpacity": 0.6}).add_to(m)
    if len(plan.gap):
        g = plan.gap[["residents", "geometry"]].copy()
        g["residents"] = g["residents"].round(0)
        folium.GeoJson(g.to_crs(4326), name="服务盲区(现状)",
                       style_function=lambda f: {"color": "#c62828", "weight": 0.5, "fillColor": "#ef5350",
                                                 "fillOpacity": 0.45},
                       tooltip=folium.GeoJsonTooltip(["residents"], aliases=["未覆盖人口"])).add_to(m)
    if len(plan.candidates):
        c = plan.candidates[["site_id", "area_m2", "tier", "potential_residents", "geometry"]].copy()
        c["area_m2"] = c["area_m2"].round(0)
        c["potential_residents"] = c["potential_residents"].round(0)
        c[["site_id", "tier"]] = c[["site_id", "tier"]].apply(escape_html)  # tooltips are HTML: user ids stay text
        folium.GeoJson(c.to_crs(4326), name="候选地块",
                       style_function=lambda f: {"color": "#6a1b9a", "weight": 1, "fillColor": "#ce93d8",
                                                 "fillOpacity": 0.5},
                       tooltip=folium.GeoJsonTooltip(["site_id", "area_m2", "tier", "potential_residents"],
                                                     aliases=["地块编号", "面积(m²)", "等级", "可覆盖盲区人口"])
                       ).add_to(m)
    if len(plan.chosen):
        ch = plan.chosen[["rank", "site_id", "area_m2", "tier", "new_residents", "geometry"]].copy()
        ch["area_m2"] = ch["area_m2"].round(0)
        ch["new_residents"] = ch["new_residents"].round(0)
        ch[["site_id", "tier"]] = ch[["site_id", "tier"]].apply(escape_html)  # tooltips are HTML: user ids stay text
        radii = gpd.GeoDataFrame(ch[["rank", "site_id"]], crs=ch.crs,
                                 geometry=ch.geometry.buffer(plan.chosen["radius_m"].to_numpy(), quad_segs=8))
        folium.GeoJson(radii.to_crs(4326), name="新增服务范围",
                       style_function=lambda f: {"color": "#1b5e20", "weight": 1, "fillColor": "#66bb6a",
                                                 "fillOpacity": 0.12, "dashArray": "4 4"}).add_to(m)
        folium.GeoJson(ch.to_crs(4326), name="选中地块",
                       style_function=lambda f: {"color": "#1b5e20", "weight": 2.5, "fillColor": "#2e7d32",
                                                 "fillOpacity": 0.85},
                       tooltip=folium.GeoJsonTooltip(["rank", "site_id", "area_m2", "tier", "new_residents"],
                                                     aliases=["序号", "地块编号", "面积(m²)", "等级", "新增覆盖人口"])
                       ).add_to(m)
    m.fit_bounds([[lat0, lon0], [lat1, lon1]])
    folium.LayerControl(collapsed=False).add_to(m)
    _title_and_legend(m, plan, boundary)
    return m


def _coverage_text(plan: GreeningPlan) -> str:
    if not getattr(plan, "population", None):
        return "居民覆盖率 无数据（无居住用地人口）"
    return (f"公园绿地服务半径居民覆盖率 {100 * plan.covered_before / plan.population:.1f}% → "
            f"{100 * plan.covered_after / plan.population:.1f}%（{len(plan.chosen)} 处选址）")


def _title_and_legend(m, plan: GreeningPlan, boundary) -> None:
    """A title box (top) and a legend of every drawn layer (bottom left) on the greening web map."""

    swatch = ('<div><span style="background:{};border:1px solid {};opacity:{};display:inline-block;width:12px;'
              'height:12px;margin-right:4px"></span>{}</div>')
    rows = [(boundary is not None and len(boundary), "#ffffff", "#444444", 1, "建成区范围（虚线）"),
            (plan.parks is not None and len(plan.parks), "#81c784", "#2e7d32", 1, "现有公园绿地"),
            (len(plan.gap), "#ef5350", "#c62828", 0.7, "服务盲区（现状）"),
            (len(plan.candidates), "#ce93d8", "#6a1b9a", 1, "候选地块"),
            (len(plan.chosen), "#66bb6a", "#1b5e20", 0.5, "新增服务范围"),
            (len(plan.chosen), "#2e7d32", "#1b5e20", 1, "选中地块")]
    legend = "".join(swatch.format(fill, edge, op, label) for shown, fill, edge, op, label in rows if shown)
    m.get_root().html.add_child(folium.Element(
        '<div class="civgis-title" style="position:fixed;top:10px;left:60px;z-index:9999;background:white;'
        'padding:6px 10px;border:1px solid #999;font-size:14px"><b>见缝插绿选址</b> '
        f'{escape_text(_coverage_text(plan))}</div>'
        '<div class="civgis-legend" style="position:fixed;bottom:24px;right:10px;z-index:9999;background:white;'
        f'padding:6px;font-size:12px;border:1px solid #999"><b>图例</b>{legend}</div>'))


def save_greening_map(plan: GreeningPlan, path, *, boundary=None) -> Path:
    """Write the folium map (offline assets through civgis.render.webmap.save_map when it exists)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    m = greening_map(plan, boundary=boundary)
    save_map(m, path)  # offline: the bundled Leaflet, no CDN
    return path


def _site_label(r) -> str:
    """``1 · 0.32 公顷 · +1,234 人``: rank, area, residents newly within reach."""
    return f"{int(r.rank)} · {r.area_m2 / 1e4:.2f} 公顷 · +{r.new_residents:,.0f} 人"


#: label offsets (points) tried in turn until a site's label overlaps no label placed before it
_OFFSETS = [(8, 8, "left", "bottom"), (8, -8, "left", "top"), (-8, 8, "right", "bottom"), (-8, -8, "right", "top"),
            (8, 24, "left", "bottom"), (8, -24, "left", "top"), (-8, 24, "right", "bottom"), (-8, -24, "right", "top")]


def _label_sites(ax, chosen: gpd.GeoDataFrame, fp) -> None:
    """Label each chosen site (:func:`_site_label`) where it does not cover an earlier label."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = ax.figure.canvas
    renderer = (canvas if hasattr(canvas, "get_renderer") else FigureCanvasAgg(ax.figure)).get_renderer()
    placed = []
    pts = chosen.geometry.representative_point()
    for r, p in zip(chosen.itertuples(), pts):
        for dx, dy, ha, va in _OFFSETS:
            ann = ax.annotate(_site_label(r), (p.x, p.y), color="#1b5e20", fontproperties=fp, fontsize=8,
                              xytext=(dx, dy), textcoords="offset points", ha=ha, va=va, zorder=12,
                              bbox=dict(boxstyle="round,pad=0.2", facecolor="white", edgecolor="#1b5e20",
                                        linewidth=0.6, alpha=0.9),
                              arrowprops=dict(arrowstyle="-", color="#1b5e20", linewidth=0.6))
            box = ann.get_window_extent(renderer).padded(2)
            if not any(box.overlaps(b) for b in placed) or (dx, dy) == _OFFSETS[-1][:2]:
                placed.append(box)
                break
            ann.remove()


def plot_greening(plan: GreeningPlan, *, boundary: gpd.GeoDataFrame | None = None, ax=None,
                  title: str = "见缝插绿选址", zones: gpd.GeoDataFrame | None = None,
                  roads: gpd.GeoDataFrame | None = None):
    """A static map: gap, candidates, chosen sites with their radius and labels, and the county's context.

    Context: streets (grey, main roads named), responsibility zones with names, the built-up
    boundary; a scale bar, a north arrow, a title with the coverage before → after (percent of
    all residents) and a legend of every drawn layer. Each chosen site is labelled with its rank,
    area (公顷) and the residents it newly brings within a park's service radius.
    """
    with plt.rc_context(cjk_rc()):
        fp, fpb = cjk_font(), cjk_font(weight="bold")
        if ax is None:
            _, ax = plt.subplots(figsize=(9, 9), dpi=110)
        layers = [g for g in (boundary, plan.gap, plan.candidates) if g is not None and len(g)]
        extent = np.array([g.total_bounds for g in layers]) if layers else np.array([[0, 0, 1, 1]])
        bbox = ax.get_position()
        fw, fh = ax.figure.get_size_inches()
        view = map_view((extent[:, 0].min(), extent[:, 1].min(), extent[:, 2].max(), extent[:, 3].max()),
                        bbox.width * fw, bbox.height * fh, pad=0.04)
        fix_view(ax, view)
        handles = []
        if plan.parks is not None and len(plan.parks):
            add_polygons(ax, plan.parks.geometry.values, color="#81c784", edgecolor="#2e7d32", linewidth=0.5, zorder=1)
            handles.append(Patch(facecolor="#81c784", edgecolor="#2e7d32", label="现有公园绿地"))
        if len(plan.gap):
            add_polygons(ax, plan.gap.geometry.values, color="#ef5350", alpha=0.55, linewidth=0, zorder=1.2)
            handles.append(Patch(color="#ef5350", alpha=0.55, label="服务盲区（现状）"))
        if len(plan.candidates):
            add_polygons(ax, plan.candidates.geometry.values, color="#ce93d8", edgecolor="#6a1b9a", linewidth=0.5,
                         zorder=1.4)
            handles.append(Patch(facecolor="#ce93d8", edgecolor="#6a1b9a", label="候选地块"))
        handles += draw_streets(ax, roads, view, fp=fp, fontsize=6.5, grey=True, label_classes=("arterial",),
                                min_label_len=0.1 * (view[2] - view[0]), zorder=3)
        handles += draw_zone_outlines(ax, zones, view, fp=fp, fontsize=6, color="#1f5fbf", linewidth=0.6,
                                      min_share=0.008, zorder=3.5)
        handles += draw_built_up(ax, boundary)
        if len(plan.chosen):
            reach = shapely.buffer(np.asarray(plan.chosen.geometry.values), plan.chosen["radius_m"].to_numpy(),
                                   quad_segs=8)
            add_lines(ax, shapely.boundary(reach), color="#1b5e20", linewidth=1.0, linestyle=":", zorder=7)
            add_polygons(ax, plan.chosen.geometry.values, color="#1b5e20", edgecolor="#1b5e20", linewidth=1.0,
                         zorder=8)
            _label_sites(ax, plan.chosen, fpb)
            handles += [Patch(color="#1b5e20", label="选中地块（序号 · 面积 · 新增覆盖人口）"),
                        Line2D([], [], color="#1b5e20", linestyle=":", linewidth=1.0, label="选中地块服务半径")]
        finish_axes(ax, view)
        draw_scalebar(ax, view, fp, 8)
        draw_north(ax, fpb, 9)
        draw_legend(ax, handles, fp, 7.5, title="图例", loc="lower right")
        ax.set_title(f"{title}：{_coverage_text(plan)}", fontproperties=fpb, fontsize=12, loc="left")
    return ax


def save_greening_png(plan: GreeningPlan, path, *, boundary=None, zones=None, roads=None, dpi: int = 130) -> Path:
    """The printable greening map (:func:`plot_greening`) as a PNG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with plt.rc_context(cjk_rc()):
        fig = Figure(figsize=(10, 10.4), dpi=dpi)
        ax = fig.add_axes([0.03, 0.03, 0.94, 0.9])
        plot_greening(plan, boundary=boundary, ax=ax, zones=zones, roads=roads)
        save_png(fig, path, dpi=dpi)
    return path


def write_outputs(plan: GreeningPlan, out_dir, *, boundary=None, zones=None, roads=None) -> dict[str, Path]:
    """Write the ranked table (CSV, Chinese headers), the what-if table, the JSON, the map and the PNG."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"sites_csv": out / "greening_sites.csv", "what_if_csv": out / "greening_what_if.csv",
             "json": out / "greening_plan.json", "map": out / "greening_map.html", "png": out / "greening_map.png"}
    inert_frame(sites_table_zh(plan)).to_csv(paths["sites_csv"], index=False, encoding="utf-8-sig")
    inert_frame(what_if_table_zh(plan)).to_csv(paths["what_if_csv"], index=False, encoding="utf-8-sig")
    paths["json"].write_text(json.dumps(plan.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    save_greening_map(plan, paths["map"], boundary=boundary)
    save_greening_png(plan, paths["png"], boundary=boundary, zones=zones, roads=roads)
    return paths


