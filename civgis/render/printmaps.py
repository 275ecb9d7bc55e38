"""Printable patrol maps (巡查责任区图): one page per responsibility zone, PDF or PNG.

Each page shows the zone outline (neighbouring zones greyed and named), streets coloured by class
with their names, lamps (broken ones marked ✕), public toilets, open cases (overdue ones ringed),
a title block with the zone's name, unit, responsible person and phone, a legend, a scale bar,
a north arrow (grid north of the workspace's Gauss-Krüger projection — within 1.5° of true north
inside a 3-degree zone) and the date. Colours come from the layer catalogue's ``[style]``.

Chinese text is set in a real CJK font (default "Noto Sans CJK SC", Debian ``fonts-noto-cjk``)
found by family name through matplotlib's font manager; PDFs embed it as TrueType (fonttype 42)
so the text stays searchable and extractable.

Examples
--------
>>> import tempfile
>>> from civgis.demo import demo_workspace
>>> out = tempfile.mkdtemp()
>>> paths = render_patrol_maps(demo_workspace(), ["Z01"], out, fmt="png", paper="A4", progress=False)
>>> [p.name for p in paths][:2]
['patrol_Z01.png', 'patrol_Z01_checklist1.png']
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import math
import os
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import matplotlib as mpl
import numpy as np
import pandas as pd
import shapely
from matplotlib import colors as mcolors
from matplotlib.artist import Artist
from matplotlib.text import Text, _get_text_metrics_with_cache

from civgis.analysis.cases import as_of_instant, case_states, checked_states
from civgis.analysis.lamps import lamp_states
from civgis.forking import batch_collector, fork_is_safe, freeze_before_fork
from civgis.progress import progress as _progress
from civgis.render.fonts import (CJK_FAMILY, RenderError, cjk_font, cjk_rc, register_font_files, subset_cjk_family,
                                 subset_font_files)
from civgis.render.mapcontext import (PX_TO_PT, add_lines, add_points, add_polygons, draw_north, draw_scalebar, draw_streets,
                                      finish_axes, fix_view, map_view, nice_length, within)
from civgis.render.png import save_png
from civgis.store.catalogue import layer_spec
from civgis.store.inert import safe_stem

__all__ = ["PAPER_IN", "PX_TO_PT", "PrintMapError", "CHECKLIST_ROWS", "PDF_COMPRESS_LEVEL", "ZoneCounts", "nearest_street", "checklist_rows",
           "draw_patrol_map", "draw_checklist_pages", "PageText", "RowLegend", "render_patrol_maps"]

#: paper sizes in inches (portrait width, height)
PAPER_IN = {"A4": (8.27, 11.69), "A3": (11.69, 16.54)}
#: table rows on one A4 checklist page (a longer list continues on the next page)
CHECKLIST_ROWS = 38
#: zlib level of the PDF pages' content streams (matplotlib's default is 6): on the demo's 208 pages level 3
#: deflates them in 0.09 instead of 0.21 s of CPU, and the combined file is 5 % larger (1.96 against 1.86 MB)
PDF_COMPRESS_LEVEL = 3
#: fill of a lamp whose state is not recorded (status ``unknown`` or blank, as an OpenStreetMap import leaves it)
UNKNOWN_LAMP_COLOUR = "#bdbdbd"


class PrintMapError(RenderError):
    """A patrol map cannot be made (no CJK font, unknown zone, bad paper size …)."""


def _map_text(layers: "_Layers", zone_ids: list[str]) -> str:
    """Every character a patrol map of these zones can print (data fields, templates, catalogue labels)."""
    import string

    parts = [string.printable, "，。：；、（）《》·✕—…㎡□", Path(__file__).read_text(encoding="utf-8")]
    for col in ("zone_id", "name", "unit", "staff", "phone"):
        if col in layers.zones:
            parts.append("".join(layers.zones[col].dropna().astype(str)))
    if layers.roads is not None and "name" in layers.roads:
        parts.append("".join(layers.roads["name"].dropna().astype(str).unique()))
    for frame, col in ((layers.open_cases, "case_id"), (layers.broken_lamps, "lamp_id")):
        if frame is not None and col in frame:
            parts.append("".join(frame[col].dropna().astype(str).unique()))
    for layer in ("roads", "lamps", "inspections", "zones", "green", "residential", "built_up"):
        spec = layer_spec(layer)
        parts.append(spec.title_zh + "".join(f.label() + "".join(f.values.values()) for f in spec.fields.values()))
    if layers.crs is not None:
        parts.append(layers.crs.name)
    return "".join(parts)


def _style(layer: str) -> dict:
    return layer_spec(layer).style


_nice_length = nice_length


def _safe(name: str) -> str:
    """Unique, length-bounded file-name stem of a zone id (:func:`civgis.store.inert.safe_stem`)."""
    return safe_stem(name)


def _blank(v) -> bool:
    return v is None or (not isinstance(v, str) and pd.isna(v)) or not str(v).strip()


def nearest_street(points: gpd.GeoSeries | np.ndarray, roads: gpd.GeoDataFrame | None) -> pd.Series:
    """The name of each point's nearest named road and its distance: ``"人民路（约 12 米）"``.

    One vectorised STRtree nearest query over the named roads (``shapely.STRtree.query_nearest``);
    distances in metres of the projected CRS, rounded to whole metres. Without named roads the
    result is "—".
    """
    geoms = np.asarray(points.values if hasattr(points, "values") else points)
    out = pd.Series(["—"] * len(geoms), dtype=object)
    if roads is None or len(roads) == 0 or "name" not in roads or len(geoms) == 0:
        return out
    named = roads[roads["name"].notna() & (roads["name"].astype("string").str.strip() != "")]
    if named.empty:
        return out
    tree = shapely.STRtree(np.asarray(named.geometry.values))
    (pi, ri), dist = tree.query_nearest(geoms, return_distance=True, all_matches=False)
    names = named["name"].astype(str).to_numpy()[ri]
    text = [f"{n}（约 {d:.0f} 米）" for n, d in zip(names, dist)]
    out.iloc[pi] = text
    return out


class _Layers:
    """The workspace layers read once, with spatial indexes for per-page subsets.

    ``open_cases`` holds the cases open at ``as_of`` by :func:`civgis.analysis.cases.case_states`
    (the one rule), with ``overdue``, ``days_overdue``, the case's one ``zone_id`` and its
    ``street`` (:func:`nearest_street`); ``broken_lamps`` the broken lamps with their street.
    """

    def __init__(self, ws, as_of=None, states=None):
        self.crs = ws.crs
        self.zones = ws.read("zones").reset_index(drop=True)
        self.built_up = ws.read_optional("built_up")
        self.roads = ws.read_optional("roads")
        self.lamps = ws.read_optional("lamps")
        self.toilets = ws.read_optional("toilets")
        self.green = ws.read_optional("green")
        self.residential = ws.read_optional("residential")
        cases = ws.read_optional("inspections")
        self.has_cases = cases is not None   # no layer: the counts are 无数据; an empty one: none open
        self.open_cases = None
        self.as_of = as_of_instant(as_of)
        if cases is not None and len(cases):
            # the one rule (analysis.cases); a run passes the states it computed once
            states = case_states(cases, as_of, self.zones) if states is None else checked_states(states, cases)
            self.as_of = states.attrs["as_of"]
            keep = states["open"].to_numpy(dtype=bool)
            cols = ["case_id", "category", "reported_at", "deadline", "overdue", "days_overdue", "zone_id"]
            st = states.loc[keep, [c for c in cols if c in states]]
            self.open_cases = gpd.GeoDataFrame(st, geometry=cases.geometry.values[keep], crs=cases.crs)
            self.open_cases["street"] = nearest_street(self.open_cases.geometry, self.roads).to_numpy()
        self.cases_by_zone = _cases_by_zone(self.open_cases)   # zone_id → its open cases, sorted
        self.broken_lamps = None
        if self.lamps is not None and len(self.lamps):
            broken = lamp_states(self.lamps).broken
            self.broken_lamps = self.lamps[broken].copy()
            self.broken_lamps["street"] = nearest_street(self.broken_lamps.geometry, self.roads).to_numpy()
        self.indexed = self._indexed()
        # zone_id → its (first) row
        self.zone_row = {z: i for i, z in reversed(list(enumerate(self.zones["zone_id"].astype(str))))}

    def _indexed(self) -> dict[str, "_Indexed"]:
        """The layers each page draws, as arrays with a spatial index (built once, shared by the workers)."""
        columns = {
            "zones": lambda z: {"zone_id": z["zone_id"].astype(str).to_numpy(), "name": z["name"].astype(str).to_numpy()},
            "lamps": _lamp_states,
            "open_cases": lambda g: {"overdue": g["overdue"].to_numpy(dtype=bool),
                                     "zone_id": g["zone_id"].astype("string").to_numpy(dtype=object, na_value=None)},
        }
        layers = {name: getattr(self, name) for name in ("zones", "residential", "green", "built_up", "lamps",
                                                          "toilets", "open_cases")}
        return {name: _Indexed(np.asarray(gdf.geometry.values, dtype=object),
                               columns.get(name, lambda g: {})(gdf))
                for name, gdf in layers.items() if gdf is not None and len(gdf)}

    def zone_counts(self, zid: str, zgeom) -> "ZoneCounts":
        """What the zone's title block and checklist count (:class:`ZoneCounts`), in one place."""
        lamps, toilets = self.indexed.get("lamps"), self.indexed.get("toilets")
        lamp_in = shapely.intersects(lamps.geoms, zgeom) if lamps is not None else np.zeros(0, bool)
        mine = _zone_cases(self, zid)
        return ZoneCounts(
            lamps=None if self.lamps is None else int(lamp_in.sum()),
            broken=int((lamp_in & lamps["broken"]).sum()) if lamps is not None else 0,
            unknown=int((lamp_in & lamps["unknown"]).sum()) if lamps is not None else 0,
            toilets=None if self.toilets is None else
            int(shapely.intersects(toilets.geoms, zgeom).sum()) if toilets is not None else 0,
            open=None if not self.has_cases else len(mine),
            overdue=int(mine["overdue"].sum()) if len(mine) else 0)

    def near(self, name: str, view) -> "_Indexed | None":
        """Layer ``name``'s rows meeting the box ``view``, in layer order (None when none or no layer)."""
        indexed = self.indexed.get(name)
        return indexed.within(view) if indexed is not None else None

    within = staticmethod(within)


