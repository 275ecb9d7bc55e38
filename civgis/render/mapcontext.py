"""The shared context of every printed map: streets, zone outlines and names, scale bar, north arrow, title, legend.

The patrol maps, the hot-spot PNGs and the greening PNG draw their theme on top of the same
context so a reader finds the same streets and zones on each. Everything is drawn in the
workspace's projected metric CRS (a Gauss-Krüger zone), so one map unit is one metre and the
scale bar is exact; north is grid north (within 1.5° of true north inside a 3-degree zone).
Colours and road-class labels come from the layer catalogue's ``[style]`` and ``values``.

Each ``draw_*`` function draws on a matplotlib ``Axes`` and returns the legend handles of what it
drew (nothing drawn → no handle), so a legend lists every drawn layer and nothing else.
"""

from __future__ import annotations

import functools
import math

import geopandas as gpd
import numpy as np
import shapely

from civgis.store.catalogue import layer_spec

__all__ = ["PX_TO_PT", "CONTEXT_ROAD_GREY", "nice_length", "fmt_m", "map_view", "fix_view", "within", "line_segments",
           "polygon_paths", "add_lines", "add_polygons", "add_points", "road_labels",
           "draw_streets", "draw_zone_outlines", "free_labels", "draw_built_up", "draw_scalebar", "draw_north", "finish_axes",
           "draw_legend"]

#: web-style weights (px) → printed line widths (pt)
PX_TO_PT = 0.6
#: streets on thematic maps are grey, so the theme's colours keep their meaning
CONTEXT_ROAD_GREY = "#5f5f5f"


def style(layer: str) -> dict:
    """The catalogue ``[style]`` of a layer."""
    return layer_spec(layer).style


def nice_length(target_m: float) -> float:
    """The largest 1/2/5×10^k metres not above ``target_m`` (the scale bar's length)."""
    exp = 10 ** math.floor(math.log10(max(target_m, 1e-9)))
    for m in (5, 2, 1):
        if m * exp <= target_m:
            return m * exp
    return exp


def fmt_m(m: float) -> str:
    """A length in Chinese units: 米 below 1 km, 千米 above."""
    return f"{m / 1000:g} 千米" if m >= 1000 else f"{m:g} 米"


def map_view(bounds, ax_w_in: float, ax_h_in: float, pad: float = 0.07):
    """Map limits around ``bounds`` padded by ``pad`` and stretched to the axes' aspect ratio (equal scale)."""
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


def within(gdf: gpd.GeoDataFrame | None, bounds) -> gpd.GeoDataFrame | None:
    """The rows of ``gdf`` whose geometry meets the box ``bounds`` (spatial index); None when empty."""
    if gdf is None or len(gdf) == 0:
        return None
    idx = gdf.sindex.query(shapely.box(*bounds))
    return gdf.iloc[np.sort(idx)] if len(idx) else None


def _normalized(geoms) -> np.ndarray:
    """``geoms`` as geopandas' ``.plot`` draws them: normalized (rings start and turn the same way, so dash
    patterns fall the same), collections exploded one level, None and empty geometries dropped."""
    geoms = shapely.normalize(np.asarray(geoms, dtype=object))
    collection = shapely.get_type_id(geoms) == 7
    if collection.any():
        geoms = np.concatenate([shapely.get_parts(g) if c else [g] for g, c in zip(geoms, collection)])
    return geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]


def line_segments(geoms) -> list[np.ndarray]:
    """One ``(n, 2)`` array of x, y per single line part of ``geoms`` (multi-lines exploded, in order).

    The segments geopandas' ``.plot`` gives a LineCollection, taken from one vectorised
    ``shapely.get_coordinates`` call instead of one ``.coords`` per part.
    """
    parts = shapely.get_parts(_normalized(geoms))
    parts = parts[np.isin(shapely.get_type_id(parts), (1, 2))]   # LineString, LinearRing
    coords, owner = shapely.get_coordinates(parts, return_index=True)
    return np.split(coords, np.flatnonzero(np.diff(owner)) + 1) if len(coords) else []


