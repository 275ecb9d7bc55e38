"""The map of the pass plan's actions: a printable PNG (matplotlib, CJK labels) and an offline web map."""

from __future__ import annotations

from pathlib import Path

import folium
import matplotlib
import numpy as np
import shapely
import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from civgis.analysis.plan import KINDS, PassPlan
from civgis.render.fonts import cjk_rc
from civgis.render.mapcontext import add_lines, add_polygons
from civgis.render.png import save_png
from civgis.render.webmap import escape_html, metric_scale, save_map

__all__ = ["KIND_STYLE", "plan_map_png", "plan_map_html"]

matplotlib.use("Agg")

#: kind → (colour, marker)
KIND_STYLE = {"install_lamp": ("#f9a825", "^"), "repair_lamp": ("#e65100", "X"), "new_toilet": ("#1565c0", "s"),
              "retrofit_toilet": ("#6a1b9a", "D"), "new_park": ("#2e7d32", "P"), "add_sweeping": ("#00838f", "o"),
              "fix_zone": ("#c62828", "*"), "assign_staff": ("#ad1457", "v")}


def _actions(plan: PassPlan, layers: dict) -> dict:
    a = plan.actions
    out = {}
    if a.get("new_lamps") is not None and len(a["new_lamps"]):
        out["install_lamp"] = a["new_lamps"].geometry
    lamps = layers.get("lamps")
    if lamps is not None and a.get("repair_ids"):
        out["repair_lamp"] = lamps[lamps["lamp_id"].astype(str).isin(a["repair_ids"])].geometry
    if a.get("new_toilets") is not None and len(a["new_toilets"]):
        out["new_toilet"] = a["new_toilets"].geometry
    t = layers.get("toilets")
    if t is not None and a.get("retrofit_ids"):
        out["retrofit_toilet"] = t[t["toilet_id"].astype(str).isin(a["retrofit_ids"])].geometry
    return out


