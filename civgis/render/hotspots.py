"""Hot-spot outputs: Gi* and emerging classes as an offline web map and a printable PNG.

The classes are dissolved per value for large grids (hexagons form a coverage, so the union is
exact); colours and Chinese labels come from :mod:`civgis.analysis.hotspots` and
:mod:`civgis.analysis.trends`. Both maps carry the county's context — streets, responsibility
zones with their names, the built-up boundary — and the PNG a scale bar, a north arrow, a title
and a legend of every drawn layer (:mod:`civgis.render.mapcontext`).

The dissolved classes are not simplified: on the demo (48 347 cells of 21 m) a topology-preserving
simplify at 0.3 cell cost 2.0–2.5 s per map to remove 8 % of the vertices (221 084 → 202 445),
more than it saved in writing the page (bench/bench_maps.py ``--render``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import folium
import geopandas as gpd
import matplotlib
import numpy as np
import shapely
from matplotlib.collections import PatchCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch, PathPatch

from civgis.analysis.hotspots import BIN_COLOURS, BIN_LABELS_ZH, hex_polygons, hex_union
from civgis.render.fonts import cjk_font, cjk_rc
from civgis.render.mapcontext import (CONTEXT_ROAD_GREY, draw_built_up, draw_legend, draw_north, draw_scalebar,
                                      draw_streets, draw_zone_outlines, finish_axes, fix_view, map_view,
                                      polygon_paths)
from civgis.render.png import save_png
from civgis.render.webmap import escape_html, escape_text, geo_dict, metric_scale, save_map

__all__ = ["dissolve_classes", "hotspot_map", "save_folium", "hotspot_png", "draw_hotspots", "context_layers",
           "round_coords", "fill_polygons", "WebContext", "web_context"]

#: road classes whose names the county-scale hot-spot maps print
LABELLED_ROAD_CLASSES = ("arterial", "secondary")


def dissolve_classes(cells: gpd.GeoDataFrame, column: str) -> gpd.GeoDataFrame:
    """One (multi)polygon per class of ``column`` — hexagons form a coverage, so the union is exact.

    Cells of a civgis grid (``q``, ``r`` and the grid's ``cell_size`` in ``attrs``) are traced on
    their lattice (:func:`civgis.analysis.hotspots.hex_union`); other cells go through
    ``shapely.coverage_union_all``. Both give the same outline. Columns: ``column``, ``n_cells``,
    ``count`` (cases, when the cells have a count/total column).
    """
    count_col = "count" if "count" in cells else ("total" if "total" in cells else None)
    on_lattice = _on_lattice(cells)
    rows = []
    for value, grp in cells.groupby(column, sort=False):
        if on_lattice:
            outline = hex_union(grp["q"].to_numpy(), grp["r"].to_numpy(), cells.attrs["cell_size"],
                                cells.attrs.get("origin", (0.0, 0.0)))
        else:
            outline = shapely.coverage_union_all(grp.geometry.values)
        rows.append({column: value, "n_cells": len(grp),
                     "count": int(grp[count_col].sum()) if count_col else 0, "geometry": outline})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=cells.crs)


def _on_lattice(cells: gpd.GeoDataFrame) -> bool:
    """Whether the cells are their grid's hexagons (``q``, ``r``, ``attrs["cell_size"]``), checked on a sample:
    cells reprojected or clipped since keep the columns but not the lattice's corners."""
    if not ({"q", "r"} <= set(cells.columns) and "cell_size" in cells.attrs) or len(cells) == 0:
        return False
    sample = np.unique(np.linspace(0, len(cells) - 1, 5).astype(int))
    drawn = hex_polygons(cells["q"].to_numpy()[sample], cells["r"].to_numpy()[sample], cells.attrs["cell_size"],
                         cells.attrs.get("origin", (0.0, 0.0)))
    return bool(shapely.equals_exact(drawn, np.asarray(cells.geometry.values)[sample], tolerance=0).all())


def round_coords(geoms, decimals: int = 6) -> np.ndarray:
    """Geometries with every coordinate rounded (1e-6° ≈ 0.1 m: plenty for display, half the JSON size)."""
    return shapely.transform(np.asarray(geoms), lambda xy: np.round(xy, decimals))


@dataclass(frozen=True)
class WebContext:
    """A web map's context layers as GeoJSON in EPSG:4326, converted once for every map that shows them.

    The report's section draws the same streets, zones and built-up boundary on its Gi* and its
    emerging map; reprojecting them and building their features was a tenth of a second per map
    on the demo. folium reads the feature collections without changing them (each feature keeps
    the ``id`` ``geo_dict`` gave it, as ``to_geo_dict`` would), so two maps can share them.

    Attributes
    ----------
    built_up, roads, zones : dict or None
        Feature collections (roads and zones with their HTML-escaped names, coordinates rounded
        by :func:`round_coords`); None for a missing or empty layer.
    bounds : tuple of float or None
        ``(x0, y0, x1, y1)`` of the built-up area in degrees (the maps' view); None without it.
    """

    built_up: dict | None = None
    roads: dict | None = None
    zones: dict | None = None
    bounds: tuple | None = None


def web_context(*, built_up=None, zones=None, roads=None) -> WebContext:
    """The context layers of the web maps (:class:`WebContext`) from the workspace's layers."""
    built, bounds = None, None
    if built_up is not None and len(built_up):
        built_4326 = built_up.to_crs(4326)
        built, bounds = geo_dict(built_4326[["geometry"]]), tuple(built_4326.total_bounds)
    return WebContext(built_up=built, roads=_roads_geojson(roads), zones=_zones_geojson(zones), bounds=bounds)


def _roads_geojson(roads) -> dict | None:
    """Streets with their escaped names, degrees, rounded (None without streets)."""
    if roads is None or not len(roads):
        return None
    r = gpd.GeoDataFrame({"name": escape_html(roads["name"].astype("string").fillna("")) if "name" in roads
                          else ""}, geometry=roads.geometry.values, crs=roads.crs).to_crs(4326)
    return geo_dict(r.set_geometry(round_coords(r.geometry.values)))


def _zones_geojson(zones) -> dict | None:
    """Zones with their escaped names (the id when unnamed) and ids, degrees, rounded (None without zones)."""
    if zones is None or not len(zones):
        return None
    z = gpd.GeoDataFrame({"name": escape_html(zones["name"].astype("string").fillna(zones["zone_id"].astype(str))),
                          "zone_id": escape_html(zones["zone_id"].astype(str))},
                         geometry=zones.geometry.values, crs=zones.crs).to_crs(4326)
    return geo_dict(z.set_geometry(round_coords(z.geometry.values)))


def context_layers(m, *, built_up=None, zones=None, roads=None, context: WebContext | None = None) -> None:
    """Add the context of a web map (built-up boundary, streets with names, zones with names), offline.

    ``context``: the layers already converted (:func:`web_context`); the layer arguments are then unused.
    """
    context = web_context(built_up=built_up, zones=zones, roads=roads) if context is None else context
    if context.built_up is not None:
        folium.GeoJson(context.built_up, name="建成区范围",
                       style_function=lambda f: {"color": "#444444", "weight": 2, "fill": False,
                                                 "dashArray": "8 4"}).add_to(m)
    if context.roads is not None:
        folium.GeoJson(context.roads, name="道路",
                       style_function=lambda f: {"color": "#555555", "weight": 1.2, "opacity": 0.8},
                       tooltip=folium.GeoJsonTooltip(["name"], aliases=["道路"])).add_to(m)
    if context.zones is not None:
        folium.GeoJson(context.zones, name="包保责任区",
                       style_function=lambda f: {"color": "#1f5fbf", "weight": 1.5, "fill": False},
                       tooltip=folium.GeoJsonTooltip(["name", "zone_id"], aliases=["责任区", "编号"])).add_to(m)


def hotspot_map(cells: gpd.GeoDataFrame, *, built_up=None, zones=None, roads=None, title: str = "巡查案件热点",
                column: str = "gi_bin", labels: dict | None = None, colours: dict | None = None,
                max_cells: int = 5000, dissolved: gpd.GeoDataFrame | None = None,
                context: WebContext | None = None):
    """A folium map of the cells coloured by ``gi_bin`` (or an emerging category), no tiles (offline).

    With more than ``max_cells`` cells, the cells are dissolved per class (one shape per class,
    tooltip: class, cells, cases) so the page stays small; otherwise each cell has its tooltip.
    Streets, zones (with names in their tooltips) and the built-up boundary are drawn as context;
    the legend lists every class shown and the context layers. ``dissolved``: the cells'
    :func:`dissolve_classes` by ``column`` when the caller already has it (the PNG uses it too).
    ``context``: the context layers already converted (:func:`web_context`) when the caller draws
    several maps; ``built_up``, ``zones`` and ``roads`` are then unused.
    """
    context = web_context(built_up=built_up, zones=zones, roads=roads) if context is None else context
    labels = labels or BIN_LABELS_ZH
    colours = colours or BIN_COLOURS
    per_cell = len(cells) <= max_cells
    if per_cell:
        keep = [c for c in ("cell_id", "count", "total", "gi_z", "gi_p", column, "geometry") if c in cells]
        show = cells[list(dict.fromkeys(keep))].copy()
    else:   # one shape per class, not simplified (see the module docstring)
        show = dissolve_classes(cells, column) if dissolved is None else dissolved
    show = show.to_crs(4326)
    show = show.set_geometry(round_coords(show.geometry.values))
    show["label"] = escape_html(show[column].map(lambda v: labels.get(v, str(v))))  # tooltips are HTML
    if "cell_id" in show:
        show["cell_id"] = escape_html(show["cell_id"])
    for c in ("gi_z", "gi_p"):
        if c in show:
            show[c] = show[c].round(4)
    x0, y0, x1, y1 = context.bounds if context.bounds is not None else show.total_bounds
    m = folium.Map(location=[(y0 + y1) / 2, (x0 + x1) / 2], zoom_start=13, tiles=None)
    metric_scale(m)
    aliases = {"cell_id": "网格", "count": "案件数", "total": "案件数", "n_cells": "网格数", "gi_z": "Gi* z",
               "gi_p": "p 值", "label": "类别"}
    fields = [c for c in ("label", "cell_id", "n_cells", "count", "total", "gi_z", "gi_p") if c in show]
    folium.GeoJson(
        geo_dict(show.drop(columns=[column]).assign(_cls=show[column].astype(str))), name=escape_text(title),
        # dissolved classes are stroked in their own colour: it hides the anti-aliasing seams between
        # neighbouring classes; single cells keep a thin grey outline
        style_function=lambda f, _c=colours, _pc=per_cell: {
            "fillColor": _c.get(_key(f["properties"]["_cls"]), "#f0f0d2"),
            "color": "#999999" if _pc else _c.get(_key(f["properties"]["_cls"]), "#f0f0d2"),
            "weight": 0.3 if _pc else 1.0, "opacity": 0.75, "fillOpacity": 0.75},
        tooltip=folium.GeoJsonTooltip(fields=fields, aliases=[aliases[f] for f in fields])).add_to(m)
    context_layers(m, context=context)
    seen = set(show[column].tolist())
    swatch = '<span style="background:{};display:inline-block;width:12px;height:12px;margin-right:4px"></span>'
    line = '<span style="border-top:2px {} {};display:inline-block;width:14px;margin:0 4px 3px 0"></span>'
    rows = [swatch.format(escape_text(str(colours[k]))) + escape_text(str(labels[k]))
            for k in labels if k in colours and k in seen]
    rows += [line.format(style, colour) + name for present, style, colour, name in (
        (context.built_up is not None, "dashed", "#444444", "建成区范围"),
        (context.roads is not None, "solid", CONTEXT_ROAD_GREY, "道路"),
        (context.zones is not None, "solid", "#1f5fbf", "包保责任区")) if present]
    m.get_root().html.add_child(folium.Element(
        f'<div class="civgis-legend" style="position:fixed;bottom:24px;right:10px;z-index:9999;background:white;'
        f'padding:6px;font-size:12px;border:1px solid #999"><b>{escape_text(title)}</b>'
        + "".join(f"<div>{r}</div>" for r in rows) + "</div>"))
    folium.LayerControl().add_to(m)
    m.fit_bounds([[y0, x0], [y1, x1]])
    return m



def _key(text: str):
    """Class key back from its string form (gi_bin ints are stringified in the GeoJSON)."""
    try:
        return int(text)
    except ValueError:
        return text


def save_folium(m, path) -> Path:
    """Save offline via :func:`civgis.render.webmap.save_map` (local Leaflet, no CDN)."""
    return save_map(m, path, offline=True)


def fill_polygons(ax, geoms, colours, *, zorder: float = 1) -> PatchCollection:
    """Fill (multi)polygons, no outline, each in its colour: what ``GeoDataFrame.plot(color=…, edgecolor="none",
    linewidth=0)`` draws, its paths from :func:`civgis.render.mapcontext.polygon_paths` (normalised
    as geopandas does: ring order and winding decide what is a hole). ``geoms`` are non-empty
    polygons, one colour each (the dissolved classes)."""
    paths = polygon_paths(geoms)
    collection = PatchCollection([PathPatch(path) for path in paths], facecolor=colours,
                                 edgecolor="none", linewidth=0, zorder=zorder)
    ax.add_collection(collection, autolim=True)
    ax.autoscale_view()
    return collection


def draw_hotspots(fig, cells: gpd.GeoDataFrame, *, built_up=None, zones=None, roads=None,
                  title: str = "巡查案件热点 Gi*", column: str = "gi_bin", labels: dict | None = None,
                  colours: dict | None = None, subtitle: str | None = None,
                  dissolved: gpd.GeoDataFrame | None = None) -> list[str]:
    """Draw the hot-spot map on an empty figure; returns the legend's labels (every drawn layer).

    The classes are always dissolved (no cell edges: 21 m hexagons with outlines read as moiré
    at county scale). The view is the built-up area (else the cells). The legend lists each class
    drawn with its number of cells, then the context layers drawn: streets (grey, main roads
    named), responsibility zones with their names, the built-up boundary.
    """
    labels = labels or BIN_LABELS_ZH
    colours = colours or BIN_COLOURS
    shown = dissolve_classes(cells, column) if dissolved is None else dissolved
    fp, fpb = cjk_font(), cjk_font(weight="bold")
    fw, fh = fig.get_size_inches()
    ax = fig.add_axes([0.03, 0.03, 0.94, 0.86])
    extent = built_up.total_bounds if built_up is not None and len(built_up) else cells.total_bounds
    view = map_view(extent, 0.94 * fw, 0.86 * fh, pad=0.04)
    fix_view(ax, view)
    fill_polygons(ax, shown.geometry.values, [colours.get(v, "#f0f0d2") for v in shown[column]], zorder=1)
    drawn = set(shown[column].tolist())
    handles = [Patch(facecolor=colours[k], edgecolor="#999999",
                     label=f"{labels[k]}（{int(shown.loc[shown[column] == k, 'n_cells'].sum()):,} 格）")
               for k in labels if k in colours and k in drawn]
    handles += draw_streets(ax, roads, view, fp=fp, fontsize=7, grey=True, label_classes=LABELLED_ROAD_CLASSES,
                            min_label_len=0.08 * (view[2] - view[0]))
    handles += draw_zone_outlines(ax, zones, view, fp=fp, fontsize=6.5, color="#1a237e", linewidth=0.9,
                                  min_share=0.006)
    handles += draw_built_up(ax, built_up)
    finish_axes(ax, view)
    draw_scalebar(ax, view, fp, 8)
    draw_north(ax, fpb, 9)
    draw_legend(ax, handles, fp, 8, title="图例", loc="lower right")
    fig.text(0.03, 0.975, title, fontproperties=fpb, fontsize=17, va="top")
    if subtitle:
        fig.text(0.03, 0.935, subtitle, fontproperties=fp, fontsize=10, va="top", color="#424242")
    return [h.get_label() for h in handles]


def hotspot_png(cells: gpd.GeoDataFrame, path, *, built_up=None, zones=None, roads=None,
                title: str = "巡查案件热点 Gi*", column: str = "gi_bin", labels: dict | None = None,
                colours: dict | None = None, subtitle: str | None = None, dpi: int = 130,
                dissolved: gpd.GeoDataFrame | None = None) -> Path:
    """A printable PNG (:func:`draw_hotspots`): classes, streets, zones, scale bar, north arrow, title, legend.

    Text is set in the checked CJK font (no tofu boxes).
    """
    with matplotlib.rc_context(cjk_rc()):
        fig = Figure(figsize=(10, 10.6), dpi=dpi)
        draw_hotspots(fig, cells, built_up=built_up, zones=zones, roads=roads, title=title, column=column,
                      labels=labels, colours=colours, subtitle=subtitle, dissolved=dissolved)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_png(fig, path, dpi=dpi)
    return path