def polygon_paths(geoms) -> list:
    """One compound matplotlib ``Path`` per (multi)polygon of ``geoms``: each part's exterior, then its holes.

    Each ring is MOVETO, LINETO …, CLOSEPOLY on its closing vertex — the path geopandas'
    ``_PolygonPatch`` builds — so a filled collection of them paints holes as holes. The
    coordinates come from one vectorised ``shapely.get_coordinates`` call.
    """
    from matplotlib.path import Path

    geoms = _normalized(geoms)
    geoms = geoms[np.isin(shapely.get_type_id(geoms), (3, 6))]   # Polygon, MultiPolygon
    polys, poly_owner = shapely.get_parts(geoms, return_index=True)
    rings, ring_poly = shapely.get_rings(polys, return_index=True)
    coords, vertex_ring = shapely.get_coordinates(rings, return_index=True)
    if len(coords) == 0:
        return []
    codes = np.full(len(coords), Path.LINETO, dtype=Path.code_type)
    ring_start = np.r_[0, np.flatnonzero(np.diff(vertex_ring)) + 1]
    codes[ring_start] = Path.MOVETO
    codes[np.r_[ring_start[1:], len(coords)] - 1] = Path.CLOSEPOLY
    cut = np.flatnonzero(np.diff(poly_owner[ring_poly[vertex_ring]])) + 1   # where the next geometry begins
    return [Path(v, c) for v, c in zip(np.split(coords, cut), np.split(codes, cut))]


def add_lines(ax, geoms, **kw):
    """Draw the lines (or polygon boundaries already taken with ``shapely.boundary``) as one LineCollection.

    Keyword arguments go to ``LineCollection`` (``color``, ``linewidth``, ``linestyle``, ``zorder``,
    ``capstyle`` …) exactly as geopandas' ``.plot`` passes them, so the page is drawn the same;
    building the collection from vectorised coordinates is what saves the time. Returns the
    collection (None when there is nothing to draw).
    """
    from matplotlib.collections import LineCollection

    segments = line_segments(geoms)
    if not segments:
        return None
    collection = LineCollection(segments, **kw)
    # add_collection requests the autoscale lazily (done once, when the limits are next needed); geopandas'
    # explicit autoscale_view() after every layer computed the same limits once per layer
    ax.add_collection(collection, autolim=True)
    return collection


def add_polygons(ax, geoms, *, color=None, **kw):
    """Fill the polygons as one collection, ``color`` being the face colour as in geopandas' ``.plot``.

    Without an ``edgecolor`` the edges are not stroked (geopandas' default too). Other keywords
    (``alpha``, ``edgecolor``, ``linewidth``, ``zorder``) go to the collection. Returns it (None
    when there is nothing to draw).
    """
    from matplotlib.collections import PathCollection

    paths = polygon_paths(geoms)
    if not paths:
        return None
    collection = PathCollection(paths, facecolor=color, **kw)
    ax.add_collection(collection, autolim=True)   # autoscaled lazily, as in add_lines
    return collection


def add_points(ax, xy: np.ndarray, *, s: float, color, marker: str = "o", edgecolors=None, linewidths=None,
               alpha: float | None = None, zorder: float = 1.0):
    """Mark the points ``xy`` (``(n, 2)``, map units) with one filled marker, as ``ax.scatter`` marks them.

    ``Axes.scatter`` builds exactly this collection — the marker's path in points, one size ``s``
    (pt²), the offsets in data coordinates — after parsing its arguments for colour mapping,
    masks and units: 0.74 against 0.33 ms a call here, and a patrol map makes seven calls. Only
    the arguments civgis passes are taken (one size, one face colour, filled markers), so the
    page is the one ``scatter`` draws. Returns the collection (None without points).
    """
    from matplotlib.collections import PathCollection
    from matplotlib.transforms import IdentityTransform

    if len(xy) == 0:
        return None
    path = _marker_path(marker)
    collection = PathCollection((path,), [s], facecolors=color, edgecolors=edgecolors, linewidths=linewidths,
                                offsets=np.asarray(xy, dtype=float), offset_transform=ax.transData, alpha=alpha,
                                zorder=zorder)
    collection.set_transform(IdentityTransform())
    ax.add_collection(collection)   # autolim: the data limits grow as scatter's do
    return collection