@dataclass(frozen=True)
class ZoneCounts:
    """A zone's counts on its map and checklist; ``None`` where the workspace has no such layer (无数据, not 0).

    Attributes
    ----------
    lamps : int or None
        Lamps in (or on the border of) the zone.
    broken, unknown : int
        Of them, broken, and without a recorded status (``unknown`` or blank: an OpenStreetMap import).
    toilets : int or None
        Public toilets in the zone.
    open, overdue : int or None, int
        Cases open at the run's instant whose one zone is this one (case_states), and of them overdue.
    """

    lamps: int | None
    broken: int
    unknown: int
    toilets: int | None
    open: int | None
    overdue: int

    def title_text(self) -> str:
        """The title block's line after the area: lamps, toilets, open cases."""
        if self.lamps is None:
            lamps = "路灯 无数据（未导入路灯）"
        elif self.lamps and self.unknown == self.lamps:
            lamps = f"路灯 {self.lamps} 盏（故障 无数据：状态未知）"
        else:
            lamps = f"路灯 {self.lamps} 盏（故障 {self.broken}" + (f"，状态未知 {self.unknown}" if self.unknown else "") + "）"
        toilets = "公厕 无数据（未导入公厕）" if self.toilets is None else f"公厕 {self.toilets} 座"
        cases = ("未结案件 无数据（未导入巡查案件）" if self.open is None
                 else f"未结案件 {self.open} 件（超期 {self.overdue}）")
        return f"{lamps}　　{toilets}　　{cases}"


def _lamp_states(lamps: pd.DataFrame) -> dict[str, np.ndarray]:
    """Which lamps are broken, and which have no recorded state (:func:`civgis.analysis.lamps.lamp_states`)."""
    states = lamp_states(lamps)
    return {"broken": states.broken, "unknown": states.unknown}


class _Indexed:
    """A layer's geometries and the columns the pages read, as arrays, with an STR-tree.

    A page takes the rows meeting its view (:meth:`within`): the spatial index query of
    :func:`civgis.render.mapcontext.within` and the same rows in the same order, as arrays
    instead of a GeoDataFrame subset (0.05 against 0.4 ms, and a page takes seven).
    """

    def __init__(self, geoms: np.ndarray, columns: dict[str, np.ndarray]):
        self.geoms, self.columns = geoms, columns
        self._tree = None

    def within(self, bounds) -> "_Indexed | None":
        if self._tree is None:
            self._tree = shapely.STRtree(self.geoms)
        rows = np.sort(self._tree.query(shapely.box(*bounds)))
        if not len(rows):
            return None
        return _Indexed(self.geoms[rows], {k: v[rows] for k, v in self.columns.items()})

    def __len__(self) -> int:
        return len(self.geoms)

    def __getitem__(self, column: str) -> np.ndarray:
        return self.columns[column]


def _points(ax, xy: np.ndarray, which: np.ndarray, in_zone: np.ndarray, **kw) -> None:
    """Scatter ``xy[which]``: full strength inside the zone, faded (another squad's) outside it."""
    inside, outside = which & in_zone, which & ~in_zone
    if outside.any():
        add_points(ax, xy[outside], **{**kw, "alpha": 0.25})
    if inside.any():
        add_points(ax, xy[inside], **kw)


def _page_scale(fig) -> float:
    w, h = fig.get_size_inches()
    return (w if w < h else h) / PAPER_IN["A4"][0]


