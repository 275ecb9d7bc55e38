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
>>> paths = render_patrol_maps(ws, ["Z01"], "out", fmt="png", paper="A4")   # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from civgis.analysis.cases import case_states
from civgis.progress import progress as _progress
from civgis.render.fonts import CJK_FAMILY, RenderError, cjk_font, cjk_rc, subset_cjk_family
from civgis.store.catalogue import layer_spec
from civgis.store.inert import safe_stem

__all__ = ["PAPER_IN", "PX_TO_PT", "PrintMapError", "draw_patrol_map", "render_patrol_maps"]

#: paper sizes in inches (portrait width, height)
PAPER_IN = {"A4": (8.27, 11.69), "A3": (11.69, 16.54)}
#: web-style weights (px) → printed line widths (pt)
PX_TO_PT = 0.6


class PrintMapError(RenderError):
    """A patrol map cannot be made (no CJK font, unknown zone, bad paper size …)."""


def _map_text(layers: "_Layers", zone_ids: list[str]) -> str:
    """Every character a patrol map of these zones can print (data fields, templates, catalogue labels)."""
    import string

    parts = [string.printable, "，。：；、（）《》·✕—…㎡", Path(__file__).read_text(encoding="utf-8")]
    for col in ("zone_id", "name", "unit", "staff", "phone"):
        if col in layers.zones:
            parts.append("".join(layers.zones[col].dropna().astype(str)))
    if layers.roads is not None and "name" in layers.roads:
        parts.append("".join(layers.roads["name"].dropna().astype(str).unique()))
    for layer in ("roads", "lamps", "inspections", "zones"):
        spec = layer_spec(layer)
        parts.append(spec.title_zh + "".join(f.label() + "".join(f.values.values()) for f in spec.fields.values()))
    if layers.crs is not None:
        parts.append(layers.crs.name)
    return "".join(parts)


def _style(layer: str) -> dict:
    return layer_spec(layer).style


def _nice_length(target_m: float) -> float:
    """The largest 1/2/5×10^k metres not above ``target_m``."""
    exp = 10 ** math.floor(math.log10(max(target_m, 1e-9)))
    for m in (5, 2, 1):
        if m * exp <= target_m:
            return m * exp
    return exp


def _fmt_m(m: float) -> str:
    return f"{m / 1000:g} 千米" if m >= 1000 else f"{m:g} 米"


def _safe(name: str) -> str:
    """Unique, length-bounded file-name stem of a zone id (:func:`civgis.store.inert.safe_stem`)."""
    return safe_stem(name)


def _blank(v) -> bool:
    return v is None or (not isinstance(v, str) and pd.isna(v)) or not str(v).strip()


class _Layers:
    """The workspace layers read once, with spatial indexes for per-page subsets."""

    def __init__(self, ws):
        self.crs = ws.crs
        self.zones = ws.read("zones").reset_index(drop=True)
        self.built_up = ws.read_optional("built_up")
        self.roads = ws.read_optional("roads")
        self.lamps = ws.read_optional("lamps")
        self.toilets = ws.read_optional("toilets")
        self.green = ws.read_optional("green")
        self.inspections = ws.read_optional("inspections")
        if self.inspections is not None:
            self.inspections = self.inspections[self.inspections["status"].astype("string").fillna("") == "open"]

    @staticmethod
    def within(gdf, bounds):
        if gdf is None or len(gdf) == 0:
            return None
        idx = gdf.sindex.query(shapely.box(*bounds))
        return gdf.iloc[np.sort(idx)]


