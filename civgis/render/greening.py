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
from matplotlib.patches import Patch

from civgis.analysis.greening import GreeningPlan
from civgis.render.fonts import cjk_rc
from civgis.render.webmap import escape_html, save_map
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
        fmt = (lambda v: "—" if pd.isna(v) else f"{v:.1f}%") if pct else \
              (lambda v: "—" if pd.isna(v) else f"{v:,.2f}")
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
    m = folium.Map(location=[(lat0 + lat1) / 2, (lon0 + lon1) / 2], zoom_start=14, tiles=None,
                   control_scale=True)
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
    return m


def save_greening_map(plan: GreeningPlan, path, *, boundary=None) -> Path:
    """Write the folium map (offline assets through civgis.render.webmap.save_map when it exists)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    m = greening_map(plan, boundary=boundary)
    save_map(m, path)  # offline: the bundled Leaflet, no CDN
    return path


def plot_greening(plan: GreeningPlan, *, boundary: gpd.GeoDataFrame | None = None, ax=None,
                  title: str = "见缝插绿选址"):
    """A static matplotlib map (gap, candidates, chosen sites and their radius, ranks)."""
    with plt.rc_context(cjk_rc()):
        if ax is None:
            _, ax = plt.subplots(figsize=(9, 9), dpi=110)
        if boundary is not None and len(boundary):
            boundary.boundary.plot(ax=ax, color="#444444", linewidth=1.2, linestyle="--")
        if plan.parks is not None and len(plan.parks):
            plan.parks.plot(ax=ax, color="#81c784", edgecolor="#2e7d32", linewidth=0.5)
        if len(plan.gap):
            plan.gap.plot(ax=ax, color="#ef5350", alpha=0.55, linewidth=0)
        if len(plan.candidates):
            plan.candidates.plot(ax=ax, color="#ce93d8", edgecolor="#6a1b9a", linewidth=0.5)
        if len(plan.chosen):
            gpd.GeoSeries(plan.chosen.geometry.buffer(plan.chosen["radius_m"].to_numpy(), quad_segs=8),
                          crs=plan.chosen.crs).boundary.plot(ax=ax, color="#2e7d32", linewidth=0.8, linestyle=":")
            plan.chosen.plot(ax=ax, color="#1b5e20", edgecolor="#1b5e20")
            pts = plan.chosen.geometry.representative_point()
            for r, p in zip(plan.chosen["rank"], pts):
                ax.annotate(str(r), (p.x, p.y), color="#1b5e20", fontsize=10, fontweight="bold",
                            xytext=(4, 4), textcoords="offset points")
        ax.legend(handles=[Patch(facecolor="#81c784", edgecolor="#2e7d32", label="现有公园绿地"),
                           Patch(color="#ef5350", alpha=0.55, label="服务盲区(现状)"),
                           Patch(facecolor="#ce93d8", edgecolor="#6a1b9a", label="候选地块"),
                           Patch(color="#1b5e20", label="选中地块(编号=顺序)")], loc="lower right")
        cov0 = plan.covered_before / plan.population if plan.population else 0
        cov1 = plan.covered_after / plan.population if plan.population else 0
        ax.set_title(f"{title}：覆盖人口 {cov0:.1%} → {cov1:.1%}")
        ax.set_aspect("equal")
        ax.set_axis_off()
    return ax


def save_greening_png(plan: GreeningPlan, path, *, boundary=None, dpi: int = 130) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with plt.rc_context(cjk_rc()):
        fig, ax = plt.subplots(figsize=(9, 9), dpi=dpi)
        plot_greening(plan, boundary=boundary, ax=ax)
        fig.savefig(path, bbox_inches="tight")
        plt.close(fig)
    return path


def write_outputs(plan: GreeningPlan, out_dir, *, boundary=None) -> dict[str, Path]:
    """Write the ranked table (CSV, Chinese headers), the what-if table, the JSON, the map and the PNG."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"sites_csv": out / "greening_sites.csv", "what_if_csv": out / "greening_what_if.csv",
             "json": out / "greening_plan.json", "map": out / "greening_map.html", "png": out / "greening_map.png"}
    inert_frame(sites_table_zh(plan)).to_csv(paths["sites_csv"], index=False, encoding="utf-8-sig")
    inert_frame(what_if_table_zh(plan)).to_csv(paths["what_if_csv"], index=False, encoding="utf-8-sig")
    paths["json"].write_text(json.dumps(plan.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    save_greening_map(plan, paths["map"], boundary=boundary)
    save_greening_png(plan, paths["png"], boundary=boundary)
    return paths