def draw_patrol_map(fig, layers: _Layers, zone: pd.Series, *, paper: str = "A4", date: dt.date | None = None,
                    as_of=None, family: str = CJK_FAMILY) -> list[str]:
    """Draw one zone's patrol map on an empty figure already sized to the paper; returns the legend's labels.

    ``as_of`` is kept for callers; the case states were fixed when ``layers`` was built.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fp = cjk_font(family)
    fpb = cjk_font(family, weight="bold")
    scale = _page_scale(fig)
    fs = 7.5 * scale  # base font size
    date = date or dt.date.today()

    fig_w, fig_h = fig.get_size_inches()

    def from_top(inches):  # layout in inches of paper, the same on portrait and landscape pages
        return 1.0 - inches * scale / fig_h

    left, right = 0.45 * scale / fig_w, 1.0 - 0.45 * scale / fig_w
    bottom, top = 1.05 * scale / fig_h, from_top(1.55)
    ax = fig.add_axes([left, bottom, right - left, top - bottom])
    zgeom = zone.geometry
    zid = str(zone["zone_id"])
    view = map_view(zgeom.bounds, (right - left) * fig_w, (top - bottom) * fig_h)
    vx0, vy0, vx1, vy1 = view
    fix_view(ax, view)

    zst = _style("zones")
    handles = [Patch(facecolor=zst.get("fill_color"), alpha=0.5, edgecolor=zst.get("color"), linewidth=1.5,
                     label="本责任区")]
    # other zones: grey outlines and names; this zone: catalogue fill + outline
    others = layers.near("zones", view)
    if others is not None:
        other = others["zone_id"] != zid
        if other.any():
            add_lines(ax, shapely.boundary(others.geoms[other]), color="#9e9e9e", linewidth=0.8,
                      linestyle="--", zorder=2)
            handles.append(Line2D([], [], color="#9e9e9e", linestyle="--", linewidth=0.8, label="相邻责任区"))
            for g, name in zip(others.geoms[other], others["name"][other]):
                p = g.intersection(shapely.box(*view))
                if not p.is_empty and p.area > 0.02 * (vx1 - vx0) * (vy1 - vy0):
                    rp = p.representative_point()
                    ax.text(rp.x, rp.y, name, ha="center", va="center", color="#9e9e9e", fontproperties=fp,
                            fontsize=fs * 1.1, zorder=3)
    add_polygons(ax, [zgeom], color=zst.get("fill_color", "#6fa8ff"), alpha=zst.get("fill_opacity", 0.12), zorder=1)

    res = layers.near("residential", view)
    if res is not None:
        rs = _style("residential")
        add_polygons(ax, res.geoms, color=rs.get("fill_color"), alpha=0.45, edgecolor=rs.get("color"),
                     linewidth=0.3, zorder=1.2)
        handles.append(Patch(facecolor=rs.get("fill_color"), alpha=0.7, edgecolor=rs.get("color"), label="居住用地"))
    gr = layers.near("green", view)
    if gr is not None:
        gst = _style("green")
        add_polygons(ax, gr.geoms, color=gst.get("fill_color"), alpha=0.35, linewidth=0, zorder=1.5)
        handles.append(Patch(facecolor=gst.get("fill_color"), alpha=0.5, label="绿地"))
    bu = layers.near("built_up", view)
    if bu is not None:
        bst = _style("built_up")
        add_lines(ax, shapely.boundary(np.asarray(layers.built_up.geometry.values)), color=bst.get("color", "#444444"),
                  linewidth=1.0, linestyle=(0, (6, 3)), zorder=2.5)
        handles.append(Line2D([], [], color=bst.get("color", "#444444"), linewidth=1.0, linestyle=(0, (6, 3)),
                              label="建成区范围"))

    handles += draw_streets(ax, layers.roads, view, fp=fp, fontsize=fs, scale=scale,
                            label_clip=zgeom.buffer(0.02 * max(vx1 - vx0, vy1 - vy0)))

    # zone outline on top of the roads
    add_lines(ax, [shapely.boundary(zgeom)], color=zst.get("color", "#1f5fbf"),
              linewidth=zst.get("weight", 2) * 1.4 * scale, zorder=6)

    lst = _style("lamps")
    lamps = layers.near("lamps", view)
    if lamps is not None:
        broken, unknown = lamps["broken"], lamps["unknown"]
        working = ~broken & ~unknown
        ok_c = lst.get("by_value", {}).get("status", {}).get("working", lst.get("color"))
        bad_c = lst.get("by_value", {}).get("status", {}).get("broken", "#c62828")
        xy = shapely.get_coordinates(lamps.geoms)
        in_zone = shapely.intersects(lamps.geoms, zgeom)
        # a lamp without a recorded state (an OSM import) is not drawn, or counted, as working
        _points(ax, xy, unknown, in_zone, s=9 * scale, color=UNKNOWN_LAMP_COLOUR, edgecolors="#616161",
                linewidths=0.3, zorder=7)
        _points(ax, xy, working, in_zone, s=9 * scale, color=ok_c, edgecolors="#5d4037", linewidths=0.3, zorder=7)
        _points(ax, xy, broken, in_zone, s=42 * scale, color=bad_c, marker="X", edgecolors="white", linewidths=0.5,
                zorder=8)
        if working.any():
            handles.append(Line2D([], [], linestyle="", marker="o", markersize=4, color=ok_c, label="路灯（正常）"))
        if unknown.any():
            handles.append(Line2D([], [], linestyle="", marker="o", markersize=4, color=UNKNOWN_LAMP_COLOUR,
                                  markeredgecolor="#616161", label="路灯（状态未知）"))
        if broken.any():
            handles.append(Line2D([], [], linestyle="", marker="X", markersize=7, color=bad_c, label="故障路灯"))

    tst = _style("toilets")
    toilets = layers.near("toilets", view)
    if toilets is not None:
        xy = shapely.get_coordinates(toilets.geoms)
        in_zone = shapely.intersects(toilets.geoms, zgeom)
        _points(ax, xy, np.ones(len(xy), bool), in_zone, s=110 * scale, marker="s", color=tst.get("color"),
                edgecolors="white", linewidths=0.8, zorder=8)
        for (x, y) in xy[in_zone]:
            ax.text(x, y, "厕", ha="center", va="center", color="white", fontproperties=fp, fontsize=fs * 0.9,
                    zorder=8.5)
        handles.append(Line2D([], [], linestyle="", marker="s", markersize=7, color=tst.get("color"), label="公厕"))

    ist = _style("inspections")
    cases = layers.near("open_cases", view)
    open_c = ist.get("by_value", {}).get("status", {}).get("open", ist.get("color", "#e53935"))
    if cases is not None:
        overdue = cases["overdue"]
        xy = shapely.get_coordinates(cases.geoms)
        in_zone = cases["zone_id"] == zid   # an unzoned case (None) is in no zone
        _points(ax, xy, ~overdue, in_zone, s=34 * scale, marker="^", color=open_c, edgecolors="white",
                linewidths=0.5, zorder=8)
        _points(ax, xy, overdue, in_zone, s=40 * scale, marker="^", color=open_c, edgecolors="black",
                linewidths=1.2, zorder=8)
        if (~overdue).any():
            handles.append(Line2D([], [], linestyle="", marker="^", markersize=7, color=open_c,
                                  markeredgecolor="white", label="未结案件"))
        if overdue.any():
            handles.append(Line2D([], [], linestyle="", marker="^", markersize=7, color=open_c,
                                  markeredgecolor="black", markeredgewidth=1.2, label="超期案件"))

    finish_axes(ax, view)
    draw_scalebar(ax, view, fp, fs)
    draw_north(ax, fpb, fs * 1.2)

    # ---- title block
    name = str(zone["name"]) if not _blank(zone.get("name")) else zid
    fig.text(left, from_top(0.4), f"{name} 巡查责任区图", fontproperties=fpb, fontsize=fs * 2.6, va="top")

    def val(key):
        v = zone.get(key)
        return "未填写" if _blank(v) else str(v)

    fig.text(left, from_top(0.95), f"责任区编号 {zid}　　责任单位 {val('unit')}　　责任人 {val('staff')}　　联系电话 {val('phone')}",
             fontproperties=fp, fontsize=fs * 1.45, va="top",
             color="#b71c1c" if any(_blank(zone.get(k)) for k in ("staff", "phone")) else "black")
    area = f"{zgeom.area / 1e6:.2f} 平方千米" if zgeom.area >= 1e5 else f"{zgeom.area:,.0f} 平方米"
    fig.text(left, from_top(1.25), f"面积 {area}　　{layers.zone_counts(zid, zgeom).title_text()}",
             fontproperties=fp, fontsize=fs * 1.2, va="top")

    # ---- legend and footer
    ncol = min(7, len(handles))
    label_fp = fp.copy()
    label_fp.set_size(fs * 1.05)
    # laid out in units of the font's own size (as fig.legend(prop=fp) did: a given prop's size wins over fontsize)
    fig.add_artist(RowLegend(handles, label_fp, fp.get_size_in_points(), (0.5, 0.36 * scale / fig_h), ncol=ncol,
                             handlelength=2.2, columnspacing=1.2))
    nominal = (vx1 - vx0) / ((right - left) * fig_w * 0.0254)
    nominal = nice_length(nominal) if nominal < 10 * nice_length(nominal) else nominal
    crs_name = layers.crs.name if layers.crs is not None else ""
    fig.text(left, 0.14 * scale / fig_h, f"制图日期 {date:%Y-%m-%d}　　比例尺 约 1:{nominal:,.0f}（{paper} 打印）　　坐标系 {crs_name}"
             f"　　上为坐标北", fontproperties=fp, fontsize=fs * 0.95, va="bottom", color="#424242")
    fig.text(right, 0.14 * scale / fig_h, "civgis · 城管局", fontproperties=fp, fontsize=fs * 0.95, va="bottom", ha="right",
             color="#424242")
    return [h.get_label() for h in handles]


def _cases_by_zone(open_cases: gpd.GeoDataFrame | None) -> dict[str, pd.DataFrame]:
    """Each zone's open cases (their one zone, case_states), overdue first, most overdue first: sorted and
    split once per run, not filtered and sorted again for every zone's map and checklist."""
    if open_cases is None:
        return {}
    ordered = open_cases.sort_values(["overdue", "days_overdue", "deadline", "case_id"],
                                     ascending=[False, False, True, True])
    return {str(k): g for k, g in ordered.groupby(ordered["zone_id"].astype("string"), sort=False)}


def _zone_cases(layers: _Layers, zid: str) -> pd.DataFrame:
    """The open cases whose one zone (case_states) is ``zid``, overdue first, most overdue first."""
    if zid in layers.cases_by_zone:
        return layers.cases_by_zone[zid]
    if layers.open_cases is None:
        return pd.DataFrame(columns=["case_id", "overdue"])
    return layers.open_cases.iloc[:0]


def _zone_broken_lamps(layers: _Layers, zgeom) -> pd.DataFrame:
    """The broken lamps inside (or on the border of) the zone, by id."""
    bl = layers.broken_lamps
    if bl is None or bl.empty:
        return pd.DataFrame(columns=["lamp_id", "street"])
    hit = shapely.intersects(np.asarray(bl.geometry.values), zgeom)
    return bl[hit].sort_values("lamp_id", key=lambda s: s.astype(str))


def _day(v) -> str:
    return "—" if pd.isna(v) else f"{pd.Timestamp(v):%Y-%m-%d}"


def checklist_rows(layers: _Layers, zone: pd.Series) -> tuple[list[list[str]], list[list[str]], np.ndarray]:
    """The checklist of one zone: case rows, broken-lamp rows, and which case rows are overdue.

    Cases: 序号, 案件编号, 案件类别, 位置（最近道路）, 上报时间, 处置时限, 状态 (超期 N 天 / 期限内).
    Lamps: 序号, 路灯编号, 位置（最近道路）, 状态. The cases are those open at the run's instant whose
    one zone (:func:`civgis.analysis.cases.case_states`) is this zone.
    """
    labels = layer_spec("inspections").fields["category"].values
    cases = _zone_cases(layers, str(zone["zone_id"]))
    crow = []
    for i, r in enumerate(cases.itertuples(index=False), start=1):
        state = f"超期 {r.days_overdue:.1f} 天" if r.overdue else "期限内"   # as `civgis ledger` prints it
        cat = labels.get(str(r.category), str(r.category)) if not _blank(r.category) else "—"
        crow.append([str(i), str(r.case_id), cat, str(r.street), _day(r.reported_at), _day(r.deadline), state])
    lamps = _zone_broken_lamps(layers, zone.geometry)
    lrow = [[str(i), str(lid), str(st), "故障"] for i, (lid, st) in
            enumerate(zip(lamps["lamp_id"].astype(str), lamps["street"]), start=1)]
    overdue = cases["overdue"].to_numpy(dtype=bool) if len(cases) else np.zeros(0, bool)
    return crow, lrow, overdue


CASE_HEADER = ["序号", "案件编号", "案件类别", "位置（最近道路）", "上报时间", "处置时限", "状态", "核查"]
CASE_COLS = [0.0, 0.05, 0.215, 0.35, 0.61, 0.72, 0.83, 0.95]
LAMP_HEADER = ["序号", "路灯编号", "位置（最近道路）", "状态", "核查"]
LAMP_COLS = [0.0, 0.05, 0.28, 0.83, 0.95]


def _checklist_lines(crow, lrow, overdue, n_over, counts: ZoneCounts | None = None) -> list[tuple]:
    """The checklist as a flat list of lines: ("section", text), ("header", kind), ("row", kind, cells, red).

    ``counts`` (:meth:`_Layers.zone_counts`) says what is not known: without the cases layer the case
    section is 无数据, not "none open"; lamps whose status is not recorded are not "not broken".
    """
    if counts is not None and counts.open is None:
        lines: list[tuple] = [("section", "一、未结案件 无数据"), ("note", "未导入巡查案件图层：导入后重新生成本清单。")]
    else:
        lines = [("section", f"一、未结案件 {len(crow)} 件（其中超期 {n_over} 件）")]
        if crow:
            lines.append(("header", "case"))
            lines += [("row", "case", r + ["□"], bool(o)) for r, o in zip(crow, overdue)]
        else:
            lines.append(("note", "本责任区无未结案件。"))
    lines.append(("gap",))
    unknown = counts.unknown if counts is not None else 0
    if counts is not None and counts.lamps is None:
        return lines + [("section", "二、故障路灯 无数据"), ("note", "未导入路灯图层。")]
    if unknown and unknown == counts.lamps:
        return lines + [("section", "二、故障路灯 无数据"),
                        ("note", f"本责任区 {unknown} 盏路灯状态未知（如由 OpenStreetMap 导入），请巡查时逐盏核实。")]
    lines.append(("section", f"二、故障路灯 {len(lrow)} 盏" + (f"（另有 {unknown} 盏状态未知，请核实）" if unknown else "")))
    if lrow:
        lines.append(("header", "lamp"))
        lines += [("row", "lamp", r + ["□"], False) for r in lrow]
    elif not unknown:
        lines.append(("note", "本责任区无故障路灯。"))
    return lines