@functools.lru_cache(maxsize=None)
def _marker_path(marker: str):
    """The path ``scatter`` draws for a filled ``marker`` (in points, centred on the point)."""
    from matplotlib.markers import MarkerStyle

    style_ = MarkerStyle(marker)
    if not style_.is_filled():
        raise ValueError(f"add_points: marker {marker!r} is not filled (use ax.scatter)")
    return style_.get_path().transformed(style_.get_transform())


def road_labels(roads: gpd.GeoDataFrame, clip_geom, min_len: float) -> list[tuple[float, float, float, str]]:
    """One ``(x, y, angle°, name)`` per road name: the midpoint of its longest merged piece inside ``clip_geom``.

    Pieces shorter than ``min_len`` metres are not labelled; the angle is kept within ±90° so
    text never reads upside down.
    """
    if roads is None or "name" not in roads:
        return []
    names = roads["name"]
    named = (names.notna() & (names.astype("string").str.strip() != "")).to_numpy(bool)
    if not named.any():
        return []
    pieces = shapely.intersection(np.asarray(roads.geometry.values)[named], clip_geom)
    label = names[named].astype(str).to_numpy()
    drawn = ~shapely.is_empty(pieces)
    pieces, label = pieces[drawn], label[drawn]
    if len(pieces) == 0:
        return []
    # one union per street name, not per feature: the names sorted, each street's pieces in the layer's order
    order = np.argsort(label, kind="stable")
    pieces, label = pieces[order], label[order]
    street, start = np.unique(label, return_index=True)
    merged = shapely.line_merge(np.array([shapely.union_all(g) for g in np.split(pieces, start[1:])], dtype=object))
    parts, owner = shapely.get_parts(merged, return_index=True)
    single = shapely.get_type_id(parts) == 1
    parts, owner = parts[single], owner[single]
    length = shapely.length(parts)
    # each street's longest part (the first of equal ones)
    longest = np.lexsort((np.arange(len(parts)), -length, owner))
    longest = longest[np.r_[True, owner[longest][1:] != owner[longest][:-1]]] if len(longest) else longest
    longest = longest[length[longest] >= min_len]
    out = []
    for best, name in zip(parts[longest], street[owner[longest]]):
        mid, a, b = shapely.line_interpolate_point(best, [0.5, 0.45, 0.55], normalized=True)
        ang = math.degrees(math.atan2(b.y - a.y, b.x - a.x))
        ang = ang - 180 if ang > 90 else (ang + 180 if ang < -90 else ang)
        out.append((mid.x, mid.y, ang, str(name)))
    return out


_HALO = dict(boxstyle="round,pad=0.12", facecolor="white", edgecolor="none", alpha=0.8)


def draw_streets(ax, roads: gpd.GeoDataFrame | None, view, *, fp=None, fontsize: float = 7.0, scale: float = 1.0,
                 grey: bool = False, label_classes=None, label_clip=None, min_label_len: float | None = None,
                 zorder: float = 4) -> list:
    """Roads by class (catalogue colours and weights, or all grey with ``grey``) and their names.

    Parameters
    ----------
    roads : GeoDataFrame or None
        The ``roads`` layer (``road_class``, optional ``name``).
    view : tuple
        ``(x0, y0, x1, y1)`` map limits in metres; only roads meeting it are drawn.
    fp : FontProperties, optional
        CJK font of the labels; without it no labels are drawn.
    grey : bool
        Context mode for thematic maps: grey lines, widths still by class.
    label_classes : iterable of str, optional
        Road classes whose names are printed (default: all).
    label_clip : geometry, optional
        Only the pieces inside it are labelled (default: the view).
    min_label_len : float, optional
        Shortest labelled piece in metres (default 6 % of the view's width).

    Returns
    -------
    list
        One legend handle per drawn road class, labelled with the class's Chinese name.
    """
    from matplotlib.lines import Line2D

    roads = within(roads, view)
    if roads is None:
        return []
    rst = style("roads")
    classes = layer_spec("roads").fields["road_class"].values
    cls = roads["road_class"].astype("string").fillna("")
    geoms, road_class = np.asarray(roads.geometry.values), cls.to_numpy(dtype=object)
    handles = []
    for code, label in classes.items():
        of_class = road_class == code
        if not of_class.any():
            continue
        color = CONTEXT_ROAD_GREY if grey else rst.get("by_value", {}).get("road_class", {}).get(code, rst["color"])
        weight = rst.get("weight_by_value", {}).get("road_class", {}).get(code, rst.get("weight", 2))
        lw = weight * PX_TO_PT * scale * (0.55 if grey else 1.0)
        add_lines(ax, geoms[of_class], color=color, linewidth=lw, zorder=zorder, capstyle="round")
        handles.append(Line2D([], [], color=color, linewidth=max(lw, 0.8), label=label))
    if grey and handles:
        handles = [Line2D([], [], color=CONTEXT_ROAD_GREY, linewidth=1.4, label="道路")]
    if fp is not None:
        x0, y0, x1, y1 = view
        if label_classes is not None:
            roads = roads[cls.isin(list(label_classes)).to_numpy()]
        clip = label_clip if label_clip is not None else shapely.box(*view)
        for x, y, ang, name in road_labels(roads, clip, min_len=min_label_len or 0.06 * (x1 - x0)):
            if x0 < x < x1 and y0 < y < y1:
                # a white box, not a stroke path effect: path effects turn PDF text into outlines
                ax.text(x, y, name, rotation=ang, rotation_mode="anchor", ha="center", va="center",
                        fontproperties=fp, fontsize=fontsize, color="#212121", bbox=_HALO, zorder=zorder + 5)
    return handles