def _view(bounds, ax_w_in: float, ax_h_in: float, pad: float = 0.07):
    """Map limits around ``bounds`` padded and stretched to the axes' aspect ratio (equal scale)."""
    x0, y0, x1, y1 = bounds
    w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w, h = w * (1 + 2 * pad), h * (1 + 2 * pad)
    aspect = ax_w_in / ax_h_in
    if w / h > aspect:
        h = w / aspect
    else:
        w = h * aspect
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def _road_labels(roads: gpd.GeoDataFrame, clip_geom, min_len: float) -> list[tuple[float, float, float, str]]:
    """One (x, y, angle°, name) per road name: the midpoint of its longest merged piece inside ``clip_geom``."""
    if roads is None or "name" not in roads:
        return []
    named = roads[roads["name"].notna() & (roads["name"].astype("string").str.strip() != "")]
    if named.empty:
        return []
    pieces = shapely.intersection(np.asarray(named.geometry.values), clip_geom)
    df = gpd.GeoDataFrame({"name": named["name"].astype(str).to_numpy()}, geometry=pieces)
    df = df[~df.geometry.is_empty]
    out = []
    for name, g in df.groupby("name"):
        merged = shapely.line_merge(shapely.union_all(np.asarray(g.geometry.values)))
        parts = [p for p in shapely.get_parts(merged) if p.geom_type == "LineString"]
        if not parts:
            continue
        best = max(parts, key=lambda p: p.length)
        if best.length < min_len:
            continue
        mid = best.interpolate(0.5, normalized=True)
        a = best.interpolate(max(0.0, 0.5 - 0.05), normalized=True)
        b = best.interpolate(min(1.0, 0.5 + 0.05), normalized=True)
        ang = math.degrees(math.atan2(b.y - a.y, b.x - a.x))
        if ang > 90:
            ang -= 180
        elif ang < -90:
            ang += 180
        out.append((mid.x, mid.y, ang, name))
    return out


def _points(ax, xy: np.ndarray, which: np.ndarray, in_zone: np.ndarray, **kw) -> None:
    """Scatter ``xy[which]``: full strength inside the zone, faded (another squad's) outside it."""
    inside, outside = which & in_zone, which & ~in_zone
    if outside.any():
        ax.scatter(xy[outside, 0], xy[outside, 1], **{**kw, "alpha": 0.25})
    if inside.any():
        ax.scatter(xy[inside, 0], xy[inside, 1], **kw)


def _draw_scalebar(ax, view, fp, fontsize):
    from matplotlib.patches import Rectangle

    x0, y0, x1, y1 = view
    w, h = x1 - x0, y1 - y0
    length = _nice_length(w / 4)
    bx, by = x0 + 0.04 * w, y0 + 0.035 * h
    bh = 0.010 * h
    ax.add_patch(Rectangle((bx - 0.02 * w, by - 0.015 * h), length + 0.10 * w, bh + 0.05 * h,
                           facecolor="white", edgecolor="none", alpha=0.85, zorder=20))
    for i in range(4):
        ax.add_patch(Rectangle((bx + i * length / 4, by), length / 4, bh, facecolor="black" if i % 2 == 0 else "white",
                               edgecolor="black", linewidth=0.6, zorder=21))
    for frac in (0.0, 0.5, 1.0):
        label = _fmt_m(length * frac) if frac == 1.0 else f"{length * frac:g}"
        ax.text(bx + frac * length, by + bh + 0.006 * h, label, ha="center", va="bottom",
                fontproperties=fp, fontsize=fontsize, zorder=22)
    return length


def _draw_north(ax, fp, fontsize):
    ax.annotate("", xy=(0.95, 0.965), xytext=(0.95, 0.885), xycoords="axes fraction",
                arrowprops=dict(facecolor="black", edgecolor="black", width=4, headwidth=13, headlength=14),
                zorder=22)
    ax.text(0.95, 0.865, "北 N", transform=ax.transAxes, ha="center", va="top",
            fontproperties=fp, fontsize=fontsize + 1, zorder=22,
            bbox=dict(facecolor="white", edgecolor="none", alpha=0.8, pad=1))