def _paginate(lines: list[tuple], per_page: int) -> list[list[tuple]]:
    """Split lines into pages of at most ``per_page``; a table continued on a new page repeats its header."""
    pages, page, current = [], [], None
    for line in lines:
        if line[0] == "section":
            current = None
        elif line[0] == "header":
            current = line[1]
        if len(page) >= per_page:
            pages.append(page)
            page = [("header", current)] if line[0] == "row" and current else []
        page.append(line)
    pages.append(page)
    return pages


def draw_checklist_pages(figure_factory, layers: _Layers, zone: pd.Series, *, date: dt.date | None = None,
                         as_of=None, family: str = CJK_FAMILY, rows_per_page: int = CHECKLIST_ROWS) -> list:
    """The zone's checklist (巡查清单) on A4 portrait pages: open cases and broken lamps, ids, nearest street.

    ``figure_factory(size)`` makes an empty figure; returns the figures drawn. Overdue cases are
    printed in red with their days overdue; a long list continues on further pages with the
    table header repeated and 第 i/n 页 at the foot.
    """
    fp = cjk_font(family)
    fpb = cjk_font(family, weight="bold")
    crow, lrow, overdue = checklist_rows(layers, zone)
    zid = str(zone["zone_id"])
    name = str(zone["name"]) if not _blank(zone.get("name")) else zid
    counts = layers.zone_counts(zid, zone.geometry)
    pages = _paginate(_checklist_lines(crow, lrow, overdue, int(overdue.sum()), counts), rows_per_page)
    stamp = layers.as_of
    date = date or dt.date.today()
    figs = []
    left, width = 0.07, 0.86
    for k, page in enumerate(pages, start=1):
        fig = figure_factory(PAPER_IN["A4"])
        text = PageText()
        text.add(left, 0.955, f"{name} 巡查清单" + ("（续）" if k > 1 else ""), fpb, 18, va="top")
        unit = "未填写" if _blank(zone.get("unit")) else str(zone["unit"])
        staff = "未填写" if _blank(zone.get("staff")) else str(zone["staff"])
        when = f"　　状态截至 {stamp:%Y-%m-%d %H:%M}" if stamp is not None else ""
        text.add(left, 0.925, f"责任区编号 {zid}　　责任单位 {unit}　　责任人 {staff}{when}", fp, 9.5, va="top")
        _checklist_body(fig, text, page, fp, fpb, left, width)
        text.add(left, 0.035, f"制图日期 {date:%Y-%m-%d}　　超期：未结且已过处置时限（与台账同一口径）　　核查后在□内打√",
                 fp, 8, color="#424242")
        text.add(left + width, 0.035, f"第 {k}/{len(pages)} 页", fp, 8, ha="right", color="#424242")
        fig.add_artist(text)
        figs.append(fig)
    return figs


def _checklist_body(fig, text: "PageText", page: list[tuple], fp, fpb, left: float, width: float) -> None:
    """One checklist page's sections, notes and table rows: text into ``text``, bands and rules onto ``fig``."""
    y, step = 0.885, 0.0215
    for line in page:
        kind = line[0]
        if kind == "section":
            y -= 0.006
            text.add(left, y, line[1], fpb, 11.5, va="top")
            y -= step * 1.25
        elif kind == "note":
            text.add(left + 0.02, y, line[1], fp, 9.5, va="top", color="#424242")
            y -= step
        elif kind == "gap":
            y -= step * 0.6
        else:
            head, cols = (CASE_HEADER, CASE_COLS) if line[1] == "case" else (LAMP_HEADER, LAMP_COLS)
            cells = head if kind == "header" else line[2]
            bold = kind == "header"
            color = "#b71c1c" if kind == "row" and line[3] else "black"
            if bold:
                fig.patches.append(_band(fig, left, y, width, step))
            for x, nxt, cell in zip(cols, cols[1:] + [1.0], cells):
                text.add(left + x * width, y - 0.003, cell, fpb if bold else fp,
                         _fit(cell, 8.3, (nxt - x) * width * PAPER_IN["A4"][0] - 0.06), va="top", color=color)
            y -= step
            fig.lines.append(_rule(fig, left, y + 0.002, width))


class PageText(Artist):
    """The single-line texts of one page (figure coordinates), drawn exactly as one ``fig.text`` each would be.

    A checklist page has ~300 table cells; as ``Text`` artists they cost ~1 ms each to lay out and
    draw, most of it per-artist bookkeeping (a ``_get_layout`` with the font's metric tables for
    every cell). This artist places each string as ``Text`` does for ``rotation=0`` (``ha`` left or
    right; ``va`` top: the line's ascent, at least the font's, below ``y``; ``va`` baseline: on
    ``y``) and hands it to the renderer's ``draw_text`` in the order added, so the PDF holds the
    same text operators. Strings with ``$`` (mathtext) or a line break fall back to a real ``Text``.
    """

    def __init__(self):
        super().__init__()
        self.set_zorder(3)   # where fig.text puts text: above the rules and bands
        self.cells: list[tuple] = []
        self._ascent: dict[tuple, float] = {}

    def add(self, x: float, y: float, s: str, fp, size: float, *, ha: str = "left", va: str = "baseline",
            color="black") -> None:
        """Queue ``s`` at figure fraction ``(x, y)`` in ``fp`` at ``size`` pt."""
        if ha not in ("left", "right") or va not in ("top", "baseline"):
            raise ValueError(f"PageText: ha {ha!r} / va {va!r} not supported")
        prop = fp.copy()
        prop.set_size(size)
        self.cells.append((x, y, str(s), prop, ha, va, color))

    def texts(self) -> list[str]:
        """The strings in drawing order (what a PDF text extraction reads)."""
        return [c[2] for c in self.cells]

    def _min_ascent(self, renderer, template: Text, prop) -> float:
        """The font's ascent at this size (what ``Text`` uses as the least ascent of a line)."""
        key = (hash(prop), self.get_figure(root=True).dpi)
        if key not in self._ascent:
            template.set_fontproperties(prop)
            template.set_text("")
            _, info, _ = template._get_layout(renderer)
            self._ascent[key] = info[0][1][1]   # (line, (width, ascent, descent), xy) of the empty line
        return self._ascent[key]

    def draw(self, renderer):
        if not self.get_visible():
            return
        fig = self.get_figure(root=True)
        template = Text(figure=fig)   # measures the font and is passed on as ``mtext`` (features, language)
        trans = fig.transFigure
        _, canvash = renderer.get_canvas_width_height()
        pdf = _PdfText.of(renderer, fig.dpi)
        antialiased = mpl.rcParams["text.antialiased"]
        for x, y, s, prop, ha, va, color in self.cells:
            if not s:
                continue
            if "$" in s or "\n" in s:
                self._draw_as_text(renderer, fig, x, y, s, prop, ha, va, color)
                continue
            posx, posy = trans.transform((x, y))
            shaped = pdf.shaped(s, prop, template) if pdf is not None else None
            if va == "top":
                if shaped is not None:
                    top = shaped[1]
                else:
                    w, h, d = _get_text_metrics_with_cache(renderer, s, prop, ismath=False, dpi=fig.dpi)
                    top = h - d
                posy -= max(top, self._min_ascent(renderer, template, prop))
            if ha == "right":
                posx -= _get_text_metrics_with_cache(renderer, s, prop, ismath=False, dpi=fig.dpi)[0]
            if renderer.flipy():
                posy = canvash - posy
            if shaped is not None:
                pdf.show(posx, posy, shaped[0], color)
                continue
            gc = renderer.new_gc()
            gc.set_foreground(mcolors.to_rgba(color), isRGBA=True)
            gc.set_alpha(None)
            gc.set_url(None)
            gc.set_antialiased(antialiased)
            gc.set_snap(None)
            gc.set_clip_path(None)
            template.set_fontproperties(prop)
            renderer.draw_text(gc, posx, posy, s, prop, 0.0, ismath=False, mtext=template)
            gc.restore()
            if pdf is not None:
                pdf.forget_color()   # draw_text set the renderer's colour
        self.stale = False

    def _draw_as_text(self, renderer, fig, x, y, s, prop, ha, va, color) -> None:
        t = Text(x, y, s, fontproperties=prop, ha=ha, va=va, color=color, transform=fig.transFigure, figure=fig)
        t.draw(renderer)