def draw_zone_outlines(ax, zones: gpd.GeoDataFrame | None, view, *, fp=None, fontsize: float = 7.0,
                       color: str | None = None, linewidth: float = 0.9, min_share: float = 0.004,
                       zorder: float = 6) -> list:
    """Responsibility-zone outlines with their names at a point inside each zone.

    A zone is named when its part inside the view covers at least ``min_share`` of the view, so
    small zones at county scale do not pile their names on each other. Returns one handle
    (包保责任区) when anything was drawn.
    """
    from matplotlib.lines import Line2D

    zones = within(zones, view)
    if zones is None:
        return []
    color = color or style("zones").get("color", "#1f5fbf")
    add_lines(ax, shapely.boundary(np.asarray(zones.geometry.values)), color=color, linewidth=linewidth, zorder=zorder)
    if fp is not None and "name" in zones:
        parts = shapely.intersection(np.asarray(zones.geometry.values), shapely.box(*view))
        names = zones["name"].astype("string").fillna(zones["zone_id"].astype("string")).to_numpy()
        for x, y, name in free_labels(ax, parts, names, view, fontsize, min_share):
            ax.text(x, y, str(name), ha="center", va="center", color=color, fontproperties=fp, fontsize=fontsize,
                    zorder=zorder + 4,
                    bbox=dict(boxstyle="round,pad=0.1", facecolor="white", edgecolor="none", alpha=0.65))
    return [Line2D([], [], color=color, linewidth=max(linewidth, 1.0), label="包保责任区")]


def free_labels(ax, parts: np.ndarray, names: np.ndarray, view, fontsize: float, min_share: float):
    """``(x, y, name)`` of the polygon labels that fit: largest polygons first, no two label boxes overlapping.

    A label's box is estimated from its length (CJK glyphs are about one em wide) in map metres;
    a polygon smaller than ``min_share`` of the view is not labelled.
    """
    x0, y0, x1, y1 = view
    areas = shapely.area(parts)
    order = np.argsort(-areas)
    order = order[areas[order] >= min_share * (x1 - x0) * (y1 - y0)]
    if len(order) == 0:
        return []
    bbox = ax.get_window_extent() if ax.figure is not None else None
    width_in = bbox.width / ax.figure.dpi if bbox is not None else 8.0
    m_per_pt = (x1 - x0) / (width_in * 72)
    em = fontsize * m_per_pt * 1.15
    points = shapely.get_coordinates(shapely.point_on_surface(parts[order]))
    half_w = np.array([len(str(n)) for n in names[order]]) * em / 2
    placed, out = [], []
    for (x, y), hw, name in zip(points, half_w, names[order]):
        box = (x - hw, y - em / 2, x + hw, y + em / 2)
        if any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
            continue
        placed.append(box)
        out.append((x, y, name))
    return out