def plan_map_png(plan: PassPlan, layers: dict, path, *, dpi: int = 130) -> Path:
    """The county with every action: new lamps, repairs, new toilets, parks, swept roads, zone fixes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    bu, roads, green, cand = (layers.get(k) for k in ("built_up", "roads", "green", "candidates"))
    with plt.rc_context(cjk_rc()):
        fig, ax = plt.subplots(figsize=(11, 11), dpi=dpi)
        handles = []
        # each layer one collection from vectorised coordinates (mapcontext), as geopandas' .plot draws it
        if green is not None:
            add_polygons(ax, green.geometry.values, color="#c8e6c9", linewidth=0)
        if roads is not None:
            add_lines(ax, roads.geometry.values, color="#bdbdbd", linewidth=0.5)
            swept = roads[roads["road_id"].astype(str).isin(plan.actions.get("swept_roads") or [])]
            if len(swept):
                add_lines(ax, swept.geometry.values, color=KIND_STYLE["add_sweeping"][0], linewidth=2.0)
                handles.append(Line2D([], [], color=KIND_STYLE["add_sweeping"][0], lw=2, label="纳入机械化清扫道路"))
        if bu is not None:
            add_lines(ax, shapely.boundary(np.asarray(bu.geometry.values)), color="#424242", linewidth=1.2,
                      linestyle="--")
        if cand is not None and plan.actions.get("park_sites"):
            parks = cand[cand["site_id"].astype(str).isin(plan.actions["park_sites"])]
            add_polygons(ax, parks.geometry.values, color="#2e7d32", edgecolor="#1b5e20", linewidth=0.8)
            handles.append(Patch(color="#2e7d32", label=f"新建公园绿地（{len(parks)} 块）"))
        for kind, geoms in _actions(plan, layers).items():
            colour, marker = KIND_STYLE[kind]
            ax.scatter(geoms.x, geoms.y, s=46 if kind != "install_lamp" else 22, c=colour, marker=marker,
                       edgecolors="black", linewidths=0.4, zorder=5)
            handles.append(Line2D([], [], color=colour, marker=marker, ls="", mec="black", mew=0.4,
                                  label=f"{KINDS[kind][0]}（{len(geoms)} {KINDS[kind][1]}）"))
        z = plan.tasks[plan.tasks["kind"].isin(["fix_zone", "assign_staff"]) & plan.tasks["x"].notna()]
        for kind, grp in z.groupby("kind"):
            colour, marker = KIND_STYLE[kind]
            ax.scatter(grp["x"], grp["y"], s=120, c=colour, marker=marker, edgecolors="black", linewidths=0.4, zorder=6)
            handles.append(Line2D([], [], color=colour, marker=marker, ls="", mec="black", mew=0.4,
                                  label=f"{KINDS[kind][0]}（{len(grp)} 处）"))
        ax.legend(handles=handles, loc="lower right", fontsize=9, framealpha=0.9)
        n = len(plan.tasks)
        ax.set_title(f"达标路径：整改任务 {n} 项（迎检日期 {plan.inspection_date.isoformat()}）", fontsize=14)
        if bu is not None and len(bu):
            x0, y0, x1, y1 = bu.total_bounds
            pad = 0.04 * max(x1 - x0, y1 - y0)
            ax.set_xlim(x0 - pad, x1 + pad)
            ax.set_ylim(y0 - pad, y1 + pad)
        ax.set_aspect("equal")
        ax.set_axis_off()
        save_png(fig, path, bbox_inches="tight")
        plt.close(fig)
    return path


def plan_map_html(plan: PassPlan, layers: dict, path) -> Path:
    """An offline folium map: one marker per task with its text, unit, person and deadline (escaped)."""
    path = Path(path)
    t = plan.tasks[plan.tasks["lon"].notna()]
    bu = layers.get("built_up")
    if bu is not None and len(bu):
        lon0, lat0, lon1, lat1 = bu.to_crs(4326).total_bounds
    elif len(t):
        lon0, lat0, lon1, lat1 = t["lon"].min(), t["lat"].min(), t["lon"].max(), t["lat"].max()
    else:
        lon0 = lat0 = lon1 = lat1 = 0.0
    m = folium.Map(location=[(lat0 + lat1) / 2, (lon0 + lon1) / 2], zoom_start=14, tiles=None)
    metric_scale(m)  # folium's control_scale adds feet and miles
    if bu is not None and len(bu):
        folium.GeoJson(bu[[bu.geometry.name]].to_crs(4326), name="建成区",
                       style_function=lambda f: {"color": "#444", "weight": 2, "fillOpacity": 0, "dashArray": "8 4"}).add_to(m)
    cand = layers.get("candidates")
    if cand is not None and plan.actions.get("park_sites"):
        parks = cand[cand["site_id"].astype(str).isin(plan.actions["park_sites"])]
        folium.GeoJson(parks[[parks.geometry.name]].to_crs(4326), name="新建公园绿地",
                       style_function=lambda f: {"color": "#1b5e20", "fillColor": "#2e7d32", "fillOpacity": 0.7}).add_to(m)
    text = escape_html(t["task"].astype(str))
    who = escape_html((t["resp_unit"].fillna("") + " " + t["staff"].fillna("")).astype(str))
    for fg_kind, grp in t.assign(text_=text, who_=who).groupby("kind"):
        fg = folium.FeatureGroup(name=KINDS[fg_kind][0])
        colour = KIND_STYLE.get(fg_kind, ("#555", "o"))[0]
        for r in grp.itertuples():
            folium.CircleMarker([r.lat, r.lon], radius=6, color=colour, fill=True, fill_opacity=0.9,
                                popup=folium.Popup(f"{r.task_id} {r.text_}<br>{r.who_}<br>完成时限 {r.deadline}", max_width=320)
                                ).add_to(fg)
        fg.add_to(m)
    m.fit_bounds([[lat0, lon0], [lat1, lon1]])
    folium.LayerControl(collapsed=False).add_to(m)
    save_map(m, path)
    return path