class RowLegend(Artist):
    """A frameless legend laid out as ``fig.legend(loc="lower center", ncol=…)`` lays it out, drawn in one pass.

    matplotlib's ``Legend`` packs every entry into offset boxes (a ``DrawingArea`` and a
    ``TextArea`` each) and measures them again at every draw: ~50 ms a patrol map, a sixth of the
    page. The layout here is the same arithmetic done once at draw time, in units of the legend's
    ``fontsize`` (points): entries split into ``ncol`` columns as ``numpy.array_split`` splits
    them (column by column, the first columns one longer, shorter columns aligned at the top);
    an entry is its handle box (``handlelength`` × 0.7 wide and high, bottom on the label's
    baseline), ``handletextpad`` and its label; rows ``labelspacing`` apart, columns
    ``columnspacing``; the block centred on ``anchor`` (figure fraction) with its bottom
    ``borderaxespad`` + ``borderpad`` above it. Handles are drawn as ``Legend``'s handlers draw
    them — a patch fills its box, a line crosses it at mid-height, a marker sits at its centre —
    and the labels through :class:`PageText`.

    ``get_texts()`` returns the labels (as ``Legend.get_texts`` does); after a draw, ``placed`` holds
    each label's ``(text, x, baseline)`` in display pixels.
    """

    def __init__(self, handles: list, prop, fontsize: float, anchor: tuple[float, float], *, ncol: int = 1,
                 handlelength: float = 2.0, handleheight: float = 0.7, handletextpad: float = 0.8,
                 labelspacing: float = 0.5, columnspacing: float = 2.0, borderpad: float = 0.4,
                 borderaxespad: float = 0.5):
        super().__init__()
        self.set_zorder(5)   # where fig.legend puts a legend
        self.handles, self.prop, self.fontsize, self.anchor, self.ncol = list(handles), prop, fontsize, anchor, ncol
        self.handlelength, self.handleheight, self.handletextpad = handlelength, handleheight, handletextpad
        self.labelspacing, self.columnspacing = labelspacing, columnspacing
        self.pad = borderpad + borderaxespad

    def get_texts(self) -> list[str]:
        return [h.get_label() for h in self.handles]

    def _label_box(self, renderer, template: Text, label: str, lp: tuple) -> tuple[float, float, float]:
        """``(width, ascent, descent)`` of a label in pixels, as ``TextArea.get_bbox`` takes them for one line."""
        template.set_text(label)
        bbox, info, _ = template._get_layout(renderer)
        descent = info[-1][1][2]
        return bbox.width, max(lp[1] - lp[2], bbox.height - descent), descent

    def draw(self, renderer):
        if not self.get_visible() or not self.handles:
            return
        from matplotlib.transforms import IdentityTransform

        fig = self.get_figure(root=True)
        unit = renderer.points_to_pixels(self.fontsize)
        template = Text(figure=fig, fontproperties=self.prop)
        lp = _get_text_metrics_with_cache(renderer, "lp", self.prop, ismath=False, dpi=fig.dpi)
        boxes = [self._label_box(renderer, template, h.get_label(), lp) for h in self.handles]
        handle_w, handle_h = self.handlelength * unit, self.handleheight * unit
        pad, sep, colsep = self.handletextpad * unit, self.labelspacing * unit, self.columnspacing * unit
        # a row: the handle box [0, handle_h] and the label [-descent, ascent] on one baseline
        tops = [max(handle_h, ascent) for _, ascent, _ in boxes]
        bottoms = [min(0.0, -descent) for _, _, descent in boxes]
        columns = [c for c in np.array_split(np.arange(len(self.handles)), self.ncol) if len(c)]
        baselines = np.zeros(len(self.handles))   # each row's baseline below its column's first baseline
        lowest = 0.0
        for entries in columns:
            for prev, k in zip(entries, entries[1:]):
                baselines[k] = baselines[prev] + bottoms[prev] - sep - tops[k]
            lowest = min(lowest, baselines[entries[-1]] + bottoms[entries[-1]])
        col_w = [handle_w + pad + max(boxes[k][0] for k in entries) for entries in columns]
        anchor_x, anchor_y = fig.transFigure.transform(self.anchor)
        first_baseline = anchor_y + self.pad * unit - lowest
        labels, placed = PageText(), []
        x = anchor_x - (sum(col_w) + colsep * (len(columns) - 1)) / 2
        to_fig = fig.transFigure.inverted()
        for entries, width in zip(columns, col_w):
            for k in entries:
                baseline = first_baseline + baselines[k]
                self._draw_handle(renderer, self.handles[k], x, baseline, handle_w, handle_h, IdentityTransform())
                label = self.handles[k].get_label()
                placed.append((label, x + handle_w + pad, baseline))
                labels.add(*to_fig.transform((x + handle_w + pad, baseline)), label, self.prop,
                           self.prop.get_size_in_points())
            x += width + colsep
        labels.set_figure(fig)
        labels.draw(renderer)
        self.placed = placed   # (label, x, baseline) in pixels, as last drawn
        self.stale = False

    def _draw_handle(self, renderer, handle, x, y, w, h, identity) -> None:
        """The handle in its box ``[x, x + w] × [y, y + h]`` (pixels), as the legend handlers draw it."""
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch, Rectangle

        fig = self.get_figure(root=True)
        if isinstance(handle, Patch):
            artist = Rectangle((x, y), w, h)
            artist.update_from(handle)
        elif handle.get_linestyle() in ("None", "", " ") or not handle.get_linestyle():
            artist = Line2D([x + w / 2], [y + h / 2])   # a marker at the centre (legend.numpoints = 1)
            artist.update_from(handle)
        else:
            artist = Line2D([x, x + w], [y + h / 2, y + h / 2])
            artist.update_from(handle)
            artist.set_marker("")
        artist.set_transform(identity)
        artist.set_clip_on(False)
        artist.set_figure(fig)
        artist.draw(renderer)


class _PdfText:
    """Unrotated single-line text written straight into a matplotlib PDF page, as ``RendererPdf.draw_text`` writes it.

    ``draw_text`` costs ~0.7 ms a string: it shapes the string (libraqm), loads every glyph's
    outline (unused), and writes each operator through its own ``output`` call; a checklist page
    has ~300 strings, many of them repeated (headers, dates, categories, □). This writes the same
    operators — ``q``, the text matrix, ``BT``, one ``Tf``/``Td``/``TJ`` per font chunk with the
    shaper's kerns, ``ET``, ``Q`` — from the same shaping (``FT2Font._layout``) and through the same
    font subsetting (the file's character tracker, so the embedded subset and its ToUnicode map
    hold every glyph). A string is shaped and encoded once per PDF file and font size; its ink top
    (``h - d`` of its metrics) is the top of its glyphs' boxes, each loaded once. The fill colour
    goes through the renderer's own graphics-state bookkeeping (``check_gc``).

    :meth:`of` returns None — and :class:`PageText` draws through ``draw_text`` — for any other
    renderer (Agg for PNGs), for Type 3 or core fonts, or when this matplotlib lacks the internals
    used (``_character_tracker.track_glyph``, ``_encode_glyphs``), so a matplotlib upgrade can only
    make it slower, not wrong; the test compares its pages with ``fig.text``'s.
    """

    #: PdfFile → its caches (held weakly: they go with the file)
    _FILES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()

    def __init__(self, pdf):
        self.pdf, self.file = pdf, pdf.file
        cache = self._FILES.setdefault(self.file, {"shaped": {}, "metrics": {}, "tops": {}, "fonts": {}, "glyphs": {},
                                                   "names": {}, "heights": {}})
        self._shaped: dict[tuple, tuple | None] = cache["shaped"]   # (prop, s, features, language) → (ops, top)
        self.metrics: dict[tuple, tuple] = cache["metrics"]          # (prop, s) → (w, h, d)
        self.heights: dict = cache["heights"]                          # prop → (ascent, descent, line gap)
        self._tops: dict[tuple, float] = cache["tops"]               # (font, face, size, glyph) → box top
        self._fonts: dict = cache["fonts"]                             # prop → its FT2Font (with fallbacks)
        self._glyphs: dict = cache["glyphs"]                           # (FT2Font, char, glyph) → (subset, code)
        self._names: dict = cache["names"]                             # (FT2Font, subset) → the font's PDF name
        self._gcs: dict = {}
        self._color = None

    @classmethod
    def of(cls, renderer, dpi: float) -> "_PdfText | None":
        from matplotlib.backends.backend_mixed import MixedModeRenderer
        from matplotlib.backends.backend_pdf import RendererPdf

        pdf = renderer._renderer if isinstance(renderer, MixedModeRenderer) else renderer
        usable = (isinstance(pdf, RendererPdf) and dpi == 72 and mpl.rcParams["pdf.fonttype"] == 42
                  and not mpl.rcParams["pdf.use14corefonts"] and hasattr(pdf, "_encode_glyphs")
                  and hasattr(getattr(pdf.file, "_character_tracker", None), "track_glyph"))
        return cls(pdf) if usable else None

    def shaped(self, s: str, prop, template: Text) -> tuple[bytes, float] | None:
        """``(the string's text operators between BT and ET, its ink top in points)``, or None when
        a glyph is raised or lowered (``draw_text`` writes those with a text rise)."""
        features, language = template.get_fontfeatures(), template.get_language()
        key = (prop, s, features, language)   # FontProperties hash and compare by family, style, weight, size …
        if key not in self._shaped:
            from matplotlib.ft2font import LoadFlags

            font = self._font(prop)
            size = prop.get_size_in_points()
            items = list(font._layout(s, LoadFlags.NO_HINTING, features=features, language=language))
            self._shaped[key] = None if any(item.y for item in items) else (self._encode(items, size),
                                                                           self._top(items, size))
        return self._shaped[key]

    def _font(self, prop):
        """``RendererPdf._get_font_ttf(prop)`` (the font, cleared, at the size), its font lookup done once per
        properties: ``get_font`` hands back the same cached FT2Font for the same files, and the size is set
        again each time because the renderer's own text may have set another on it since."""
        font = self._fonts.get(prop)
        if font is None:
            font = self._fonts[prop] = self.pdf._get_font_ttf(prop)
        else:
            font.clear()
            font.set_size(prop.get_size_in_points(), 72)
        return font

    def _top(self, items: list, size: float) -> float:
        """The highest glyph box top on the baseline: the top of the string's box, which ``h - d`` measures."""
        from matplotlib.ft2font import LoadFlags

        top = 0.0
        for item in items:
            font = item.ft_object
            key = (font.fname, font.face_index, size, item.glyph_index)
            if key not in self._tops:
                self._tops[key] = font.load_glyph(item.glyph_index, flags=LoadFlags.NO_HINTING).bbox[3] / 64
            top = max(top, self._tops[key])
        return top

    def _encode(self, items: list, size: float) -> bytes:
        """``draw_text``'s operators for the shaped glyphs (font chunks, kerns), the glyphs tracked for the subset."""
        from matplotlib.backends.backend_pdf import Op, _fill
        from matplotlib.font_manager import FontPath

        ops: list = []
        chunk: list = []
        prev_font, prev_start_x = None, 0

        def flush():
            if chunk:
                ops.extend([[(-1000 * next(group) / size) if tp is float else self.pdf._encode_glyphs(group, 42)
                             for tp, group in itertools.groupby(chunk, type)], Op.showkern])
                chunk.clear()

        for item in items:
            subset, charcode = self._track(item)
            if (item.ft_object, subset) != prev_font:
                flush()
                name = self._names.get((item.ft_object, subset))
                if name is None:
                    name = self._names[item.ft_object, subset] = self.file.fontName(
                        FontPath(item.ft_object.fname, item.ft_object.face_index), subset)
                ops.extend([name, size, Op.selectfont, item.x - prev_start_x, 0, Op.textpos])
                prev_font, prev_start_x = (item.ft_object, subset), item.x
            if item.prev_kern:
                chunk.append(item.prev_kern)
            chunk.append(charcode)
        flush()
        return _fill([_pdf_repr(op) for op in ops])

    def _track(self, item) -> tuple:
        """The file's ``track_glyph`` of a shaped glyph (its subset and code there), asked once per glyph: the
        tracker answers a glyph it holds with what it gave the first time, so the answer is kept here."""
        key = (item.ft_object, item.char, item.glyph_index)
        found = self._glyphs.get(key)
        if found is None:
            found = self._glyphs[key] = self.file._character_tracker.track_glyph(*key)
        return found

    def show(self, x: float, y: float, operators: bytes, color) -> None:
        """Write a shaped string's operators at ``(x, y)`` (points) in ``color``."""
        self._set_color(color)
        self.write(x, y, operators)

    def write(self, x: float, y: float, operators: bytes, angle: float = 0.0) -> None:
        """A shaped string's operators at ``(x, y)`` (points), turned by ``angle``°, in the page's fill colour:
        ``q``, the matrix ``draw_text`` concatenates, ``BT`` … ``ET``, ``Q``."""
        a = math.radians(angle)
        matrix = b" ".join(_pdf_repr(float(v)) for v in (math.cos(a), math.sin(a), -math.sin(a), math.cos(a), x, y))
        self.file.write(b"q %s cm BT\n%s\nET Q\n" % (matrix, operators))

    def forget_color(self) -> None:
        """Another drawing changed the page's fill colour: set it again before the next string."""
        self._color = None

    def _set_color(self, color) -> None:
        if color == self._color:
            return
        if color not in self._gcs:
            gc = self.pdf.new_gc()
            gc.set_foreground(mcolors.to_rgba(color), isRGBA=True)
            self._gcs[color] = gc
        gc = self._gcs[color]
        self.pdf.check_gc(gc, gc._rgb)
        self._color = color