def draw_built_up(ax, built_up: gpd.GeoDataFrame | None, *, linewidth: float = 1.2, zorder: float = 5) -> list:
    """The built-up boundary (建成区范围线), dashed; returns its legend handle."""
    from matplotlib.lines import Line2D

    if built_up is None or len(built_up) == 0:
        return []
    color = style("built_up").get("color", "#444444")
    add_lines(ax, shapely.boundary(np.asarray(built_up.geometry.values)), color=color, linewidth=linewidth,
              linestyle=(0, (6, 3)), zorder=zorder)
    return [Line2D([], [], color=color, linewidth=linewidth, linestyle=(0, (6, 3)), label="建成区范围")]


def draw_scalebar(ax, view, fp, fontsize: float) -> float:
    """A metric scale bar (4 alternating segments, 0 / half / full labelled) at the lower left; returns its length.

    Drawn after :func:`finish_axes` has fixed the limits, inside them: the rectangles are added as artists,
    not patches, which only skips widening the data limits by them (``add_patch``'s cost, ~1 ms each).
    """
    from matplotlib.patches import Rectangle

    x0, y0, x1, y1 = view
    w, h = x1 - x0, y1 - y0
    length = nice_length(w / 4)
    bx, by = x0 + 0.04 * w, y0 + 0.035 * h
    bh = 0.010 * h
    ax.add_artist(Rectangle((bx - 0.02 * w, by - 0.015 * h), length + 0.10 * w, bh + 0.05 * h,
                            facecolor="white", edgecolor="none", alpha=0.85, zorder=20))
    for i in range(4):
        ax.add_artist(Rectangle((bx + i * length / 4, by), length / 4, bh, facecolor="black" if i % 2 == 0 else "white",
                                edgecolor="black", linewidth=0.6, zorder=21))
    for frac in (0.0, 0.5, 1.0):
        label = fmt_m(length * frac) if frac == 1.0 else f"{length * frac:g}"
        ax.text(bx + frac * length, by + bh + 0.006 * h, label, ha="center", va="bottom",
                fontproperties=fp, fontsize=fontsize, zorder=22)
    return length


def draw_north(ax, fp, fontsize: float) -> None:
    """A north arrow (grid north) at the upper right of the axes."""
    ax.annotate("", xy=(0.95, 0.965), xytext=(0.95, 0.885), xycoords="axes fraction",
                arrowprops=dict(facecolor="black", edgecolor="black", width=4, headwidth=13, headlength=14),
                zorder=22)
    ax.text(0.95, 0.865, "北 N", transform=ax.transAxes, ha="center", va="top",
            fontproperties=fp, fontsize=fontsize + 1, zorder=22,
            bbox=dict(facecolor="white", edgecolor="none", alpha=0.8, pad=1))


def fix_view(ax, view) -> None:
    """Set a map's limits to ``view`` before anything is drawn on it (which turns autoscaling off).

    Since matplotlib 3.11 ``add_collection`` brings the view limits up to date at every call; with
    autoscaling on, each layer added to a map recomputed the limits over every artist already on
    it (~0.5 ms a layer and growing: ~10 % of a patrol map). A map's view is known before its
    first layer, and :func:`finish_axes` sets the same limits at the end, so the page is the
    same; the data limits still grow with each layer, as ``set_aspect(adjustable="datalim")``
    reads them.
    """
    x0, y0, x1, y1 = view
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)


def finish_axes(ax, view) -> None:
    """Fix the limits to ``view`` at equal scale and drop ticks (a map, not a chart)."""
    x0, y0, x1, y1 = view
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    for s in ax.spines.values():
        s.set_linewidth(1.0)


def draw_legend(ax, handles: list, fp, fontsize: float, *, title: str | None = None, loc: str = "lower right"):
    """The map's legend: every handle once (by label), CJK font, white frame."""
    seen, unique = set(), []
    for h in handles:
        if h.get_label() not in seen:
            seen.add(h.get_label())
            unique.append(h)
    prop = fp.copy()
    prop.set_size(fontsize)
    leg = ax.legend(handles=unique, loc=loc, prop=prop, title=title, framealpha=0.9, edgecolor="#999999")
    if title:
        tprop = fp.copy()
        tprop.set_size(fontsize * 1.05)
        leg.set_title(title, prop=tprop)
    leg.set_zorder(30)
    return leg
