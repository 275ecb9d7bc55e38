"""Hot-spot outputs: Gi* and emerging classes as an offline web map and a printable PNG.

The classes are dissolved per value for large grids (hexagons form a coverage, so the union is
exact); colours and Chinese labels come from :mod:`civgis.analysis.hotspots` and
:mod:`civgis.analysis.trends`.
"""

from __future__ import annotations

import html
from pathlib import Path

import folium
import geopandas as gpd
import matplotlib
import matplotlib.pyplot as plt
import shapely
from matplotlib.patches import Patch

from civgis.analysis.hotspots import BIN_COLOURS, BIN_LABELS_ZH, _grid_params
from civgis.render.fonts import cjk_rc
from civgis.render.webmap import escape_html, save_map

__all__ = ["dissolve_classes", "hotspot_map", "save_folium", "hotspot_png"]


def dissolve_classes(cells: gpd.GeoDataFrame, column: str) -> gpd.GeoDataFrame:
    """One (multi)polygon per class of ``column`` — hexagons form a coverage, so ``coverage_union`` is exact.

    Columns: ``column``, ``n_cells``, ``count`` (cases, when the cells have a count/total column).
    """
    count_col = "count" if "count" in cells else ("total" if "total" in cells else None)
    rows = []
    for value, grp in cells.groupby(column, sort=False):
        rows.append({column: value, "n_cells": len(grp),
                     "count": int(grp[count_col].sum()) if count_col else 0,
                     "geometry": shapely.coverage_union_all(grp.geometry.values)})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=cells.crs)


def hotspot_map(cells: gpd.GeoDataFrame, *, built_up=None, title: str = "巡查案件热点", column: str = "gi_bin",
                labels: dict | None = None, colours: dict | None = None, max_cells: int = 5000):
    """A folium map of the cells coloured by ``gi_bin`` (or an emerging category), no tiles (offline).

    With more than ``max_cells`` cells, the cells are dissolved per class (one shape per class,
    tooltip: class, cells, cases) so the page stays small; otherwise each cell has its tooltip.
    """
    labels = labels or BIN_LABELS_ZH
    colours = colours or BIN_COLOURS
    per_cell = len(cells) <= max_cells
    if per_cell:
        keep = [c for c in ("cell_id", "count", "total", "gi_z", "gi_p", column, "geometry") if c in cells]
        show = cells[list(dict.fromkeys(keep))].copy()
    else:   # one shape per class; the hexagon staircase is smoothed a little (display only)
        show = dissolve_classes(cells, column)
        size, _ = _grid_params(cells) if {"q", "r"} <= set(cells.columns) else (0.0, None)
        if size:
            show = show.set_geometry(shapely.simplify(show.geometry.values, 0.3 * size, preserve_topology=True))
    show = show.to_crs(4326)
    # 1e-6° ≈ 0.1 m: plenty for display, and about half the size of full-precision JSON
    show = show.set_geometry(shapely.set_precision(show.geometry.values, 1e-6, mode="pointwise"))
    show["label"] = escape_html(show[column].map(lambda v: labels.get(v, str(v))))  # tooltips are HTML
    if "cell_id" in show:
        show["cell_id"] = escape_html(show["cell_id"])
    for c in ("gi_z", "gi_p"):
        if c in show:
            show[c] = show[c].round(4)
    x0, y0, x1, y1 = show.total_bounds
    m = folium.Map(location=[(y0 + y1) / 2, (x0 + x1) / 2], zoom_start=13, tiles=None, control_scale=True)
    if built_up is not None:
        folium.GeoJson(built_up.to_crs(4326)[["geometry"]].to_json(), name="建成区",
                       style_function=lambda f: {"color": "#444444", "weight": 2, "fill": False,
                                                 "dashArray": "8 4"}).add_to(m)
    aliases = {"cell_id": "网格", "count": "案件数", "total": "案件数", "n_cells": "网格数", "gi_z": "Gi* z",
               "gi_p": "p 值", "label": "类别"}
    fields = [c for c in ("label", "cell_id", "n_cells", "count", "total", "gi_z", "gi_p") if c in show]
    folium.GeoJson(
        show.drop(columns=[column]).assign(_cls=show[column].astype(str)).to_json(), name=title,
        style_function=lambda f, _c=colours: {"fillColor": _c.get(_key(f["properties"]["_cls"]), "#f0f0d2"),
                                              "color": "#999999", "weight": 0.3, "fillOpacity": 0.75},
        tooltip=folium.GeoJsonTooltip(fields=fields, aliases=[aliases[f] for f in fields])).add_to(m)
    legend = "".join(f'<div><span style="background:{html.escape(str(colours[k]))};display:inline-block;width:12px;'
                     f'height:12px;margin-right:4px"></span>{html.escape(str(labels[k]))}</div>'
                     for k in labels if k in colours)
    m.get_root().html.add_child(folium.Element(
        f'<div style="position:fixed;bottom:20px;left:20px;z-index:9999;background:white;padding:6px;'
        f'font-size:12px;border:1px solid #999"><b>{html.escape(title)}</b>{legend}</div>'))
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


def hotspot_png(cells: gpd.GeoDataFrame, path, *, built_up=None, title: str = "巡查案件热点 Gi*",
                column: str = "gi_bin", labels: dict | None = None, colours: dict | None = None) -> Path:
    """A printable PNG of the cells coloured by class, Chinese legend (Noto CJK font)."""
    matplotlib.rcParams.update(cjk_rc())  # the checked CJK font of the patrol maps (no tofu boxes)
    labels = labels or BIN_LABELS_ZH
    colours = colours or BIN_COLOURS
    fig, ax = plt.subplots(figsize=(9, 9), dpi=120)
    big = len(cells) > 5000
    shown = dissolve_classes(cells, column) if big else cells
    shown.plot(ax=ax, color=[colours.get(v, "#f0f0d2") for v in shown[column]],
               edgecolor="none" if big else "#bbbbbb", linewidth=0.2)
    if built_up is not None:
        built_up.boundary.plot(ax=ax, color="#444444", linewidth=1.2, linestyle="--")
    seen = set(shown[column].tolist())
    present = [k for k in labels if k in seen]
    ax.legend(handles=[Patch(facecolor=colours[k], edgecolor="#999999", label=labels[k]) for k in present],
              loc="lower right", fontsize=9)
    ax.set_title(title)
    ax.set_axis_off()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