def _pdf_repr(obj) -> bytes:
    """``backend_pdf.pdfRepr(obj)``, its common cases first: a page's operators are mostly floats, ints, strings
    and arrays, and ``pdfRepr`` reached a float after an attribute lookup and a chain of ``isinstance`` checks
    (~300 000 values in the demo's patrol maps). Names, operators and anything else go to ``pdfRepr`` itself;
    the test compares the two on every kind of value.

    The first call puts the function :func:`_pdf_repr_function` builds in this name's place: it binds
    matplotlib's PDF backend, which is imported only once a PDF is drawn (a third of a second).
    """
    global _pdf_repr
    _pdf_repr = _pdf_repr_function()
    return _pdf_repr(obj)


def _pdf_repr_function():
    """:func:`_pdf_repr` with the PDF backend's helpers bound (built once, on first use)."""
    from matplotlib.backends.backend_pdf import _fill, _str_escapes, pdfRepr

    isfinite, float64 = math.isfinite, np.float64

    def pdf_repr(obj) -> bytes:
        kind = type(obj)
        if kind is float or kind is float64:
            if not isfinite(obj):
                raise ValueError("Can only output finite numbers in PDF")
            return (b"%.10f" % obj).rstrip(b"0").rstrip(b".")
        if kind is int:
            return b"%d" % obj
        if kind is bytes:
            return b"(" + obj.decode("latin-1").translate(_str_escapes).encode("latin-1") + b")"
        if kind is list or kind is tuple:
            return _fill([b"[", *[pdf_repr(value) for value in obj], b"]"])
        return pdfRepr(obj)

    pdf_repr.__doc__ = _pdf_repr.__doc__
    return pdf_repr


def _text_renderer_pdf_class(fast_output: bool = True):
    """``RendererPdf`` whose text goes through :class:`_PdfText` (defined on first use: matplotlib's backend
    is imported only when a PDF is drawn). ``fast_output``: markers written through :func:`_pdf_repr` in one
    batch (else ``RendererPdf.draw_markers`` as it is: the test's reference)."""
    from matplotlib.backends.backend_pdf import Op, RendererPdf, _fill

    class TextRendererPdf(RendererPdf):
        """``RendererPdf`` that shapes and encodes each string once per PDF file and measures it once.

        ``draw_text`` (any angle, no mathtext, no link) writes the operators :class:`_PdfText` caches —
        the same as ``RendererPdf.draw_text``'s, with the rotation in the ``cm`` matrix as it puts it —
        and ``get_text_width_height_descent`` keeps each string's metrics for the file: matplotlib
        caches them per renderer, and a PDF page is a new renderer, so a street name, a legend label or a
        footer was measured again on every page.
        """

        def __init__(self, file, *args):
            super().__init__(file, *args)
            self._text = _PdfText.of(self, 72)

        def draw_markers(self, gc, marker_path, marker_trans, path, trans, rgbFace=None):
            """``RendererPdf.draw_markers`` (matplotlib 3.11) with its one line per marker (``1 0 0 1 dx dy cm
            /M Do``, dx and dy from the last marker) written in one batch through :func:`_pdf_repr`: lamps and
            cases are hundreds of markers a page, each an ``output`` call of nine values."""
            if not fast_output or len(marker_path) * len(path) < len(marker_path) + len(path) + 5:
                return super().draw_markers(gc, marker_path, marker_trans, path, trans, rgbFace)
            self.check_gc(gc, rgbFace)
            marker = self.file.markerObject(marker_path, marker_trans, gc.fill(rgbFace), gc.stroke(),
                                            self.gc._linewidth, gc.get_joinstyle(), gc.get_capstyle())
            head, tail = [b"1", b"0", b"0", b"1"], [Op.concat_matrix.pdfRepr(), marker.pdfRepr(), Op.use_xobject.pdfRepr()]
            width, height = self.file.width * 72, self.file.height * 72
            lines = []
            lastx, lasty = 0, 0
            for vertices, _ in path.iter_segments(trans, clip=(0, 0, width, height), simplify=False):
                if len(vertices):
                    x, y = vertices[-2:]
                    if not (0 <= x <= width and 0 <= y <= height):
                        continue
                    lines.append(_fill([*head, _pdf_repr(x - lastx), _pdf_repr(y - lasty), *tail]) + b"\n")
                    lastx, lasty = x, y
            self.file.output(Op.gsave)
            self.file.write(b"".join(lines))
            self.file.output(Op.grestore)

        def _get_font_height_metrics(self, prop):
            """What ``Text._get_layout`` finds for a TrueType font without this method (its own lookup: the first
            font's OS/2 or hhea ascent, descent and line gap at the page's 72 dpi), found once per file: the
            lookup (``findfont``, two table reads through the font's Python stream) cost ~0.1 ms per text drawn."""
            found = super()._get_font_height_metrics(prop)
            if None not in found or self._text is None:   # an AFM font's own metrics, or not our page
                return found
            heights = self._text.heights
            if prop not in heights:
                heights[prop] = _font_height_metrics(prop, 72)
            return heights[prop]

        def get_text_width_height_descent(self, s, prop, ismath):
            if ismath or self._text is None:
                return super().get_text_width_height_descent(s, prop, ismath)
            metrics = self._text.metrics
            key = (prop, s)
            if key not in metrics:
                metrics[key] = super().get_text_width_height_descent(s, prop, ismath)
            return metrics[key]

        def draw_text(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
            shaped = None
            if not ismath and gc.get_url() is None and self._text is not None:
                shaped = self._text.shaped(s, prop, mtext if mtext is not None else _PLAIN_TEXT)
            if shaped is None:
                return super().draw_text(gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)
            self.check_gc(gc, gc._rgb)
            self._text.forget_color()   # check_gc set the page's fill colour
            self._text.write(x, y, shaped[0], angle)

    return TextRendererPdf


def _font_height_metrics(prop, dpi: float) -> tuple:
    """``(ascent, descent, line gap)`` of ``prop``'s first font at ``dpi`` as ``Text._get_layout`` (matplotlib 3.11)
    computes them when its renderer has none, or ``(None, None, None)`` when the font has neither table."""
    from matplotlib.font_manager import fontManager, get_font

    font = get_font(fontManager._find_fonts_by_props(prop))
    for table_name, linegap_key, ascent_key, descent_key in (("OS/2", "sTypoLineGap", "sTypoAscender", "sTypoDescender"),
                                                            ("hhea", "lineGap", "ascent", "descent")):
        table = font.get_sfnt_table(table_name)
        if table is None:
            continue
        scale = 1 / font.get_sfnt_table("head")["unitsPerEm"] * prop.get_size_in_points() * dpi / 72
        return table[ascent_key] * scale, -table[descent_key] * scale, table[linegap_key] * scale
    return None, None, None


class _NoFeatures:
    """What ``draw_text`` reads of its ``mtext`` when it has none: no font features, no language."""

    @staticmethod
    def get_fontfeatures():
        return None

    @staticmethod
    def get_language():
        return None


_PLAIN_TEXT = _NoFeatures()


def _pdf_canvas_class(fast_output: bool = True):
    """A PDF canvas drawing with :func:`_text_renderer_pdf_class`'s renderer; otherwise ``FigureCanvasPdf``.
    ``fast_output``: the file's operators written through :func:`_pdf_repr` (and the markers batched)."""
    from matplotlib.backends.backend_mixed import MixedModeRenderer
    from matplotlib.backends.backend_pdf import FigureCanvasPdf, PdfPages, _fill

    def output(file, *data) -> None:
        """``PdfFile.output``: the operators joined and wrapped as ``_fill`` wraps them, then a line end."""
        file.write(_fill([_pdf_repr(x) for x in data]) + b"\n")

    renderer_class = _text_renderer_pdf_class(fast_output)

    class TextCanvasPdf(FigureCanvasPdf):
        def print_pdf(self, filename, *, bbox_inches_restore=None, metadata=None, **_):
            """``FigureCanvasPdf.print_pdf`` (matplotlib 3.11) onto a ``PdfPages`` page, with the renderer above."""
            if not isinstance(filename, PdfPages):
                raise TypeError("TextCanvasPdf draws pages of a PdfPages")
            dpi = self.figure.dpi
            self.figure.dpi = 72  # there are 72 pdf points to an inch
            width, height = self.figure.get_size_inches()
            file = filename._ensure_file()
            if fast_output and "output" not in vars(file):
                file.output = functools.partial(output, file)   # this file's operators through _pdf_repr
            try:
                file.newPage(width, height)
                renderer = MixedModeRenderer(self.figure, width, height, dpi,
                                             renderer_class(file, dpi, height, width),
                                             bbox_inches_restore=bbox_inches_restore)
                self.figure.draw(renderer)
                renderer.finalize()
            finally:
                file.endStream()

    return TextCanvasPdf


def _fit(text: str, size: float, width_in: float) -> float:
    """The font size (pt) at which ``text`` fits ``width_in`` inches: CJK glyphs 1 em wide, others ~0.55 em."""
    ems = sum(1.0 if ord(c) > 0x2E80 else 0.56 for c in text)
    return min(size, 72 * width_in / max(ems, 1e-9))


def _band(fig, x, y, w, h):
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.005, y - h + 0.002), w + 0.01, h, transform=fig.transFigure, facecolor="#eeeeee",
                     edgecolor="none", zorder=-1)