def draw_patrol_map(fig, layers: _Layers, zone: pd.Series, *, paper: str = "A4", date: dt.date | None = None,
                    as_of=None, family: str = CJK_FAMILY) -> None:
    """Draw one zone's patrol map on an empty figure already sized to the paper."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fp = cjk_font(family)
    fpb = cjk_font(family, weight="bold")
    scale = fig.get_size_inches()[0] / PAPER_IN["A4"][0] if fig.get_size_inches()[0] < fig.get_size_inches()[1] \
        else fig.get_size_inches()[1] / PAPER_IN["A4"][0]
    fs = 7.5 * scale  # base font size
    date = date or dt.date.today()

    fig_w, fig_h = fig.get_size_inches()

    def from_top(inches):  # layout in inches of paper, the same on portrait and landscape pages
        return 1.0 - inches * scale / fig_h

    left, right = 0.45 * scale / fig_w, 1.0 - 0.45 * scale / fig_w
    bottom, top = 1.05 * scale / fig_h, from_top(1.55)
    ax = fig.add_axes([left, bottom, right - left, top - bottom])
    zgeom = zone.geometry
    view = _view(zgeom.bounds, (right - left) * fig_w, (top - bottom) * fig_h)
    vx0, vy0, vx1, vy1 = view

    zst = _style("zones")
    # other zones: grey outlines and names; this zone: catalogue fill + outline
    others = layers.within(layers.zones, view)
    if others is not None:
        others = others[others["zone_id"].astype(str) != str(zone["zone_id"])]
        if len(others):
            others.boundary.plot(ax=ax, color="#9e9e9e", linewidth=0.8, linestyle="--", zorder=2)
            for g, name in zip(others.geometry, others["name"].astype(str)):
                p = g.intersection(shapely.box(*view))
                if not p.is_empty and p.area > 0.02 * (vx1 - vx0) * (vy1 - vy0):
                    rp = p.representative_point()
                    ax.text(rp.x, rp.y, name, ha="center", va="center", color="#9e9e9e", fontproperties=fp,
                            fontsize=fs * 1.1, zorder=3)
    gpd.GeoSeries([zgeom]).plot(ax=ax, color=zst.get("fill_color", "#6fa8ff"), alpha=zst.get("fill_opacity", 0.12),
                                zorder=1)

    if layers.green is not None:
        gr = layers.within(layers.green, view)
        if gr is not None and len(gr):
            gst = _style("green")
            gr.plot(ax=ax, color=gst.get("fill_color"), alpha=0.35, linewidth=0, zorder=1.5)
    if layers.built_up is not None:
        bst = _style("built_up")
        layers.built_up.boundary.plot(ax=ax, color=bst.get("color", "#444444"), linewidth=1.0, linestyle=(0, (6, 3)),
                                      zorder=2.5)

    # roads by class
    rst = _style("roads")
    rcls = layer_spec("roads").fields["road_class"].values
    roads = layers.within(layers.roads, view)
    road_handles = []
    if roads is not None and len(roads):
        for code, label in rcls.items():
            sub = roads[roads["road_class"].astype(str) == code]
            if sub.empty:
                continue
            color = rst.get("by_value", {}).get("road_class", {}).get(code, rst.get("color", "#616161"))
            lw = rst.get("weight_by_value", {}).get("road_class", {}).get(code, rst.get("weight", 2)) * PX_TO_PT * scale
            sub.plot(ax=ax, color=color, linewidth=lw, zorder=4, capstyle="round")
            road_handles.append(Line2D([], [], color=color, linewidth=lw, label=label))
        # a white box rather than a stroke path effect: path effects turn PDF text into outlines
        halo = dict(boxstyle="round,pad=0.12", facecolor="white", edgecolor="none", alpha=0.8)
        for x, y, ang, name in _road_labels(roads, zgeom.buffer(0.02 * max(vx1 - vx0, vy1 - vy0)),
                                            min_len=0.06 * (vx1 - vx0)):
            if vx0 < x < vx1 and vy0 < y < vy1:
                ax.text(x, y, name, rotation=ang, rotation_mode="anchor", ha="center", va="center",
                        fontproperties=fp, fontsize=fs, color="#212121", bbox=halo, zorder=9)

    # zone outline on top of the roads
    gpd.GeoSeries([zgeom]).boundary.plot(ax=ax, color=zst.get("color", "#1f5fbf"),
                                         linewidth=zst.get("weight", 2) * 1.4 * scale, zorder=6)

    handles = [Patch(facecolor=zst.get("fill_color"), alpha=0.5, edgecolor=zst.get("color"), linewidth=1.5,
                     label="本责任区"),
               Line2D([], [], color="#9e9e9e", linestyle="--", linewidth=0.8, label="相邻责任区"),
               *road_handles]

    lst = _style("lamps")
    lamps = layers.within(layers.lamps, view)
    n_lamps = n_broken = 0
    if lamps is not None and len(lamps):
        broken = lamps["status"].astype("string").fillna("").eq("broken").to_numpy()
        ok_c = lst.get("by_value", {}).get("status", {}).get("working", lst.get("color"))
        bad_c = lst.get("by_value", {}).get("status", {}).get("broken", "#c62828")
        xy = shapely.get_coordinates(np.asarray(lamps.geometry.values))
        in_zone = shapely.intersects(np.asarray(lamps.geometry.values), zgeom)
        _points(ax, xy, ~broken, in_zone, s=9 * scale, color=ok_c, edgecolors="#5d4037", linewidths=0.3, zorder=7)
        _points(ax, xy, broken, in_zone, s=42 * scale, color=bad_c, marker="X", edgecolors="white", linewidths=0.5,
                zorder=8)
        n_lamps, n_broken = int(in_zone.sum()), int((in_zone & broken).sum())
    handles += [Line2D([], [], linestyle="", marker="o", markersize=4, color=lst.get("color"), label="路灯（正常）"),
                Line2D([], [], linestyle="", marker="X", markersize=7, color=lst.get("by_value", {}).get("status", {})
                       .get("broken", "#c62828"), label="故障路灯")]

    tst = _style("toilets")
    toilets = layers.within(layers.toilets, view)
    n_toilets = 0
    if toilets is not None and len(toilets):
        xy = shapely.get_coordinates(np.asarray(toilets.geometry.values))
        in_zone = shapely.intersects(np.asarray(toilets.geometry.values), zgeom)
        _points(ax, xy, np.ones(len(xy), bool), in_zone, s=110 * scale, marker="s", color=tst.get("color"),
                edgecolors="white", linewidths=0.8, zorder=8)
        for (x, y) in xy[in_zone]:
            ax.text(x, y, "厕", ha="center", va="center", color="white", fontproperties=fp, fontsize=fs * 0.9,
                    zorder=8.5)
        n_toilets = int(in_zone.sum())
    handles.append(Line2D([], [], linestyle="", marker="s", markersize=7, color=tst.get("color"), label="公厕"))

    ist = _style("inspections")
    cases = layers.within(layers.inspections, view)
    n_open = n_over = 0
    open_c = ist.get("by_value", {}).get("status", {}).get("open", ist.get("color", "#e53935"))
    if cases is not None and len(cases):
        overdue = case_states(cases, as_of)["overdue"].to_numpy(dtype=bool)  # the one rule (analysis.cases)
        xy = shapely.get_coordinates(np.asarray(cases.geometry.values))
        in_zone = shapely.intersects(np.asarray(cases.geometry.values), zgeom)
        _points(ax, xy, ~overdue, in_zone, s=34 * scale, marker="^", color=open_c, edgecolors="white",
                linewidths=0.5, zorder=8)
        _points(ax, xy, overdue, in_zone, s=40 * scale, marker="^", color=open_c, edgecolors="black",
                linewidths=1.2, zorder=8)
        n_open, n_over = int(in_zone.sum()), int((in_zone & overdue).sum())
    handles += [Line2D([], [], linestyle="", marker="^", markersize=7, color=open_c, markeredgecolor="white",
                       label="未结案件"),
                Line2D([], [], linestyle="", marker="^", markersize=7, color=open_c, markeredgecolor="black",
                       markeredgewidth=1.2, label="超期案件")]

    ax.set_xlim(vx0, vx1)
    ax.set_ylim(vy0, vy1)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    for s in ax.spines.values():
        s.set_linewidth(1.0)

    _draw_scalebar(ax, view, fp, fs)
    _draw_north(ax, fpb, fs * 1.2)

    # ---- title block
    zid = str(zone["zone_id"])
    name = str(zone["name"]) if not _blank(zone.get("name")) else zid
    fig.text(left, from_top(0.4), f"{name} 巡查责任区图", fontproperties=fpb, fontsize=fs * 2.6, va="top")

    def val(key):
        v = zone.get(key)
        return "未填写" if _blank(v) else str(v)

    fig.text(left, from_top(0.95), f"责任区编号 {zid}　　责任单位 {val('unit')}　　责任人 {val('staff')}　　联系电话 {val('phone')}",
             fontproperties=fp, fontsize=fs * 1.45, va="top",
             color="#b71c1c" if any(_blank(zone.get(k)) for k in ("staff", "phone")) else "black")
    area_km2 = zgeom.area / 1e6
    fig.text(left, from_top(1.25), f"面积 {area_km2:.2f} 平方千米　　路灯 {n_lamps} 盏（故障 {n_broken}）　　公厕 {n_toilets} 座"
             f"　　未结案件 {n_open} 件（超期 {n_over}）", fontproperties=fp, fontsize=fs * 1.2, va="top")

    # ---- legend and footer
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.4 * scale / fig_h), ncol=min(6, len(handles)),
               prop=fp.copy(), fontsize=fs, frameon=False, handlelength=2.2, columnspacing=1.2)
    for t in fig.legends[-1].get_texts():
        t.set_fontsize(fs * 1.1)
    nominal = (vx1 - vx0) / ((right - left) * fig_w * 0.0254)
    nominal = _nice_length(nominal) if nominal < 10 * _nice_length(nominal) else nominal
    crs_name = layers.crs.name if layers.crs is not None else ""
    fig.text(left, 0.18 * scale / fig_h, f"制图日期 {date:%Y-%m-%d}　　比例尺 约 1:{nominal:,.0f}（{paper} 打印）　　坐标系 {crs_name}"
             f"　　上为坐标北", fontproperties=fp, fontsize=fs * 0.95, va="bottom", color="#424242")
    fig.text(right, 0.18 * scale / fig_h, "civgis · 城管局", fontproperties=fp, fontsize=fs * 0.95, va="bottom", ha="right",
             color="#424242")


def render_patrol_maps(ws, zone_ids=None, out_dir="patrol_maps", fmt: str = "pdf", paper: str = "A4",
                       progress: bool = True, *, combined: bool | None = None, date: dt.date | None = None,
                       as_of=None, dpi: int = 150, family: str = CJK_FAMILY,
                       subset_fonts: bool | None = None) -> list[Path]:
    """Render one patrol map per zone into ``out_dir``; returns the files written.

    Parameters
    ----------
    ws : Workspace
    zone_ids : list of str, optional
        Zones to render (default: every zone).
    out_dir : path
        Output folder (created). Files are ``patrol_<zone_id>.<fmt>``.
    fmt : {"pdf", "png"}
    paper : {"A4", "A3"}
        Page size; the orientation follows the zone's shape.
    progress : bool
        Show a progress bar on stderr.
    combined : bool, optional
        Also write ``patrol_maps.pdf`` with one page per zone (default: when ``fmt == "pdf"`` and
        every zone is rendered). It is the last path returned.
    date : date, optional
        Date printed on the map (default today). ``as_of``: reference time for overdue cases.
    dpi : int
        PNG resolution.
    subset_fonts : bool, optional
        Embed a once-per-run subset of the CJK font (default: for PDFs of two or more pages,
        where it is several times faster; see :func:`subset_cjk_family`).
    """
    import matplotlib
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    fmt = fmt.lower()
    if fmt not in ("pdf", "png"):
        raise PrintMapError(f"format must be pdf or png, not {fmt!r}")
    paper = paper.upper()
    if paper not in PAPER_IN:
        raise PrintMapError(f"paper must be one of {sorted(PAPER_IN)}, not {paper!r}")
    cjk_font(family)  # fail before any work when the font is missing

    layers = _Layers(ws)
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
        subset_fonts = fmt == "pdf" and (len(wanted) > 1 or combined)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    iterator = wanted
    if progress:

        iterator = _progress(wanted, desc="巡查图", unit="幅")
    written: list[Path] = []
    pdf_all = None
    if subset_fonts:
        family = subset_cjk_family(_map_text(layers, wanted), family)
    with matplotlib.rc_context(cjk_rc(family)):
        try:
            if combined:
                pdf_all = PdfPages(out_dir / "patrol_maps.pdf", metadata={"Title": "巡查责任区图", "Creator": "civgis"})
            for zid in iterator:
                zone = layers.zones.loc[ids == zid].iloc[0]
                minx, miny, maxx, maxy = zone.geometry.bounds
                w, h = PAPER_IN[paper]
                size = (h, w) if (maxx - minx) > 1.15 * (maxy - miny) else (w, h)
                fig = Figure(figsize=size)  # no pyplot: nothing global, nothing to close
                draw_patrol_map(fig, layers, zone, paper=paper, date=date, as_of=as_of, family=family)
                path = out_dir / f"patrol_{_safe(zid)}.{fmt}"
                if fmt == "pdf":
                    fig.savefig(path, metadata={"Title": f"{zone['name']} 巡查责任区图", "Creator": "civgis"})
                else:
                    fig.savefig(path, dpi=dpi)
                if pdf_all is not None:
                    pdf_all.savefig(fig)
                written.append(path)
        finally:
            if pdf_all is not None:
                pdf_all.close()
    if pdf_all is not None:
        written.append(out_dir / "patrol_maps.pdf")
    return written