def _rule(fig, x, y, w):
    from matplotlib.lines import Line2D

    return Line2D([x - 0.005, x + w + 0.005], [y, y], transform=fig.transFigure, color="#dddddd", linewidth=0.5)


@batch_collector()   # many short-lived artists; workers forked from here share the layers' pages
def render_patrol_maps(ws, zone_ids=None, out_dir="patrol_maps", fmt: str = "pdf", paper: str = "A4",
                       progress: bool = True, *, combined: bool | None = None, date: dt.date | None = None,
                       as_of=None, dpi: int = 150, family: str = CJK_FAMILY,
                       subset_fonts: bool | None = None, checklist: bool = True,
                       workers: int | None = None, states=None) -> list[Path]:
    """Render one patrol map per zone (and its checklist pages) into ``out_dir``; returns the files written.

    Parameters
    ----------
    ws : Workspace or Layers
    zone_ids : list of str, optional
        Zones to render (default: every zone).
    out_dir : path
        Output folder (created). Files are ``patrol_<zone_id>.<fmt>``; a PDF holds the map and
        then the checklist pages, PNGs put each checklist page in ``patrol_<zone_id>_checklist<k>.png``.
    fmt : {"pdf", "png"}
    paper : {"A4", "A3"}
        Page size of the map; the orientation follows the zone's shape. Checklists are A4 portrait.
    progress : bool
        Show a progress bar on stderr.
    combined : bool, optional
        Also write ``patrol_maps.pdf`` with every zone's pages (default: when ``fmt == "pdf"`` and
        every zone is rendered). It is the last path returned.
    date : date, optional
        Date printed on the map (default today). ``as_of``: the instant case states are taken at
        (:func:`civgis.analysis.cases.case_states`).
    dpi : int
        PNG resolution.
    subset_fonts : bool, optional
        Embed a once-per-run subset of the CJK font (default: for PDFs; see :func:`subset_cjk_family`).
    checklist : bool
        Add the checklist pages (open cases and broken lamps with ids, nearest street, deadlines).
    workers : int, optional
        Processes drawing pages in parallel (default ``os.cpu_count()``; one zone is drawn in this
        process).
    states : DataFrame, optional
        :func:`civgis.analysis.cases.case_states` of the inspections layer at ``as_of``, when the
        caller has them (a report run computes them once); checked against the layer.

    Notes
    -----
    Each page is drawn once. For PDFs each worker draws its share of the zones into one PDF, so
    matplotlib embeds (subsets) the CJK font once per worker rather than once per file; the
    per-zone PDFs and the combined PDF are then copied page by page out of those (pikepdf). On the
    demo county (50 zones, 2 cores) embedding the font was ~35 % of the time when every zone's
    PDF embedded it (bench/bench_maps.py ``--render``). Polygons and lines are matplotlib
    collections built from vectorised shapely coordinates
    (:func:`civgis.render.mapcontext.add_polygons`, :func:`~civgis.render.mapcontext.add_lines`),
    each checklist page's text is one :class:`PageText`, and the font subset is kept between runs
    (:func:`civgis.render.fonts.subset_cjk_family`): the same pages, pixel for pixel, in less time
    (bench/bench_maps.py ``--patrol``).
    """
    fmt = fmt.lower()
    if fmt not in ("pdf", "png"):
        raise PrintMapError(f"format must be pdf or png, not {fmt!r}")
    paper = paper.upper()
    if paper not in PAPER_IN:
        raise PrintMapError(f"paper must be one of {sorted(PAPER_IN)}, not {paper!r}")
    cjk_font(family)  # fail before any work when the font is missing

    layers = _Layers(ws, as_of, states)
    ids = layers.zones["zone_id"].astype(str)
    every = zone_ids is None
    if every:
        wanted = list(ids)
    else:
        wanted = [str(z) for z in ([zone_ids] if isinstance(zone_ids, str) else zone_ids)]
        unknown = [z for z in wanted if z not in set(ids)]
        if unknown:
            raise PrintMapError(f"zones: no zone_id {unknown}; known: {', '.join(ids[:30])}"
                                + (" …" if len(ids) > 30 else ""))
    if combined is None:
        combined = every and fmt == "pdf"
    if subset_fonts is None:
        subset_fonts = fmt == "pdf"
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if subset_fonts:
        family = subset_cjk_family(_map_text(layers, wanted), family)
    job = _Job(layers=layers, out_dir=out_dir, fmt=fmt, paper=paper, date=date, as_of=as_of, dpi=dpi, family=family,
               checklist=checklist, font_files=subset_font_files(family))
    workers = min(len(wanted), workers or os.cpu_count() or 1)
    if fmt == "png":
        return [p for paths in _run_tasks(job, _png_zone, [[z] for z in wanted], workers, progress) for p in paths]
    _pdf_modules()   # imported here, before the workers fork: they share them instead of each importing them
    with tempfile.TemporaryDirectory(prefix=".patrol-", dir=out_dir) as tmp:
        job.tmp = Path(tmp)
        parts = _draw_pdf_chunks(job, wanted, workers, progress)
        files = {zid: path for part in parts for zid, path in zip(part.zone_ids, part.zone_files)}
        written = [files[zid] for zid in wanted]
        if combined:
            written.append(_combine_pdfs(parts, wanted, out_dir / "patrol_maps.pdf"))
    return written


@dataclass
class _Chunk:
    """One worker's PDF: the zones it drew (in the order it drew them), their page counts and split-out files."""

    path: Path
    zone_ids: list[str]
    pages: list[int]
    zone_files: list[Path]


class _ZoneQueue:
    """The zones still to draw, shared by the workers: each takes the next one when it is free.

    Every worker draws into one PDF of its own (matplotlib subsets the CJK font once per PDF file,
    so once per worker), but which zones go into it is decided as the pages are drawn, not split
    in equal counts beforehand: zones differ in what they hold (the town centre's pages take
    longer), and a fixed half each left one core idle for the last 0.4-0.5 s of the demo's
    patrol maps while the other finished its share. ``counters`` is a shared array
    ``[taken, drawn]`` (inherited by forked workers, handed to spawned ones when they start).
    """

    def __init__(self, zone_ids: list[str], counters):
        self.zone_ids, self.counters = list(zone_ids), counters

    def __iter__(self):
        while True:
            with self.counters.get_lock():
                taken = self.counters[0]
                if taken >= len(self.zone_ids):
                    return
                self.counters[0] = taken + 1
            yield self.zone_ids[taken]
            with self.counters.get_lock():
                self.counters[1] += 1

    @property
    def drawn(self) -> int:
        return self.counters[1]


def _draw_pdf_chunks(job: "_Job", wanted: list[str], workers: int, progress: bool) -> list[_Chunk]:
    """Every wanted zone's pages drawn by ``workers`` processes taking zones from one queue; their chunks."""
    import multiprocessing as mp

    method = "fork" if fork_is_safe() else "spawn"
    ctx = mp.get_context(method)
    queue = _ZoneQueue(wanted, ctx.Array("i", 2))
    bar = _progress(total=len(wanted), desc="巡查图", unit="幅") if progress else None
    try:
        if workers <= 1:
            chunks = [_pdf_chunk(job, queue, 0)]
        else:
            chunks = _pdf_chunks_in_pool(job, queue, workers, ctx, bar)
        if bar is not None:
            bar.update(queue.drawn - bar.n)
    finally:
        if bar is not None:
            bar.close()
    return [c for c in chunks if c.zone_ids]


def _pdf_chunks_in_pool(job: "_Job", queue: _ZoneQueue, workers: int, ctx, bar) -> list[_Chunk]:
    """One chunk per worker process, the progress bar following the zones drawn while they run."""
    from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait

    if ctx.get_start_method() == "fork":
        freeze_before_fork()
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(job, queue)) as pool:
        futures = [pool.submit(_pdf_worker, k) for k in range(workers)]
        while True:
            done, running = wait(futures, timeout=0.25, return_when=FIRST_EXCEPTION)
            if bar is not None:
                bar.update(queue.drawn - bar.n)
            if not running or any(f.exception() for f in done):
                break
        return [f.result() for f in futures]   # a worker's error raised here


def _pdf_modules() -> None:
    """Import what drawing and splitting the PDFs needs (matplotlib's PDF backend with fontTools' subsetter,
    pikepdf: ~0.2 s), so that workers forked afterwards have it; a spawned worker imports it itself."""
    import matplotlib.backends.backend_mixed  # noqa: F401
    import matplotlib.backends.backend_pdf  # noqa: F401
    import pikepdf  # noqa: F401


class _Job:
    """What every page of one run needs (sent once to each worker process)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


_JOB: list[_Job] = []


def _init_worker(job: _Job, queue: _ZoneQueue | None = None) -> None:
    register_font_files(job.font_files)   # spawned workers do not share the parent's font manager
    _JOB[:] = [job, queue]


def _pdf_worker(k: int) -> _Chunk:
    """Worker ``k``'s chunk: the zones it takes from the run's queue, drawn into one PDF."""
    return _pdf_chunk(_JOB[0], _JOB[1], k)


def _in_worker(task):
    fn, zids = task
    return fn(_JOB[0], zids)


def _run_tasks(job: _Job, fn, tasks: list[list[str]], workers: int, progress: bool) -> list:
    """``fn(job, zone_ids)`` for every task, in order: in this process for one worker, else in a process pool."""
    import multiprocessing as mp

    # fork shares the parsed layers and fonts at no cost; with other threads alive fork is unsafe
    method = "fork" if fork_is_safe() else "spawn"
    bar = _progress(total=sum(map(len, tasks)), desc="巡查图", unit="幅") if progress else None
    out = []
    if workers <= 1:
        results = (fn(job, t) for t in tasks)
    else:
        from concurrent.futures import ProcessPoolExecutor

        if method == "fork":
            freeze_before_fork()
        pool = ProcessPoolExecutor(workers, mp_context=mp.get_context(method), initializer=_init_worker,
                                   initargs=(job,))
        results = pool.map(_in_worker, [(fn, t) for t in tasks])
    try:
        for task, res in zip(tasks, results):
            out.append(res)
            if bar is not None:
                bar.update(len(task))
    finally:
        if workers > 1:
            pool.shutdown(cancel_futures=True)
        if bar is not None:
            bar.close()
    return out


def _zone_pages(job: _Job, zid: str):
    """One zone's row and its pages (map, then checklist), each drawn once."""
    from matplotlib.figure import Figure

    layers = job.layers
    zone = layers.zones.iloc[layers.zone_row[zid]]
    minx, miny, maxx, maxy = zone.geometry.bounds
    w, h = PAPER_IN[job.paper]
    size = (h, w) if (maxx - minx) > 1.15 * (maxy - miny) else (w, h)
    fig = Figure(figsize=size)  # no pyplot: nothing global, nothing to close
    draw_patrol_map(fig, layers, zone, paper=job.paper, date=job.date, as_of=job.as_of, family=job.family)
    pages = [fig]
    if job.checklist:
        pages += draw_checklist_pages(lambda s: Figure(figsize=s), layers, zone, date=job.date, as_of=job.as_of,
                                      family=job.family)
    return zone, pages


def _png_zone(job: _Job, zids: list[str]) -> list[Path]:
    """PNG files of one zone: ``patrol_<id>.png`` and ``patrol_<id>_checklist<k>.png``."""
    import matplotlib

    (zid,) = zids
    with matplotlib.rc_context(cjk_rc(job.family)):
        zone, pages = _zone_pages(job, zid)
        stem = f"patrol_{_safe(zid)}"
        paths = [job.out_dir / f"{stem}.png"] + [job.out_dir / f"{stem}_checklist{k}.png" for k in range(1, len(pages))]
        for page, path in zip(pages, paths):
            save_png(page, path, dpi=job.dpi)
    return paths


def _pdf_chunk(job: _Job, zids, k: int = 0) -> _Chunk:
    """The pages of the zones ``zids`` yields in one PDF (one font subset), then each zone's own PDF copied
    out of it (:func:`_split_pdfs`, here in the worker, beside the other workers). A worker that finds no
    zone left writes nothing."""
    import contextlib

    import matplotlib
    from matplotlib.backends.backend_pdf import PdfPages

    path = job.tmp / f"chunk_{k}.pdf"
    counts = []
    canvas_class = _pdf_canvas_class()
    rc = cjk_rc(job.family) | {"pdf.compression": PDF_COMPRESS_LEVEL}
    with matplotlib.rc_context(rc), contextlib.ExitStack() as stack:
        pdf = None
        for zid in zids:
            if pdf is None:   # opened with the first zone taken
                pdf = stack.enter_context(PdfPages(path))
            zone, pages = _zone_pages(job, zid)
            for page in pages:
                canvas_class(page)
                page.savefig(pdf, format="pdf")   # the page's own canvas (PdfPages.savefig would swap it)
            counts.append((zid, str(zone["name"]), len(pages)))
    files = _split_pdfs([(path, counts)], job.out_dir) if counts else []
    return _Chunk(path, [zid for zid, _, _ in counts], [n for _, _, n in counts], files)


def _split_pdfs(parts, out_dir: Path) -> list[Path]:
    """``patrol_<id>.pdf`` per zone: its pages copied out of the chunk PDFs (nothing drawn again).

    pikepdf (qpdf) copies a page with the objects it uses — the chunk's one font subset among
    them — in C++: on the demo (104 pages into 50 files) pypdf's object-by-object cloning took
    ~6 s of one core, qpdf a few tenths of a second.
    """
    import pikepdf

    written = []
    for chunk, counts in parts:
        with pikepdf.open(chunk) as source:
            start = 0
            for zid, name, n in counts:
                path = out_dir / f"patrol_{_safe(zid)}.pdf"
                _write_pages(source.pages[start:start + n], f"{name} 巡查责任区图", path)
                written.append(path)
                start += n
    return written


def _write_pages(pages, title: str, path: Path) -> None:
    """A new PDF of ``pages`` (pikepdf pages of open files) with a title, written to ``path``."""
    import pikepdf

    with pikepdf.new() as pdf:
        pdf.pages.extend(pages)
        pdf.docinfo["/Title"] = title
        pdf.docinfo["/Creator"] = "civgis"
        pdf.save(path)


def _combine_pdfs(chunks: list[_Chunk], zone_ids: list[str], target: Path) -> Path:
    """One PDF of every zone's pages in ``zone_ids`` order, copied out of the workers' chunks (pikepdf; nothing is
    drawn again)."""
    import contextlib

    import pikepdf

    tmp = target.with_suffix(".tmp.pdf")
    with contextlib.ExitStack() as stack:
        where = {}
        for chunk in chunks:
            source = stack.enter_context(pikepdf.open(chunk.path))
            starts = np.r_[0, np.cumsum(chunk.pages)[:-1]]
            where.update({zid: (source, int(start), n) for zid, start, n in zip(chunk.zone_ids, starts, chunk.pages)})
        pages = [pg for zid in zone_ids for source, start, n in [where[zid]] for pg in source.pages[start:start + n]]
        _write_pages(pages, "巡查责任区图", tmp)
    os.replace(tmp, target)
    return target
