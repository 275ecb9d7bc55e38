"""Interactive web maps (folium/Leaflet) of the county and of each responsibility zone, offline-capable.

One county map with every layer toggleable — responsibility zones coloured and labelled, street
lamps by status, public toilets with their service radius, parks, the zone audit's gaps and
overlaps highlighted — and one map per zone, zoomed to it. Popups show the attributes under their
Chinese catalogue labels, with coded values in Chinese (``broken`` → 故障).

What a page shows when it opens
-------------------------------
The county page opens on the built-up area (not on green land far out of town). On: the zones
and their names (from the zoom at which a zone is wide enough to carry its label), the audit's
gaps and overlaps, parks, toilets and their service radius, broken lamps (always, drawn large),
and in offline mode the base of roads, residential land and green land. Working lamps are drawn
from zoom :data:`LAMP_MIN_ZOOM` (street level) on; candidates and cases are off until switched
on. The legend lists what the page draws — each road class, zones, land, audit, toilets, lamps
by status — and the scale bar is metric (m / km).

One preparation, many pages
---------------------------
:func:`prepare_map_data` reprojects, escapes and serialises every layer once (one GeoJSON
Feature string per feature); :func:`render_page` cuts a page from it by a metric window with an
STRtree query and joins the strings. :func:`write_all_maps` writes the county page and then the
zone pages in a process pool (:func:`write_zone_pages`). The GeoJSON goes into the page as
literal script text: folium would compile it as a Jinja template (most of a page's time, and
``{{ }}`` in an attribute would be evaluated). ``bench/bench_maps.py`` times it.

Basemaps
--------
``"offline"`` (default)
    No tiles at all: the workspace's own roads, residential blocks and green land are drawn as
    the base, and :func:`save_map` writes Leaflet next to the HTML (``lib/leaflet/``) and adds a
    Content-Security-Policy that forbids any non-local request. The page works on a government
    network cut off from the internet, opened straight from disk (``file://``) or an intranet server.
``"osm"``
    OpenStreetMap tiles (WGS84 data sits on them as it is).
``"tianditu"``
    天地图 vector tiles + Chinese annotation (WMTS, Web Mercator ``_w`` sets). Needs the user's own
    key (``tianditu_key``, free from console.tianditu.gov.cn). Tianditu is referenced to CGCS2000,
    which differs from WGS84 by centimetres, so no shift is applied.
``"amap"``
    高德 (Amap) tiles. Amap draws its streets in GCJ-02, the deliberately offset "Mars"
    coordinates, so our WGS84 data is **shifted forward WGS84 → GCJ-02** with
    :func:`civgis.store.coords.wgs84_to_gcj02` before it is drawn: a lamp surveyed at WGS84
    (116.42079, 39.90105) is drawn at GCJ-02 (116.42703, 39.90245), about 550 m east-north-east,
    which is where Amap painted that street. (The opposite direction — GCJ-02 → WGS84 — is what
    the importers do to coordinates *picked on* Amap.)

Escaping
--------
Every attribute value shown in a popup or label is HTML-escaped in Python before it is embedded
(folium's ``GeoJsonPopup`` inserts values with ``innerHTML``), so a zone named
``<script>alert(1)</script>`` is shown as that text and runs nothing. The GeoJSON itself is
embedded through Jinja's ``tojson`` filter, which escapes ``<``, ``>`` and ``&``.

Examples
--------
>>> import tempfile, geopandas as gpd
>>> from shapely.geometry import Point, box
>>> from civgis.store.workspace import Workspace
>>> d = tempfile.mkdtemp()
>>> ws = Workspace.create(d + "/w.gpkg", crs=4527)
>>> x0, y0 = 39_500_000.0, 3_520_000.0
>>> ws.write("zones", gpd.GeoDataFrame({"zone_id": ["Z1"], "name": ["<b>一区</b>"]},
...          geometry=[box(x0, y0, x0 + 500, y0 + 500)], crs=4527))
>>> ws.write("lamps", gpd.GeoDataFrame({"lamp_id": ["L1"], "status": ["broken"]},
...          geometry=[Point(x0 + 100, y0 + 100)], crs=4527))
>>> m = county_map(ws)
>>> path = save_map(m, d + "/county.html")
>>> html = path.read_text(encoding="utf-8")
>>> "<b>" in html, "lib/leaflet/leaflet.js" in html, "cdn.jsdelivr" in html
(False, True, False)
"""

from __future__ import annotations

import base64
import hashlib
import html as _html
import json
import multiprocessing as mp
import os
import re
import shutil
import threading
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from functools import lru_cache
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import branca.element
import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from folium.utilities import JsCode, get_obj_in_upper_tree
from geopandas.array import GeometryArray
from jinja2 import Template
from shapely.geometry import box

from civgis.analysis.audit import audit_workspace
from civgis.analysis.cases import case_states, checked_states
from civgis.analysis.lamps import lamp_states
from civgis.forking import fork_is_safe
from civgis.progress import progress as progress_bar
from civgis.store.catalogue import layer_spec
from civgis.store.inert import safe_stem
from civgis.store.coords import wgs84_to_gcj02
from civgis.store.targets import default_parameters, load_targets

__all__ = ["metric_scale", "escape_text", "HTML_ENTITIES", "BASEMAPS", "ASSETS_DIR", "LIB_DIRNAME", "MAP_LAYERS", "BASE_LAYERS", "ZONE_PALETTE", "GAP_STYLE",
           "OVERLAP_STYLE", "OVERDUE_STYLE", "OFFLINE_BACKGROUND", "DISPLAY_DECIMALS", "CASES", "WebmapError", "escape_html",
           "display_values", "zone_colours", "to_display_crs", "display_geometry", "AUDIT_ALIASES", "load_map_layers",
           "build_map", "build_zone_map", "label_min_zoom", "county_map", "zone_map", "localise_html",
           "save_map", "cached_template", "script_hashes", "self_contained_html", "NotebookMap", "notebook_map", "write_all_maps",
           "LAMP_MIN_ZOOM", "feature_strings", "geo_dict", "PreparedLayer", "MapData", "prepare_map_data", "render_page",
           "render_zone_page", "zone_title", "legend_html", "map_workers", "write_zone_pages", "write_assets"]

BASEMAPS = ("offline", "osm", "tianditu", "amap")

#: where the bundled Leaflet lives inside the package, and where save_map puts it beside the HTML
ASSETS_DIR = Path(__file__).resolve().parent / "assets"
LIB_DIRNAME = "lib"

#: the layers drawn, bottom to top (catalogue names; "parks" is green G1, "green" the other classes)
MAP_LAYERS = ("built_up", "residential", "green", "roads", "parks", "zones", "candidates",
              "inspections", "toilets", "lamps")

#: layers drawn as the base map in offline mode (hidden by default when tiles provide the base)
BASE_LAYERS = ("residential", "green", "roads")

#: distinct zone fills, so that neighbouring zones never share a colour (greedy graph colouring)
ZONE_PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948",
                "#ff9da7", "#9c755f", "#bab0ac", "#1f77b4", "#8c564b")

GAP_STYLE = {"color": "#d50000", "fill_color": "#ff1744", "fill_opacity": 0.55, "weight": 2, "dash": "4 3"}
OVERLAP_STYLE = {"color": "#6a00a8", "fill_color": "#d500f9", "fill_opacity": 0.6, "weight": 2}

OFFLINE_BACKGROUND = "#f2efe9"

#: decimals of the lon/lat written into the page (1e-7° ≈ 1 cm)
DISPLAY_DECIMALS = 7

#: which inspection cases the maps carry: only the open ones by default (tens of thousands of
#: closed cases would make a county page of many megabytes; hot-spot maps show history)
CASES = ("open", "all", "none")

# CDN resources folium's templates reference → bundled file (relative to lib/), or None to drop it.
# Dropped ones are only needed by folium.Icon (awesome-markers), Bootstrap widgets and
# embed=False GeoJSON ($.ajax); civgis maps use none of them (save_map refuses maps that do).
_CDN_REWRITE = (
    (re.compile(r"leaflet@[\d.]+/dist/leaflet\.js$"), "leaflet/leaflet.js"),
    (re.compile(r"leaflet@[\d.]+/dist/leaflet\.css$"), "leaflet/leaflet.css"),
    (re.compile(r"jquery[\d.-]*(\.min)?\.js$"), None),
    (re.compile(r"bootstrap[^/]*/.*bootstrap(\.bundle)?(\.min)?\.(js|css)$"), None),
    (re.compile(r"bootstrap-glyphicons\.css$"), None),
    (re.compile(r"leaflet\.awesome-markers\.(js|css)$"), None),
    (re.compile(r"leaflet\.awesome\.rotate(\.min)?\.css$"), None),
    (re.compile(r"fontawesome[^/]*/css/all(\.min)?\.css$"), None),
)

_TAG_RE = re.compile(
    r"""<script\s+src="(?P<js>[^"]+)"\s*>\s*</script>\s*|<link\s+rel="stylesheet"\s+href="(?P<css>[^"]+)"\s*/?>\s*"""
)


class WebmapError(ValueError):
    """A map cannot be made as asked (unknown basemap, missing key, unknown zone …)."""


# ====================================================================== pure helpers
#: characters user text must not carry into a page as themselves: HTML's five, and the braces,
#: because folium compiles every rendered script as a Jinja template (``{{ 7*7 }}`` would be
#: shown as ``49``, and a crafted expression would run Python while the page is written)
HTML_ENTITIES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#x27;"),
                 ("{", "&#123;"), ("}", "&#125;"))


def escape_html(values: pd.Series) -> pd.Series:
    """HTML-escape a Series of text, vectorised (``& < > " ' { }``), missing values → ``""``.

    The browser shows the text as typed; neither the browser nor folium's Jinja pass reads it as
    markup or as a template.

    >>> escape_html(pd.Series(["<script>", "a&b", "{{ 7*7 }}", None])).tolist()
    ['&lt;script&gt;', 'a&amp;b', '&#123;&#123; 7*7 &#125;&#125;', '']
    """
    s = values.astype("string").fillna("")
    for char, entity in HTML_ENTITIES:
        s = s.str.replace(char, entity, regex=False)
    return s.astype(object)


def escape_text(text) -> str:
    """:func:`escape_html` for one value (a title, a legend row).

    >>> escape_text("{% raw %} <b>")
    '&#123;% raw %&#125; &lt;b&gt;'
    """
    text = "" if text is None else str(text)
    for char, entity in HTML_ENTITIES:
        text = text.replace(char, entity)
    return text


def display_values(gdf: gpd.GeoDataFrame, layer: str) -> pd.DataFrame:
    """The catalogue fields of ``gdf`` as escaped display text for popups.

    Coded values become their Chinese labels (``status = broken`` → ``故障``), booleans 是/否,
    datetimes ``YYYY-MM-DD HH:MM``, floats one decimal; every value is HTML-escaped.

    Returns a DataFrame with one column per catalogue field present (same names).
    """
    spec = layer_spec(layer)
    out = {}
    for name, fspec in spec.fields.items():
        if name not in gdf:
            continue
        col = gdf[name]
        if fspec.type == "bool":
            b = col.astype("boolean")
            text = pd.Series(np.where(b.fillna(False), "是", "否"), index=col.index).where(b.notna(), "")
        elif fspec.type == "datetime":
            text = pd.to_datetime(col, errors="coerce", format="mixed").dt.strftime("%Y-%m-%d %H:%M")
        elif fspec.type == "float":
            text = pd.to_numeric(col, errors="coerce").round(1).astype("string")
        else:
            text = col.astype("string")
            if fspec.values:
                text = text.map(lambda v, m=fspec.values: m.get(v, v) if isinstance(v, str) else v)
        out[name] = escape_html(text)
    return pd.DataFrame(out, index=gdf.index)


def zone_colours(zones: gpd.GeoSeries | gpd.GeoDataFrame, palette=ZONE_PALETTE) -> np.ndarray:
    """A fill colour per zone such that zones that touch or overlap get different colours.

    Greedy colouring of the adjacency graph (pairs from one STRtree ``intersects`` query, in
    descending-degree order); with fewer colours than needed it cycles through the palette.
    """
    geoms = zones.geometry.values if hasattr(zones, "geometry") else np.asarray(zones)
    n = len(geoms)
    if n == 0:
        return np.array([], dtype=object)
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left != right
    left, right = left[keep], right[keep]
    neighbours = [[] for _ in range(n)]
    for a, b in zip(left.tolist(), right.tolist()):
        neighbours[a].append(b)
    order = np.argsort(-np.bincount(left, minlength=n), kind="stable")
    colour = np.full(n, -1)
    k = len(palette)
    for i in order.tolist():
        used = {colour[j] for j in neighbours[i]}
        free = next((c for c in range(k) if c not in used), None)
        colour[i] = free if free is not None else i % k
    return np.asarray(palette, dtype=object)[colour]


def to_display_crs(gdf: gpd.GeoDataFrame, basemap: str) -> gpd.GeoDataFrame:
    """Project to WGS84 lon/lat for Leaflet; for ``basemap="amap"`` shift forward into GCJ-02.

    The shift direction is WGS84 → GCJ-02 because Amap's tiles are drawn in GCJ-02: our true
    (WGS84) positions must receive the same offset to land on Amap's streets. The other columns
    are kept; :func:`display_geometry` does the same for the geometry alone.
    """
    return gdf.set_geometry(display_geometry(gdf.geometry.values, basemap))


def display_geometry(geoms: GeometryArray, basemap: str) -> GeometryArray:
    """The coordinates Leaflet is given: ``geoms`` (with their CRS) as lon/lat, shifted for Amap, rounded.

    Works on the geometry array alone: a GeoDataFrame's ``to_crs`` and ``set_geometry`` copy the
    frame and compare CRSs each time, 3 ms a call against 0.1 ms here (a zone page calls it for
    its view; the preparation once per layer).

    Parameters
    ----------
    geoms : geopandas.array.GeometryArray
        Geometries with a CRS (``gdf.geometry.values``).
    basemap : str
        ``"amap"`` shifts WGS84 → GCJ-02 (see :func:`to_display_crs`); the others draw WGS84.

    Returns
    -------
    GeometryArray
        In EPSG:4326, coordinates rounded to :data:`DISPLAY_DECIMALS` decimals.
    """
    out = geoms.to_crs(4326)
    if len(out) == 0:
        return out
    shift = basemap == "amap"
    # 1e-7° ≈ 1 cm: enough for any map, and a third less HTML
    moved = shapely.transform(np.asarray(out), lambda xy: np.round(_gcj02_xy(xy) if shift else xy, DISPLAY_DECIMALS))
    return GeometryArray(moved, crs=out.crs)


def _gcj02_xy(xy: np.ndarray) -> np.ndarray:
    lon, lat = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat])


def _as_geometry_array(geoms, crs) -> GeometryArray:
    """Shapely geometries (a list or an object array) as a GeometryArray in ``crs``."""
    return GeometryArray(np.asarray(geoms, dtype=object), crs=crs)


# ====================================================================== layer styling in JavaScript
def _path_style(style: dict, *, fill: bool) -> dict:
    out = {"color": style.get("color", "#3388ff"), "weight": style.get("weight", 2), "opacity": 0.9}
    if fill:
        out.update(fill=True, fillColor=style.get("fill_color", out["color"]),
                   fillOpacity=style.get("fill_opacity", 0.3))
    else:
        out["fill"] = False
    if style.get("dash"):
        out["dashArray"] = style["dash"]
    return out


def _style_js(defaults: dict, class_name: str) -> JsCode:
    """Leaflet style function: defaults, overridden per feature by ``_stroke``/``_fill``/``_weight``."""
    base = json.dumps({**defaults, "className": class_name})
    return JsCode(
        "function(f) { var p = f.properties, s = Object.assign({}, " + base + ");"
        " if (p._stroke) { s.color = p._stroke; } if (p._fill) { s.fillColor = p._fill; }"
        " if (p._weight) { s.weight = p._weight; } return s; }"
    )


def _circle_js(radius: float, class_name: str, fill_opacity: float = 0.9) -> JsCode:
    opts = json.dumps({"radius": radius, "weight": 1, "fillOpacity": fill_opacity, "className": class_name})
    return JsCode(
        "function(f, latlng) { var p = f.properties, o = Object.assign({}, " + opts + ");"
        " o.color = p._stroke; o.fillColor = p._fill || p._stroke; return L.circleMarker(latlng, o); }"
    )


_LABEL_JS = JsCode(
    "function(f, latlng) { return L.marker(latlng, {interactive: false, keyboard: false,"
    " icon: L.divIcon({className: 'civgis-zone-label', html: f.properties._label, iconSize: null})}); }"
)


class _LabelZoom(MacroElement):
    """Hide zone labels below a zoom level (a CSS class on the map container, toggled on zoomend)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function(map) {
            function civgisLabels() {
                map.getContainer().classList.toggle('civgis-hide-labels', map.getZoom() < {{ this.zoom }});
            }
            map.on('zoomend', civgisLabels);
            civgisLabels();
        })({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, zoom: int):
        super().__init__()
        self._name = "CivgisLabelZoom"
        self.zoom = int(zoom)


class _RadiusByZoom(MacroElement):
    """Shrink a circle-marker layer when zoomed out: r = clip(r0 · 2**((z − full_zoom)/2), r_min, r0).

    Thousands of lamps at full size would hide the town at county zoom; halving the area per
    zoom level keeps density readable. Add as a child of the folium.GeoJson layer.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function(layer, map) {
            function civgisRadius() {
                var r = {{ this.radius }} * Math.pow(2, (map.getZoom() - {{ this.full_zoom }}) / 2);
                r = Math.max({{ this.min_radius }}, Math.min({{ this.radius }}, r));
                layer.eachLayer(function(l) { if (l.setRadius) { l.setRadius(r); } });
            }
            map.on('zoomend', civgisRadius);
            civgisRadius();
        })({{ this._parent.get_name() }}, {{ this._parent._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, radius: float, full_zoom: int = 17, min_radius: float = 1.5):
        super().__init__()
        self._name = "CivgisRadiusByZoom"
        self.radius, self.full_zoom, self.min_radius = float(radius), int(full_zoom), float(min_radius)


def _by_value(gdf: gpd.GeoDataFrame, style: dict, key: str, default):
    """Per-feature value from ``style[key][field][value]`` (catalogue ``by_value`` tables)."""
    table = style.get(key, {})
    if not table:
        return None
    field, mapping = next(iter(table.items()))
    if field not in gdf:
        return None
    return gdf[field].astype("string").map(mapping).astype(object).where(lambda s: s.notna(), default)


# ====================================================================== layers prepared once per run
@dataclass
class _Layer:
    key: str
    title: str
    gdf: gpd.GeoDataFrame  # already in display coordinates, with display columns


def feature_strings(gdf: gpd.GeoDataFrame) -> np.ndarray:
    """One GeoJSON ``Feature`` (JSON text) per row: the non-geometry columns as properties.

    Vectorised: the geometries through ``shapely.to_geojson``, the properties through pandas'
    ``to_json(orient="records", lines=True)``; missing values are ``null``. A page joins the
    strings of the features it shows (``[" + ",".join(...) + "]``), so nothing is serialised twice.

    >>> from shapely.geometry import Point
    >>> feature_strings(gpd.GeoDataFrame({"a": ["x"]}, geometry=[Point(1, 2)])).tolist()
    ['{"type":"Feature","properties":{"a":"x"},"geometry":{"type":"Point","coordinates":[1.0,2.0]}}']
    """
    n = len(gdf)
    if n == 0:
        return np.array([], dtype=object)
    geoms = shapely.to_geojson(gdf.geometry.values)
    cols = [c for c in gdf.columns if c != gdf.geometry.name]
    props = (pd.DataFrame(gdf[cols]).to_json(orient="records", lines=True, force_ascii=False).splitlines()
             if cols else ["{}"] * n)
    return np.array([f'{{"type":"Feature","properties":{p},"geometry":{g if g is not None else "null"}}}'
                     for p, g in zip(props, geoms)], dtype=object)


def geo_dict(gdf: gpd.GeoDataFrame) -> dict:
    """``gdf.to_geo_dict()`` (missing values ``None``, no bbox, each feature's ``id`` its index label), built
    through ``shapely.to_geojson`` instead of one ``shapely.geometry.mapping`` per geometry.

    For folium layers that need the features as Python objects (a ``style_function`` reads them).
    ``mapping`` builds nested tuples coordinate by coordinate in Python: 0.09 s for the demo's
    659 streets, against 0.01 s for GEOS's GeoJSON text parsed by ``json`` (which reads back the
    very doubles: GEOS writes them round-trip exact). Lists stand where ``mapping`` has tuples:
    the same JSON.

    >>> from shapely.geometry import Point
    >>> gdf = gpd.GeoDataFrame({"a": ["x", None]}, geometry=[Point(1, 2), None])
    >>> geo_dict(gdf)["features"][0]
    {'id': '0', 'type': 'Feature', 'properties': {'a': 'x'}, 'geometry': {'type': 'Point', 'coordinates': [1.0, 2.0]}}
    >>> json.dumps(geo_dict(gdf)) == json.dumps(gdf.to_geo_dict())
    True
    """
    texts = shapely.to_geojson(np.asarray(gdf.geometry.values))
    geometries = json.loads("[" + ",".join("null" if t is None else t for t in texts) + "]")
    cols = [c for c in gdf.columns if c != gdf.geometry.name]
    values = pd.DataFrame(gdf[cols]).astype(object)
    rows = values.where(pd.notna(values), None).to_numpy() if cols else np.empty((len(gdf), 0), dtype=object)
    features = [{"id": str(i), "type": "Feature", "properties": dict(zip(cols, row)), "geometry": geometry}
                for i, row, geometry in zip(gdf.index, rows, geometries)]
    return {"type": "FeatureCollection", "features": features}


@dataclass
class PreparedLayer:
    """One map layer, reprojected, escaped and serialised once for every page of a run.

    ``features`` holds one GeoJSON Feature string per feature, ``select`` the metric geometry
    that decides whether a feature belongs to a page's window, ``legend`` the legend entry of
    each feature (a page's legend lists only the entries of the features it shows).
    """

    title: str
    features: np.ndarray
    select: np.ndarray
    legend: np.ndarray
    show: bool = True
    control: bool = True
    style: JsCode | None = None
    point: JsCode | None = None
    popup_fields: tuple = ()
    aliases: tuple = ()
    group: str | None = None        # drawn inside a FeatureGroup of this name (one toggle)
    radius_by_zoom: float | None = None
    kind: str = ""                  # "zones" / "labels" get per-page treatment
    _tree: object = None
    _zone_texts: tuple | None = None

    def take(self, window=None) -> np.ndarray:
        """Indices (ascending) of the features whose ``select`` geometry intersects ``window`` (all if None)."""
        if window is None:
            return np.arange(len(self.features))
        self.build_index()
        return np.sort(self._tree.query(window, predicate="intersects"))

    def __getstate__(self) -> dict:  # where workers are spawned, not forked: each rebuilds its index
        return {**self.__dict__, "_tree": None}

    def build_index(self) -> None:
        """Build the spatial index now (before worker processes fork, so that they share it)."""
        if self._tree is None:
            self._tree = shapely.STRtree(self.select)

    def ready_for_pages(self) -> None:
        """Build what every page reads — the spatial index, a zones layer's outline texts — before workers fork."""
        self.build_index()
        if self.kind == "zones":
            self.zone_texts()

    def zone_texts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A zones layer's features as a zone page draws them, made once per run (not parsed again per page).

        Returns
        -------
        zone_ids : ndarray
            Each feature's ``zone_id`` property (escaped, as the popup shows it; None when absent).
        neighbour : ndarray
            Each feature's JSON text as a neighbouring zone: thin outline (``_weight`` 1.5).
        own : ndarray
            Each feature's JSON text as the page's own zone: thick red outline.
        """
        if self._zone_texts is None:
            self._zone_texts = _zone_outline_texts(self.features)
        return self._zone_texts

    def highlighted_text(self, idx: np.ndarray, zone_id: str) -> str:
        """:meth:`text` of a zones layer with ``zone_id`` outlined red and thick, its neighbours thin."""
        ids, neighbour, own = self.zone_texts()
        hit = ids[idx] == escape_text(zone_id)   # as escape_html wrote the zone_id property
        return '{"type":"FeatureCollection","features":[' + ",".join(np.where(hit, own[idx], neighbour[idx])) + "]}"

    def text(self, idx: np.ndarray) -> str:
        """The GeoJSON FeatureCollection of the features ``idx`` as JSON text."""
        return '{"type":"FeatureCollection","features":[' + ",".join(self.features[idx]) + "]}"


@dataclass
class MapData:
    """Everything the web maps of one workspace draw, prepared once (see :func:`prepare_map_data`).

    Pages are cut from it by a metric window (:func:`render_page`): the county page takes every
    feature, a zone page the features near the zone, so 50 zone pages share one preparation.
    """

    layers: list
    crs: object
    basemap: str
    tianditu_key: str | None
    home: tuple | None              # metric bounds the county page opens on
    zone_ids: np.ndarray            # raw zone ids (str), zones layer order
    zone_names: np.ndarray
    zone_staff: np.ndarray
    zone_bounds: np.ndarray         # (n, 4) metric
    zone_area: np.ndarray           # m²
    zone_lat: np.ndarray            # latitude of a point inside each zone
    toilet_radius_m: float
    label_px: float = 80.0


def _prepared(lyr: _Layer, select, legend, **kw) -> PreparedLayer:
    n = len(lyr.gdf)
    legend = np.full(n, legend, dtype=object) if isinstance(legend, str) else np.asarray(legend, dtype=object)
    return PreparedLayer(lyr.title, feature_strings(lyr.gdf), np.asarray(select), legend, **kw)


def _catalogue_layer(gdf: gpd.GeoDataFrame, layer: str, title: str, basemap: str) -> _Layer:
    """Display coordinates + escaped catalogue fields + per-feature ``_stroke``/``_fill``/``_weight``."""
    spec = layer_spec(layer)
    style = spec.style
    shown = display_values(gdf, layer)
    disp = display_geometry(gdf.geometry.values, basemap)
    out = gpd.GeoDataFrame(shown, geometry=disp, crs=disp.crs)
    colour = _by_value(gdf, style, "by_value", style.get("color"))
    if colour is not None:
        out["_stroke"] = colour.values
        if spec.geometry == "Polygon":
            out["_fill"] = colour.values
    weight = _by_value(gdf, style, "weight_by_value", style.get("weight"))
    if weight is not None:
        out["_weight"] = weight.values
    if spec.geometry == "Point" and "_stroke" not in out:
        out["_stroke"] = style.get("color", "#3388ff")
    return _Layer(layer, title, out)


def _popup_spec(layer: str, gdf: gpd.GeoDataFrame) -> tuple[list[str], list[str]]:
    spec = layer_spec(layer)
    fields = [f for f in spec.fields if f in gdf]
    return fields, [spec.label(f) for f in fields]


def _prepare_catalogue(gdf, layer, *, title, basemap, show, class_name, legend, radius=None,
                       radius_by_zoom=None, style=None) -> PreparedLayer:
    spec = layer_spec(layer)
    lyr = _catalogue_layer(gdf, layer, title, basemap)
    fields, aliases = _popup_spec(layer, gdf)
    if spec.geometry == "Point":
        js = dict(point=_circle_js(radius or spec.style.get("radius", 4), class_name))
    else:
        js = dict(style=_style_js(_path_style(style or spec.style, fill=spec.geometry == "Polygon"), class_name))
    return _prepared(lyr, gdf.geometry.values, legend, show=show, popup_fields=tuple(fields),
                     aliases=tuple(aliases), radius_by_zoom=radius_by_zoom, **js)


def _area_layer(gdf: gpd.GeoDataFrame, title: str, basemap: str, aliases: dict[str, str]) -> _Layer:
    """Audit polygons (gaps/overlaps): their known attributes escaped (lists joined), area in m²."""
    cols = {}
    for c in aliases:
        if c not in gdf.columns or c == "area_m2":
            continue
        v = gdf[c].map(lambda x: "、".join(map(str, x)) if isinstance(x, (list, tuple, set, np.ndarray)) else x)
        cols[c] = escape_html(v.astype("string"))
    cols["area_m2_display"] = escape_html(gdf.geometry.area.round(1).astype("string"))
    disp = display_geometry(gdf.geometry.values, basemap)
    return _Layer("audit", title, gpd.GeoDataFrame(cols, geometry=disp, crs=disp.crs))


#: audit columns shown in popups (civgis.analysis.audit's gap/overlap tables), in this order
AUDIT_ALIASES = {
    "gap_id": "空隙编号", "overlap_id": "重叠编号", "area_m2_display": "面积（平方米）",
    "zones": "涉及责任区", "neighbours": "相邻责任区", "suggested_zone": "建议并入责任区",
}


def _prepare_audit(gaps, overlaps, basemap, crs, ring_px: float = 11.0) -> list[PreparedLayer]:
    """Gaps and overlaps: the polygons, plus a ring of ``ring_px`` pixels at a point inside each
    so that parts of a few thousand m² stay visible at county zoom. One toggle per kind."""
    out = []
    for gdf, title, style, cls, key in ((gaps, "责任区空隙（未覆盖）", GAP_STYLE, "civgis-gaps", "gaps"),
                                        (overlaps, "责任区重叠", OVERLAP_STYLE, "civgis-overlaps", "overlaps")):
        if gdf is None or len(gdf) == 0:
            continue
        if gdf.crs is None:
            raise WebmapError(f"{title}: GeoDataFrame has no CRS")
        if crs is not None:
            gdf = gdf.to_crs(crs)
        lyr = _area_layer(gdf, title, basemap, AUDIT_ALIASES)
        fields = tuple(c for c in AUDIT_ALIASES if c in lyr.gdf.columns)
        aliases = tuple(AUDIT_ALIASES[c] for c in fields)
        common = dict(show=True, control=False, popup_fields=fields, aliases=aliases, group=title)
        out.append(_prepared(lyr, gdf.geometry.values, key,
                             style=_style_js(_path_style(style, fill=True), cls), **common))
        rings = lyr.gdf.set_geometry(display_geometry(
            _as_geometry_array(shapely.point_on_surface(gdf.geometry.values), gdf.crs), basemap))
        rings["_stroke"] = style["color"]
        ring_js = JsCode(
            "function(f, latlng) { return L.circleMarker(latlng, {radius: " + json.dumps(ring_px) + ", weight: 3,"
            " color: f.properties._stroke, fill: true, fillOpacity: 0, className: '" + cls + "-ring'}); }")
        out.append(_prepared(_Layer("audit", title, rings), gdf.geometry.values, key, point=ring_js, **common))
    return out


def _tile_layers(m: folium.Map, basemap: str, tianditu_key: str | None) -> None:
    if basemap == "offline":
        return
    if basemap == "osm":
        folium.TileLayer("OpenStreetMap", name="OpenStreetMap 底图", max_zoom=19).add_to(m)
    elif basemap == "tianditu":
        _check_basemap(basemap, tianditu_key or None)
        key = quote(str(tianditu_key), safe="")
        attr = "天地图 © 国家地理信息公共服务平台"

        def wmts(layer):
            return ("https://t{s}.tianditu.gov.cn/" + layer + "_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
                    "&VERSION=1.0.0&LAYER=" + layer + "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
                    "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=" + key)

        folium.TileLayer(wmts("vec"), attr=attr, name="天地图 矢量", subdomains="01234567", max_zoom=18).add_to(m)
        folium.TileLayer(wmts("img"), attr=attr, name="天地图 影像", subdomains="01234567", max_zoom=18,
                         show=False, overlay=False).add_to(m)
        folium.TileLayer(wmts("cva"), attr=attr, name="天地图 注记", subdomains="01234567", max_zoom=18,
                         overlay=True).add_to(m)
    elif basemap == "amap":
        attr = "© 高德地图 AutoNavi（GCJ-02，数据已由 WGS84 偏移）"
        folium.TileLayer("https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
                         "&x={x}&y={y}&z={z}", attr=attr, name="高德 矢量", subdomains="1234",
                         max_zoom=18).add_to(m)
        folium.TileLayer("https://webst0{s}.is.autonavi.com/appmaptile?style=6&x={x}&y={y}&z={z}",
                         attr=attr, name="高德 影像", subdomains="1234", max_zoom=18, overlay=False,
                         show=False).add_to(m)


_PAGE_CSS = """
<style>
  .civgis-zone-label { font: bold 12px "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; color: #0d2b5e;
    white-space: nowrap; text-shadow: 0 0 3px #fff, 0 0 3px #fff, 0 0 3px #fff; transform: translate(-50%, -50%); }
  .civgis-hide-labels .civgis-zone-label { display: none; }
  .civgis-hide-lamps .civgis-lamps-working { display: none; }
  .civgis-title { position: absolute; top: 10px; left: 50px; z-index: 1000; background: rgba(255,255,255,.92);
    padding: 6px 12px; border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,.3);
    font: bold 15px "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; }
  .civgis-legend { position: absolute; bottom: 28px; right: 10px; z-index: 1000; background: rgba(255,255,255,.92);
    padding: 6px 10px; border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,.3); max-height: 60%; overflow-y: auto;
    font: 12px "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; line-height: 18px; }
  .civgis-legend-title { font-weight: bold; margin-bottom: 2px; }
  .civgis-legend i { display: inline-block; width: 12px; height: 12px; margin-right: 5px; vertical-align: -1px;
    border: 1px solid #555; box-sizing: border-box; }
  .civgis-legend i.line { height: 0; border: 0; border-top-style: solid; vertical-align: 4px; width: 18px; }
  .civgis-legend i.dot { border-radius: 50%; }
  .foliumpopup th { text-align: left; padding-right: 8px; white-space: nowrap; }
  .leaflet-control-layers-expanded { font: 13px "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; }
</style>
"""

#: working lamps are drawn from this zoom on (street level: at 30° N a pixel is 2.1 m at zoom 16, so
#: lamps 30 m apart are 14 px apart); below it they would cover the streets. Broken lamps always show.
LAMP_MIN_ZOOM = 16


class _Raw(Element):
    """Literal HTML (one compiled template for all: ``folium.Element(html)`` compiles ``html`` as Jinja)."""

    _template = Template("{{ this.html }}")

    def __init__(self, html: str):
        super().__init__()
        self.html = html


def _script_safe(text: str) -> str:
    """JSON text made safe inside ``<script>`` as folium's ``tojson`` does (``< > & '`` → ``\\u00XX``)."""
    for char, code in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"), ("'", "\\u0027")):
        text = text.replace(char, code)
    return text


def _literal_script(element: MacroElement, kwargs: dict, replace: tuple[str, str] | None = None) -> None:
    """Add ``element``'s rendered script macro to the page as literal text (see :class:`_GeoJson`)."""
    text = str(element._template.module.__dict__["script"](element, kwargs))
    if replace is not None:
        text = text.replace(*replace)
    element.get_root().script.add_child(_Raw(text), name=element.get_name())


class _GeoJson(folium.GeoJson):
    """``folium.GeoJson`` that embeds prepared GeoJSON text and adds its script as literal text.

    folium wraps every rendered script in ``Element(text)``, which compiles the text as a Jinja
    template: slow for megabytes of GeoJSON (the lexer reads all of it: most of a zone page's
    time) and unsafe — an attribute ``{{ 7*7 }}`` in the data would be shown as ``49``, and a
    crafted one would run Python while the page is written. The data is given as JSON text
    (``text``, already made script-safe) so that it is not parsed and serialised again; ``.data``
    parses it on demand. Used with ``style``/``pointToLayer`` given as JavaScript.
    """

    def __init__(self, text: str, **kwargs):
        super().__init__({"type": "FeatureCollection", "features": []}, **kwargs)
        self._text, self._data = text, None

    @property
    def data(self) -> dict:
        if self._data is None:
            self._data = json.loads(self._text)
        return self._data

    @data.setter
    def data(self, value) -> None:
        self._data, self._text = value, None

    def render(self, **kwargs):
        self.parent_map = get_obj_in_upper_tree(self, folium.Map)
        marker = {"civgis_data": self.get_name()}
        self._data = marker  # the template writes the marker; it is replaced by the text
        try:
            _literal_script(self, kwargs, (_script_safe(json.dumps(marker)), self._text))
        finally:
            self._data = None
        if self.show:
            self.get_root().script.add_child(
                _Raw(f"{self.get_name()}.addTo({self._parent.get_name()});"), name=self.get_name() + "_add")
        for child in self._children.values():
            child.render(**kwargs)


class _GeoJsonPopup(folium.GeoJsonPopup):
    """``folium.GeoJsonPopup`` rendered as literal text (see :class:`_GeoJson`); the fields are the
    prepared layer's own columns, so folium's check against the data is not needed."""

    def render(self, **kwargs):
        self.get_root().header.add_child(_Raw(_POPUP_CSS), name="civgis_popup_css")
        _literal_script(self, kwargs)


_POPUP_CSS = ("<style>.foliumpopup { } .foliumpopup table { margin: auto; } .foliumpopup tr { text-align: left; }"
              " .foliumpopup th { padding: 2px; padding-right: 8px; }</style>")


class _ZoomClass(MacroElement):
    """Set a CSS class on the map container while the zoom is below ``zoom`` (hides a layer's markers)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function(map) {
            function civgisZoomClass() {
                map.getContainer().classList.toggle({{ this.css_class|tojson }}, map.getZoom() < {{ this.zoom }});
            }
            map.on('zoomend', civgisZoomClass);
            civgisZoomClass();
        })({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, zoom: int, css_class: str):
        super().__init__()
        self._name = "CivgisZoomClass"
        self.zoom, self.css_class = int(zoom), css_class


class _MetricScale(MacroElement):
    """Leaflet's scale bar in metres / kilometres only (folium's ``control_scale`` adds feet and miles)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        L.control.scale({metric: true, imperial: false, maxWidth: 160}).addTo({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self):
        super().__init__()
        self._name = "CivgisMetricScale"


def metric_scale(m) -> None:
    """A metric-only scale bar on a folium map (every civgis web page; Leaflet's default also shows feet)."""
    _MetricScale().add_to(m)


def _legend_entries() -> dict[str, str]:
    """Legend key → swatch + Chinese label, in legend order (catalogue colours)."""
    st = {n: layer_spec(n).style for n in ("built_up", "residential", "green", "roads", "zones", "candidates",
                                          "inspections", "toilets", "lamps")}
    line = '<i class="line" style="border-top-color:{c};border-top-width:{w}px"></i>'
    fill = '<i style="background:{f};border-color:{c}"></i>'
    dot = '<i class="dot" style="background:{c};border-color:{c}"></i>'
    road_labels = layer_spec("roads").fields["road_class"].values or {}
    lamp_labels = layer_spec("lamps").fields["status"].values or {}
    out = {"zone_highlight": '<i style="background:none;border:3px solid #d50000"></i>本责任区',
           "zones": fill.format(f=ZONE_PALETTE[0] + "66", c=st["zones"]["color"]) + "包保责任区（相邻责任区不同色）",
           "gaps": fill.format(f=GAP_STYLE["fill_color"], c=GAP_STYLE["color"]) + "责任区空隙（未覆盖）",
           "overlaps": fill.format(f=OVERLAP_STYLE["fill_color"], c=OVERLAP_STYLE["color"]) + "责任区重叠",
           "built_up": '<i style="background:none;border:2px dashed #444"></i>建成区边界'}
    for code, label in road_labels.items():
        out[f"road:{code}"] = line.format(c=st["roads"]["by_value"]["road_class"].get(code, st["roads"]["color"]),
                                          w=max(2, st["roads"]["weight_by_value"]["road_class"].get(code, 2))) + \
            f"道路 {label}"
    out["road:"] = line.format(c=st["roads"]["color"], w=2) + "道路"
    out["residential"] = fill.format(f=st["residential"]["fill_color"], c=st["residential"]["color"]) + "居住用地"
    out["parks"] = fill.format(f=st["green"]["by_value"]["category"]["G1"], c=st["green"]["color"]) + "公园绿地（G1）"
    out["green"] = fill.format(f=st["green"]["by_value"]["category"]["G2"], c=st["green"]["color"]) + "其他绿地"
    out["candidates"] = fill.format(f=st["candidates"]["fill_color"], c=st["candidates"]["color"]) + "候选地块"
    out["overdue"] = dot.format(c=OVERDUE_STYLE["fill_color"]) + "超期案件（未结案且已过整改期限）"
    out["inspections"] = dot.format(c=st["inspections"]["color"]) + "巡查案件（未结案，未超期）"
    out["inspections_all"] = dot.format(c=st["inspections"]["color"]) + "巡查案件（其他）"
    out["toilet_radius"] = fill.format(f=st["toilets"].get("service_radius_color", "#4dd0e1"), c="#4dd0e1") + \
        "公厕服务半径"
    out["toilets"] = dot.format(c=st["toilets"]["color"]) + "公厕"
    for code in ("broken", "working", "unknown"):
        note = f"（放大到 {LAMP_MIN_ZOOM} 级显示）" if code != "broken" else "（始终显示）"
        out[f"lamp:{code}"] = dot.format(c=st["lamps"]["by_value"]["status"].get(code, "#9e9e9e")) + \
            f"路灯 {lamp_labels.get(code, code)}{note}"
    return out


def legend_html(present: set[str], *, toilet_radius_m: float | None = None) -> str:
    """The legend box of a page: one row per legend key in ``present`` (what the page draws), in order."""
    entries = _legend_entries()
    rows = [entries[k] + (f" {toilet_radius_m:g} 米" if k == "toilet_radius" and toilet_radius_m else "")
            for k in entries if k in present]
    return '<div class="civgis-legend"><div class="civgis-legend-title">图例</div>' + "<br>".join(rows) + "</div>" if rows else ""


def _page_chrome(m: folium.Map, title: str, present: set[str], basemap: str, toilet_radius_m=None) -> None:
    root = m.get_root()
    root.header.add_child(_Raw(_PAGE_CSS), name="civgis_css")
    if basemap == "offline":
        root.header.add_child(_Raw(
            f"<style>html body .leaflet-container {{ background: {OFFLINE_BACKGROUND}; }}</style>"), name="civgis_bg")
    root.html.add_child(_Raw(f'<div class="civgis-title">{_html.escape(title)}</div>'), name="civgis_title")
    legend = legend_html(present, toilet_radius_m=toilet_radius_m)
    if legend:
        root.html.add_child(_Raw(legend), name="civgis_legend")
    root.title = _html.escape(title)  # branca renders <title> unescaped
    m.civgis_basemap = basemap


# ====================================================================== map builders on layers
def load_map_layers(ws) -> dict[str, gpd.GeoDataFrame]:
    """Every catalogue layer the maps draw that the workspace holds (workspace CRS).

    Read once and pass to :func:`build_map` / :func:`build_zone_map` to make many maps.
    """
    names = ("built_up", "residential", "green", "roads", "zones", "candidates", "inspections", "toilets", "lamps")
    return {n: ws.read(n) for n in names if ws.has(n)}


def _check_basemap(basemap: str, tianditu_key: str | None = "") -> None:
    if basemap not in BASEMAPS:
        raise WebmapError(f"未知底图 unknown basemap {basemap!r}; use one of {', '.join(BASEMAPS)}")
    if basemap == "tianditu" and tianditu_key is None:
        raise WebmapError("天地图底图需要密钥 the Tianditu basemap needs your key: --tianditu-key KEY "
                          "(free from https://console.tianditu.gov.cn)")


def _resolve_audit(audit, gaps, overlaps, ws=None):
    if isinstance(audit, str) and audit == "auto":
        audit = None
        if ws is not None and ws.has("zones") and ws.has("built_up"):
            audit = audit_workspace(ws)
    if audit is not None:
        gaps = gaps if gaps is not None else getattr(audit, "gaps", None)
        overlaps = overlaps if overlaps is not None else getattr(audit, "overlaps", None)
    return gaps, overlaps


def _home_bounds(layers: dict, crs) -> tuple | None:
    """Where the county page opens: the built-up area; without one the zones; else the town's own
    layers (never green land or candidates, which reach far out of town)."""
    for names in (("built_up",), ("zones",), ("roads", "residential", "lamps", "toilets", "inspections"),
                  tuple(layers)):
        frames = [layers[n] for n in names if layers.get(n) is not None and len(layers[n])]
        if frames and crs is not None:
            b = np.vstack([g.to_crs(crs).total_bounds for g in frames])
            return b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
    return None


def prepare_map_data(layers: dict[str, gpd.GeoDataFrame], *, crs=None, gaps=None, overlaps=None,
                     basemap: str = "offline", tianditu_key: str | None = None,
                     toilet_radius_m: float | None = None, cases: str = "open", label_px: float = 80.0,
                     as_of=None, states: pd.DataFrame | None = None) -> MapData:
    """Reproject, escape and serialise every layer the web maps draw, once (see :class:`MapData`).

    Parameters are those of :func:`build_map`. The result is cut into pages by :func:`render_page`.
    """
    _check_basemap(basemap)
    if cases not in CASES:
        raise WebmapError(f"cases must be one of {CASES}, not {cases!r}")
    layers = {k: v for k, v in layers.items() if v is not None}
    if crs is None:
        crs = next((g.crs for g in layers.values() if g.crs is not None), None)
    if toilet_radius_m is None:
        toilet_radius_m = default_parameters().toilet_radius_m
    offline = basemap == "offline"
    out: list[PreparedLayer] = []

    def add(layer, gdf, title, show, cls, legend, **kw):
        if gdf is not None and len(gdf):
            out.append(_prepare_catalogue(gdf, layer, title=title, basemap=basemap, show=show, class_name=cls,
                                          legend=legend, **kw))

    add("built_up", layers.get("built_up"), "建成区边界", True, "civgis-built-up", "built_up")
    add("residential", layers.get("residential"), "居住用地（底图）", offline, "civgis-residential", "residential")
    green = layers.get("green")
    is_park = None
    if green is not None and len(green):
        is_park = (green["category"].astype("string") == "G1").fillna(False).to_numpy() \
            if "category" in green else np.zeros(len(green), bool)
        add("green", green[~is_park], "其他绿地（底图）", offline, "civgis-green", "green")
    roads = layers.get("roads")
    if roads is not None and len(roads):
        known = set(layer_spec("roads").fields["road_class"].values or {})
        cls = roads["road_class"].astype("string").fillna("") if "road_class" in roads else pd.Series("", roads.index)
        add("roads", roads, "道路（底图）", offline, "civgis-roads", ("road:" + cls.where(cls.isin(known), "")).to_numpy())
    if is_park is not None:
        add("green", green[is_park], "公园绿地（G1）", True, "civgis-parks", "parks")

    zones = layers.get("zones")
    zone_arrays = _zone_arrays(zones)
    if zones is not None and len(zones):
        out += _prepare_zones(zones, basemap)
    out += _prepare_audit(gaps, overlaps, basemap, crs)

    add("candidates", layers.get("candidates"), "候选地块", False, "civgis-candidates", "candidates")
    if cases != "none":
        out += _prepare_cases(layers.get("inspections"), zones, cases, as_of, basemap, states)

    toilets = layers.get("toilets")
    if toilets is not None and len(toilets):
        out.append(_prepare_toilet_rings(toilets, toilet_radius_m, basemap))
        add("toilets", toilets, "公厕", True, "civgis-toilets", "toilets")
    out += _prepare_lamps(layers.get("lamps"), basemap)
    return MapData(out, crs, basemap, tianditu_key, _home_bounds(layers, crs), *zone_arrays,
                   toilet_radius_m=float(toilet_radius_m), label_px=label_px)


def _zone_arrays(zones) -> tuple:
    if zones is None or len(zones) == 0:
        e = np.array([], dtype=object)
        return e, e, e, np.zeros((0, 4)), np.zeros(0), np.zeros(0)
    ids = zones["zone_id"].astype("string").to_numpy(dtype=object)
    names = zones["name"].astype(object).where(zones["name"].notna(), None).to_numpy() if "name" in zones \
        else np.full(len(zones), None, dtype=object)
    staff = zones["staff"].astype(object).where(zones["staff"].notna(), None).to_numpy() if "staff" in zones \
        else np.full(len(zones), None, dtype=object)
    lat = zones.geometry.representative_point().to_crs(4326).y.to_numpy()
    return ids, names, staff, shapely.bounds(zones.geometry.values), zones.geometry.area.to_numpy(), lat


def _prepare_zones(zones: gpd.GeoDataFrame, basemap: str) -> list[PreparedLayer]:
    """Zones (fills that differ between neighbours) and their labels (one point inside each, escaped)."""
    lyr = _catalogue_layer(zones, "zones", "包保责任区", basemap)
    lyr.gdf["_fill"] = zone_colours(zones)
    lyr.gdf["_stroke"] = layer_spec("zones").style.get("color", "#1f5fbf")
    zstyle = dict(layer_spec("zones").style)
    zstyle["fill_opacity"] = max(float(zstyle.get("fill_opacity", 0.12)), 0.25)
    fields, aliases = _popup_spec("zones", zones)
    shown = display_values(zones, "zones")
    pts = gpd.GeoDataFrame({"_label": shown["name"].values if "name" in zones else shown["zone_id"].values},
                           geometry=zones.geometry.representative_point().values, crs=zones.crs)
    geoms = zones.geometry.values
    return [_prepared(lyr, geoms, "zones", style=_style_js(_path_style(zstyle, fill=True), "civgis-zones"),
                      popup_fields=tuple(fields), aliases=tuple(aliases), kind="zones"),
            _prepared(_Layer("labels", "责任区名称", to_display_crs(pts, basemap)), geoms, "zones",
                      point=_LABEL_JS, kind="labels")]


#: the overdue cases' layer: on when the page opens (failing items), drawn above the other cases
#: (near-black with a white rim: told apart from the red of broken lamps at county zoom)
OVERDUE_STYLE = {"color": "#ffffff", "fill_color": "#212121", "radius": 4.5}


def _prepare_cases(insp, zones, cases: str, as_of, basemap: str, states=None) -> list[PreparedLayer]:
    """Cases by their state at ``as_of`` (:func:`civgis.analysis.cases.case_states`, the one rule):
    the overdue ones (超期 = open and past the deadline) in a layer that is on, with the days
    overdue in the popup; the other open ones (or, ``cases="all"``, every other case reported by
    ``as_of``) off. ``states``: the run's ``case_states`` of ``insp`` when it has them."""
    if insp is None or len(insp) == 0:
        return []
    st = case_states(insp, as_of, zones) if states is None else checked_states(states, insp)
    overdue = st["overdue"].to_numpy(dtype=bool)
    rest = (st["open"] if cases == "open" else st["in_scope"]).to_numpy(dtype=bool) & ~overdue
    out = []
    if overdue.any():
        o = insp[overdue]
        lyr = _catalogue_layer(o, "inspections", "超期案件", basemap)
        lyr.gdf["_stroke"], lyr.gdf["_fill"] = OVERDUE_STYLE["color"], OVERDUE_STYLE["fill_color"]
        lyr.gdf["days_overdue"] = escape_html(st.loc[overdue, "days_overdue"].round(1).astype("string")).values
        fields, aliases = _popup_spec("inspections", o)
        out.append(_prepared(lyr, o.geometry.values, "overdue", show=True, popup_fields=(*fields, "days_overdue"),
                             aliases=(*aliases, "超期天数"), point=_circle_js(OVERDUE_STYLE["radius"],
                                                                            "civgis-inspections civgis-overdue")))
    if rest.any():
        title = "巡查案件（未结案，未超期）" if cases == "open" else "巡查案件（其他）"
        out.append(_prepare_catalogue(insp[rest], "inspections", title=title, basemap=basemap, show=False,
                                      class_name="civgis-inspections",
                                      legend="inspections" if cases == "open" else "inspections_all"))
    return out


def _prepare_toilet_rings(toilets: gpd.GeoDataFrame, radius_m: float, basemap: str) -> PreparedLayer:
    rc = layer_spec("toilets").style.get("service_radius_color", "#4dd0e1")
    shown = display_values(toilets, "toilets")
    ring = gpd.GeoDataFrame({"toilet": shown.get("name", shown["toilet_id"]).values, "radius": f"{radius_m:g} 米"},
                            geometry=toilets.geometry.buffer(radius_m, quad_segs=16).values, crs=toilets.crs)
    lyr = _Layer("toilet_radius", f"公厕服务半径（{radius_m:g} 米）", to_display_crs(ring, basemap))
    return _prepared(lyr, toilets.geometry.values, "toilet_radius", popup_fields=("toilet", "radius"),
                     aliases=("公厕", "服务半径"),
                     style=_style_js({"color": rc, "weight": 1, "opacity": 0.8, "fill": True, "fillColor": rc,
                                      "fillOpacity": 0.15}, "civgis-toilet-radius"))


def _prepare_lamps(lamps, basemap: str) -> list[PreparedLayer]:
    """Working (and unknown) lamps, shown from :data:`LAMP_MIN_ZOOM` on; broken lamps, always shown, on top."""
    if lamps is None or len(lamps) == 0:
        return []
    states = lamp_states(lamps)
    broken = states.broken
    # lamps without a recorded state (an OSM import) share the layer but not the word 正常
    unknown = "／状态未知" if states.unknown.any() else ""
    code = pd.Series(states.codes(), index=lamps.index)
    r = float(layer_spec("lamps").style.get("radius", 3))
    out = []
    for mask, title, cls, radius, by_zoom in (
            (~broken, f"路灯（正常{unknown}，放大到 {LAMP_MIN_ZOOM} 级显示）", "civgis-lamps civgis-lamps-working", r, r),
            (broken, "路灯（故障）", "civgis-lamps civgis-lamps-broken", max(r, 4.5), None)):
        if mask.any():
            legend = ("lamp:" + code[mask]).to_numpy()
            out.append(_prepare_catalogue(lamps[mask], "lamps", title=title, basemap=basemap, show=True,
                                          class_name=cls, legend=legend, radius=radius, radius_by_zoom=by_zoom))
    return out


def render_page(data: MapData, *, title: str, window=None, focus=None, highlight_zone: str | None = None) -> folium.Map:
    """One web page cut from prepared data: the features whose geometry meets ``window`` (all if None).

    Parameters
    ----------
    data : MapData
    title : str
        Shown in the title box and as the page title (escaped).
    window : shapely geometry, optional
        Metric window; default the whole county.
    focus : (minx, miny, maxx, maxy), optional
        Metric bounds the page opens on; default ``data.home`` (the built-up area).
    highlight_zone : str, optional
        zone_id outlined thick and red (zone pages).
    """
    m = folium.Map(location=None, tiles=None, control_scale=False, zoom_start=14, prefer_canvas=False)
    _tile_layers(m, data.basemap, data.tianditu_key)
    present: set[str] = set()
    groups: dict[str, folium.FeatureGroup] = {}
    for lyr in data.layers:
        idx = lyr.take(window)
        if len(idx) == 0:
            continue
        present.update(np.unique(lyr.legend[idx]).tolist())
        if lyr.kind == "zones" and highlight_zone is not None:
            present.add("zone_highlight")
        gj = _page_layer(lyr, idx, highlight_zone)
        if lyr.group is not None:
            if lyr.group not in groups:
                groups[lyr.group] = folium.FeatureGroup(name=lyr.group, show=True).add_to(m)
            gj.add_to(groups[lyr.group])
        else:
            gj.add_to(m)
        if lyr.kind == "labels":
            _LabelZoom(_label_zoom(data.zone_area[idx], data.zone_lat[idx], data.label_px)).add_to(m)
        if lyr.radius_by_zoom is not None:
            _ZoomClass(LAMP_MIN_ZOOM, "civgis-hide-lamps").add_to(m)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    metric_scale(m)
    focus = data.home if focus is None else focus
    if focus is not None and data.crs is not None and np.all(np.isfinite(focus)):
        fb = display_geometry(_as_geometry_array([box(*focus)], data.crs), data.basemap).total_bounds
        m.fit_bounds([[fb[1], fb[0]], [fb[3], fb[2]]])
    _page_chrome(m, title, present, data.basemap, data.toilet_radius_m)
    return m


def _page_layer(lyr: PreparedLayer, idx: np.ndarray, highlight_zone: str | None) -> _GeoJson:
    """The features ``idx`` of a prepared layer as a page layer, with its popup and zoom behaviour."""
    if lyr.kind == "zones" and highlight_zone is not None:
        text = lyr.highlighted_text(idx, highlight_zone)
    else:
        text = lyr.text(idx)
    kwargs = {k: v for k, v in (("style", lyr.style), ("pointToLayer", lyr.point)) if v is not None}
    gj = _GeoJson(_script_safe(text), name=lyr.title, show=lyr.show, control=lyr.control, **kwargs)
    if lyr.popup_fields:
        _GeoJsonPopup(fields=list(lyr.popup_fields), aliases=[_html.escape(a) for a in lyr.aliases],
                      localize=False, labels=True, max_width=360).add_to(gj)
    if lyr.radius_by_zoom is not None:
        _RadiusByZoom(lyr.radius_by_zoom).add_to(gj)
    return gj


def _zone_outline_texts(features: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each zone feature's ``zone_id`` property and its JSON text as a neighbour and as the page's zone.

    The texts are what serialising the parsed feature gives (compact, non-ASCII kept), with
    ``_stroke`` then ``_weight`` set: kept and 1.5 for a neighbour, red and 5 for the page's
    zone. A page joins them instead of parsing and serialising the zones again.
    """
    ids, neighbour, own = [], [], []
    for text in features:
        feature = json.loads(text)
        props = feature["properties"]
        ids.append(props.get("zone_id"))
        props["_stroke"], props["_weight"] = props.get("_stroke"), 1.5
        neighbour.append(json.dumps(feature, ensure_ascii=False, separators=(",", ":")))
        props["_stroke"], props["_weight"] = "#d50000", 5
        own.append(json.dumps(feature, ensure_ascii=False, separators=(",", ":")))
    return tuple(np.array(v, dtype=object) for v in (ids, neighbour, own))


def build_map(layers: dict[str, gpd.GeoDataFrame], *, crs=None, gaps=None, overlaps=None,
              basemap: str = "offline", tianditu_key: str | None = None, toilet_radius_m: float | None = None,
              title: str = "城管专题图", focus=None, highlight_zone: str | None = None,
              label_px: float = 80.0, cases: str = "open", as_of=None) -> folium.Map:
    """A folium map of the given layers (workspace CRS GeoDataFrames keyed by catalogue name).

    What is on when the page opens: the built-up boundary, the zones and their names, the audit's
    gaps and overlaps, parks, toilets with their service radius, broken lamps, and (offline) the
    base of roads, residential land and green land. Working lamps appear from zoom
    :data:`LAMP_MIN_ZOOM` on (thousands of dots would cover the streets at county zoom);
    candidates and cases are off until switched on. The legend lists what the page draws (road
    classes, zones, land, lamps by status …); the scale bar is metric only.

    Parameters
    ----------
    layers : dict
        Catalogue layer name → GeoDataFrame in a projected metric CRS (as ``Workspace.read`` gives).
    crs : CRS, optional
        The metric CRS (defaults to the first layer's); toilet service radii are buffered in it.
    gaps, overlaps : GeoDataFrame, optional
        Zone-audit polygons, highlighted red (gaps) and magenta (overlaps), with area in m².
    basemap : {"offline", "osm", "tianditu", "amap"}
        See the module docstring; ``amap`` shifts all geometry WGS84 → GCJ-02.
    toilet_radius_m : float
        Toilet service radius in metres (default: ``toilet_radius_m`` of the default targets file,
        300 m — the "≤ 300 m where people gather" rule; the workspace functions read the workspace's).
    focus : (minx, miny, maxx, maxy), optional
        Bounds to open on (metric CRS); default the built-up area (else the zones, else the town's layers).
    highlight_zone : str, optional
        A zone_id drawn with a thick red outline (per-zone maps).
    cases : {"open", "all", "none"}
        Inspection cases drawn: the overdue ones (on), and the other open ones (``"open"``, off)
        or every other case (``"all"``, off).
    as_of : date, datetime, str or None
        The instant that decides which cases are overdue (:func:`civgis.analysis.cases.case_states`;
        None: the end of today).
    label_px : float
        Zone names are shown from the zoom level at which a typical zone is this many pixels
        wide (see :func:`label_min_zoom`), so that a county of hundreds of zones is not a wall of text.
    """
    data = prepare_map_data(layers, crs=crs, gaps=gaps, overlaps=overlaps, basemap=basemap,
                            tianditu_key=tianditu_key, toilet_radius_m=toilet_radius_m, cases=cases,
                            label_px=label_px, as_of=as_of)
    return render_page(data, title=title, focus=focus, highlight_zone=highlight_zone)


def _zone_index(data: MapData, zone_id: str) -> int:
    if len(data.zone_ids) == 0:
        raise WebmapError("没有责任区图层 the workspace has no zones layer")
    hit = np.flatnonzero(data.zone_ids == str(zone_id))
    if len(hit) == 0:
        some = "、".join(map(str, data.zone_ids[:10]))
        raise WebmapError(f"责任区不存在 zone_id {zone_id!r} not in layer zones (field zone_id); e.g. {some}")
    return int(hit[0])


def zone_title(data: MapData, zone_id: str) -> str:
    """``包保责任区 <name>（<id>） 责任人：<staff>`` of a zone (unescaped text)."""
    i = _zone_index(data, zone_id)
    name = data.zone_names[i] if data.zone_names[i] is not None else zone_id
    staff = data.zone_staff[i]
    return f"包保责任区 {name}（{zone_id}）" + (f" 责任人：{staff}" if staff is not None else "")


def render_zone_page(data: MapData, zone_id: str, *, buffer_m: float = 200.0, title: str | None = None) -> folium.Map:
    """A zone's page from prepared data: the features within ``buffer_m`` of its bounds, zoomed to it."""
    i = _zone_index(data, zone_id)
    x0, y0, x1, y1 = data.zone_bounds[i]
    window = box(x0 - buffer_m, y0 - buffer_m, x1 + buffer_m, y1 + buffer_m)
    return render_page(data, title=title or zone_title(data, zone_id), window=window, focus=(x0, y0, x1, y1),
                       highlight_zone=str(zone_id))


def build_zone_map(layers, zone_id: str, *, buffer_m: float = 200.0, gaps=None, overlaps=None,
                   **kwargs) -> folium.Map:
    """One zone's map: the layers within ``buffer_m`` metres of its bounds, zoomed to it, zone outlined red.

    ``layers`` is a dict of layers (as for :func:`build_map`) or a prepared :class:`MapData`.
    """
    title = kwargs.pop("title", None)
    if isinstance(layers, MapData):
        return render_zone_page(layers, zone_id, buffer_m=buffer_m, title=title)
    zones = layers.get("zones")
    if zones is None or len(zones) == 0:
        raise WebmapError("没有责任区图层 the workspace has no zones layer")
    i = _zone_index(MapData([], None, "offline", None, None, *_zone_arrays(zones), toilet_radius_m=0.0), zone_id)
    x0, y0, x1, y1 = zones.geometry.values[i].bounds
    window = box(x0 - buffer_m, y0 - buffer_m, x1 + buffer_m, y1 + buffer_m)
    clipped = {name: _within(gdf, window) for name, gdf in layers.items()}  # prepare only the neighbourhood
    kwargs.setdefault("crs", zones.crs)
    data = prepare_map_data(clipped, gaps=_within(gaps, window), overlaps=_within(overlaps, window), **kwargs)
    return render_zone_page(data, zone_id, buffer_m=buffer_m, title=title)


def _label_zoom(area: np.ndarray, lat: np.ndarray, min_label_px: float) -> int:
    """Zoom at which a zone of the median ``area`` (m²) at the median latitude is ``min_label_px`` wide."""
    if len(area) == 0:
        return 0
    width = float(np.sqrt(np.median(area)))
    if not width > 0:
        return 0
    z = np.ceil(np.log2(156543.03392 * np.cos(np.radians(float(np.median(lat)))) * min_label_px / width))
    return int(np.clip(z, 0, 22))


def label_min_zoom(zones: gpd.GeoDataFrame, *, min_label_px: float = 80.0) -> int:
    """The lowest web-map zoom at which a zone of median size is ``min_label_px`` pixels wide.

    Web-Mercator ground resolution at zoom z and latitude φ is ``156543.03 · cos φ / 2**z``
    metres per pixel; the typical zone width is ``sqrt(median area)`` (metric CRS), so
    ``z = ceil(log2(156543.03 · cos φ · min_label_px / width))``, clamped to 0–22.

    >>> from shapely.geometry import box
    >>> z = gpd.GeoDataFrame(geometry=[box(39_500_000, 3_520_000, 39_500_400, 3_520_400)], crs=4527)
    >>> label_min_zoom(z)   # 400 m / 80 px = 5 m/px; 133 040 m/px / 2**z <= 5 at 31.8° N ⇒ z >= 14.70
    15
    """
    if len(zones) == 0:
        return 0
    lat = zones.geometry.representative_point().to_crs(4326).y.to_numpy()
    return _label_zoom(zones.geometry.area.to_numpy(), lat, min_label_px)


def _within(gdf, window):
    """Rows whose geometry intersects ``window`` (STRtree query)."""
    if gdf is None or len(gdf) == 0:
        return gdf
    idx = gdf.sindex.query(window, predicate="intersects")
    return gdf.iloc[np.sort(idx)]


# ====================================================================== workspace conveniences
def county_map(ws, *, audit=None, gaps=None, overlaps=None, basemap: str = "offline",
               tianditu_key: str | None = None, toilet_radius_m: float | None = None,
               title: str = "全县城管专题图", cases: str = "open", as_of=None) -> folium.Map:
    """The county map of a workspace, every layer toggleable.

    Parameters
    ----------
    ws : Workspace
    audit : AuditResult or "auto", optional
        Anything with ``.gaps``/``.overlaps`` GeoDataFrames (``civgis.analysis.audit.audit_workspace``);
        ``"auto"`` runs the audit when ``civgis.analysis.audit`` is available.
    gaps, overlaps : GeoDataFrame, optional
        Given directly (override ``audit``).
    basemap : {"offline", "osm", "tianditu", "amap"}
    tianditu_key : str, optional
        Required for ``basemap="tianditu"``.
    toilet_radius_m : float
        Toilet service radius in metres (default: the workspace's targets file, 300 m by default).
    cases : {"open", "all", "none"}
        Inspection cases carried by the page: overdue ones shown, other open ones by default (hidden).
    as_of : date, datetime, str or None
        The instant that decides which cases are overdue (default: the end of today).

    Returns
    -------
    folium.Map
        Save it with :func:`save_map` (offline assets) — not ``m.save`` (CDN links).
    """
    _check_basemap(basemap, tianditu_key or None)
    gaps, overlaps = _resolve_audit(audit, gaps, overlaps, ws)
    toilet_radius_m = _toilet_radius(ws, toilet_radius_m)
    return build_map(load_map_layers(ws), crs=ws.crs, gaps=gaps, overlaps=overlaps, basemap=basemap,
                     tianditu_key=tianditu_key, toilet_radius_m=toilet_radius_m, title=title, cases=cases,
                     as_of=as_of)


def zone_map(ws, zone_id: str, *, audit=None, gaps=None, overlaps=None, basemap: str = "offline",
             tianditu_key: str | None = None, toilet_radius_m: float | None = None, buffer_m: float = 200.0,
             cases: str = "open", as_of=None) -> folium.Map:
    """One responsibility zone's map, zoomed to it, the zone outlined red.

    Parameters
    ----------
    ws : Workspace
    zone_id : str
        A ``zone_id`` of the zones layer (a clear :class:`WebmapError` lists some when unknown).
    buffer_m : float
        Features within this many metres of the zone's bounding box are drawn too (context:
        the neighbouring zones, the lamps across the street).
    audit, gaps, overlaps, basemap, tianditu_key, toilet_radius_m, cases, as_of
        As for :func:`county_map`.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from civgis.demo import demo_workspace
    >>> m = zone_map(demo_workspace(), "Z01")
    >>> save_map(m, Path(tempfile.mkdtemp()) / "zone_Z01.html").name
    'zone_Z01.html'
    """
    _check_basemap(basemap, tianditu_key or None)
    gaps, overlaps = _resolve_audit(audit, gaps, overlaps, ws)
    toilet_radius_m = _toilet_radius(ws, toilet_radius_m)
    return build_zone_map(load_map_layers(ws), zone_id, buffer_m=buffer_m, gaps=gaps, overlaps=overlaps,
                          basemap=basemap, tianditu_key=tianditu_key, toilet_radius_m=toilet_radius_m,
                          cases=cases, as_of=as_of)


# ====================================================================== saving
class _LiteralTemplate:
    """A template text with no Jinja syntax, rendered as Jinja renders it: the text less one trailing newline.

    branca's ``MacroElement.render`` wraps each rendered macro (a GeoJSON layer's script holds
    all its features) in a new ``Element(text)``, which compiles the text as a Jinja template:
    1.3 s of the demo's two hot-spot pages went to lexing GeoJSON that has nothing to substitute.
    """

    __slots__ = ("_text",)

    def __init__(self, text: str):
        self._text = text[:-1] if text.endswith("\n") else text   # Jinja's keep_trailing_newline=False

    def render(self, *args, **kwargs) -> str:
        return self._text


_JINJA_MARKS = ("{{", "{%", "{#", "\r")   # \r: Jinja normalises newlines; let Jinja do it
_BRANCA_TEMPLATE = branca.element.Template
_BRANCA_CAMELIFY = branca.element._camelify
#: ``Element.get_name`` camel-cases the element's class name on every call (14 000 calls, 0.2 s for
#: the report's 54 pages); the name is a pure function of the class name, so it is computed once
_camelify_once = lru_cache(maxsize=256)(_BRANCA_CAMELIFY)
_TEMPLATE_PATCH_LOCK = threading.Lock()
_template_patch_depth = 0


@lru_cache(maxsize=512)
def _compiled_template(text: str):
    """One compiled Jinja template per text per process (branca builds the same link and tag templates per page)."""
    return _BRANCA_TEMPLATE(text)


def cached_template(text: str):
    """What ``branca.element.Template(text)`` gives, without compiling a text twice or a text with no Jinja in it.

    Parameters
    ----------
    text : str
        Template source, as given to ``branca.element.Element(template=...)``.

    Returns
    -------
    An object whose ``render(**kwargs)`` returns what the compiled template would.
    """
    if not any(mark in text for mark in _JINJA_MARKS):
        return _LiteralTemplate(text)
    return _compiled_template(text)


@contextmanager
def _cached_templates():
    """While rendering, let branca's ``Element`` build its templates with :func:`cached_template`.

    Nested and concurrent saves share one patch (a depth count under a lock); the original is
    put back when the last one ends.
    """
    global _template_patch_depth
    with _TEMPLATE_PATCH_LOCK:
        if _template_patch_depth == 0:
            branca.element.Template = cached_template
            branca.element._camelify = _camelify_once
        _template_patch_depth += 1
    try:
        yield
    finally:
        with _TEMPLATE_PATCH_LOCK:
            _template_patch_depth -= 1
            if _template_patch_depth == 0:
                branca.element.Template = _BRANCA_TEMPLATE
                branca.element._camelify = _BRANCA_CAMELIFY

_INLINE_SCRIPT_OPEN_RE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
_SCRIPT_CLOSE_RE = re.compile(r"</script>", re.I)


def _inline_scripts(html: str) -> list[str]:
    """The bodies of a page's inline ``<script>`` elements, in page order.

    What ``re.findall(r"<script(?![^>]*\\bsrc=)[^>]*>(.*?)</script>", html, re.S | re.I)`` gives,
    5× faster: the lazy ``(.*?)`` tried ``</script>`` at every character of megabytes of GeoJSON;
    here each body's end is one search for the closing tag.
    """
    bodies, pos = [], 0
    while (opening := _INLINE_SCRIPT_OPEN_RE.search(html, pos)) is not None:
        closing = _SCRIPT_CLOSE_RE.search(html, opening.end())
        if closing is None:   # an unclosed script: findall would match nothing from here on either
            break
        bodies.append(html[opening.end():closing.start()])
        pos = closing.end()
    return bodies


def script_hashes(html: str) -> list[str]:
    """CSP source expressions (``'sha256-…'``) of every inline ``<script>`` of a page.

    With these in ``script-src`` instead of ``'unsafe-inline'`` the browser runs folium's own
    scripts and nothing else: an ``<img onerror=…>`` or ``<script>`` smuggled into a popup is
    not run even if escaping were missed somewhere.
    """
    digests = (hashlib.sha256(body.encode("utf-8")).digest() for body in _inline_scripts(html))
    return sorted({f"'sha256-{base64.b64encode(d).decode()}'" for d in digests})


def _csp(has_tiles: bool, hashes: list[str] | None = None) -> str:
    """The offline page's policy. ``style-src`` keeps ``'unsafe-inline'``: Leaflet positions every
    tile, marker and popup with inline ``style`` attributes, which hashes cannot allow (CSP
    level 3 ``'unsafe-hashes'`` would need a hash per generated style); styles cannot run code."""
    img = "'self' file: data: blob:" + (" https: http:" if has_tiles else "")
    scripts = " ".join(hashes) if hashes is not None else "'unsafe-inline'"
    return (f"default-src 'none'; script-src 'self' file: {scripts}; style-src 'self' file: 'unsafe-inline'; "
            f"img-src {img}; font-src 'self' file: data:; connect-src 'none'; frame-src 'none'; "
            "object-src 'none'; base-uri 'none'; form-action 'none'")


def localise_html(html: str, lib_prefix: str = LIB_DIRNAME) -> str:
    """Rewrite folium's CDN ``<script>``/``<link>`` tags to the bundled files; drop unused ones.

    Raises :class:`WebmapError` for any other remote resource (e.g. a plugin whose library is
    not bundled), naming the URL.
    """
    def repl(match: re.Match) -> str:
        url = match.group("js") or match.group("css")
        is_js = match.group("js") is not None
        if not re.match(r"(?i)^(https?:)?//", url):
            return match.group(0)
        for pattern, local in _CDN_REWRITE:
            if pattern.search(url):
                if local is None:
                    return ""
                href = f"{lib_prefix}/{local}"
                return (f'<script src="{href}"></script>\n' if is_js
                        else f'<link rel="stylesheet" href="{href}"/>\n')
        raise WebmapError(f"离线模式无法使用外部资源 offline map needs an external resource that is not bundled: {url}")

    out = _TAG_RE.sub(repl, html)
    if "L.AwesomeMarkers" in out:
        raise WebmapError("offline maps cannot use folium.Icon markers (awesome-markers is not bundled); "
                          "use circle markers")
    return out


def save_map(m: folium.Map, path, *, offline: bool = True, assets: bool = True) -> Path:
    """Write the map's HTML; with ``offline=True`` also write Leaflet to ``<dir>/lib/`` and link it.

    Offline output needs no internet: every ``<script>``/``<link>`` points into ``lib/`` beside
    the HTML (several maps in one folder share it), and a Content-Security-Policy ``<meta>``
    forbids any other request (tiles are still allowed when the map has a tile basemap).
    ``offline=False`` writes folium's ordinary page, which loads Leaflet etc. from CDNs.
    ``assets=False`` skips copying ``lib/`` (when a run has already written it into the folder).

    Returns the path of the HTML file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    root = m.get_root()
    with _cached_templates():   # same page, without compiling every rendered macro as a template
        html = root.render()
    if offline:
        html = localise_html(html)
        has_tiles = any(isinstance(c, folium.TileLayer) for c in m._children.values())
        lib = path.parent / LIB_DIRNAME
        if assets:
            shutil.copytree(ASSETS_DIR / "leaflet", lib / "leaflet", dirs_exist_ok=True)
        html = _set_attribution_prefix(html, m)
        csp = _csp(has_tiles, script_hashes(html))  # hashes of the final scripts: no 'unsafe-inline'
        html = html.replace(
            "<head>", f'<head>\n    <meta http-equiv="Content-Security-Policy" content="{csp}">', 1)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return path


def self_contained_html(m: folium.Map) -> str:
    """The offline page of a map as one string: Leaflet's script, stylesheet and images inlined.

    Nothing in it points outside the page (no CDN, no ``lib/`` folder), so it shows the same in
    a notebook opened offline, in JupyterLab or in a mail attachment.
    """
    html = _set_attribution_prefix(localise_html(m.get_root().render()), m)
    leaflet = ASSETS_DIR / "leaflet"
    css = re.sub(r"url\(images/([\w.-]+\.png)\)",
                 lambda g: "url(data:image/png;base64,"
                           + base64.b64encode((leaflet / "images" / g.group(1)).read_bytes()).decode() + ")",
                 (leaflet / "leaflet.css").read_text(encoding="utf-8"))
    js = (leaflet / "leaflet.js").read_text(encoding="utf-8").replace("</script", "<\\/script")
    html = html.replace(f'<link rel="stylesheet" href="{LIB_DIRNAME}/leaflet/leaflet.css"/>', f"<style>{css}</style>")
    return html.replace(f'<script src="{LIB_DIRNAME}/leaflet/leaflet.js"></script>', f"<script>{js}</script>")


@dataclass
class NotebookMap:
    """A map shown in a notebook from its self-contained offline page (an ``<iframe srcdoc>``)."""

    html: str
    height: int = 520

    def _repr_html_(self) -> str:
        return (f'<iframe srcdoc="{_html.escape(self.html, quote=True)}" style="width:100%;height:{self.height}px;'
                f'border:1px solid #ddd" sandbox="allow-scripts"></iframe>')


def notebook_map(m: folium.Map, *, height: int = 520) -> NotebookMap:
    """Show ``m`` in Jupyter without the internet: ``display(notebook_map(m))`` (folium's own display uses CDNs)."""
    return NotebookMap(self_contained_html(m), height=height)


def _set_attribution_prefix(html: str, m: folium.Map) -> str:
    """Replace Leaflet's remote attribution link by plain text (offline pages link nowhere)."""
    script = (f"<script>{m.get_name()}.attributionControl.setPrefix('Leaflet | civgis');</script>\n")
    return html.replace("</html>", script + "</html>", 1) if "</html>" in html else html + script


def _toilet_radius(ws, radius_m: float | None) -> float:
    """The toilet service radius: as given, else the workspace's targets file (``toilet_radius_m``)."""
    return float(radius_m) if radius_m is not None else load_targets(ws=ws).params.toilet_radius_m


def _safe_name(zone_id: str) -> str:
    """Unique, length-bounded file-name stem of a zone id (:func:`civgis.store.inert.safe_stem`)."""
    return safe_stem(zone_id)




# ====================================================================== all the maps of a run
_WORKER: dict = {}


def _init_worker(data: MapData, out_dir: Path) -> None:
    """Pool initializer: the prepared data (inherited by fork, pickled once per worker otherwise)."""
    _WORKER["data"], _WORKER["out_dir"] = data, out_dir


def _write_zone_page(job: tuple[str, str]) -> Path:
    """Render and save one zone page (``job`` = zone_id, file stem) from the worker's prepared data."""
    zid, fname = job
    m = render_zone_page(_WORKER["data"], zid)
    return save_map(m, _WORKER["out_dir"] / f"zone_{fname}.html", offline=True,
                    assets=False)


def _file_stems(ids: list[str]) -> list[str]:
    """A unique safe file stem per zone id (a repeated stem gets ``_2``, ``_3`` …)."""
    used: set[str] = set()
    out = []
    for zid in ids:
        fname = stem = _safe_name(zid)
        k = 2
        while fname in used:
            fname, k = f"{stem}_{k}", k + 1
        used.add(fname)
        out.append(fname)
    return out


def map_workers(n_pages: int, workers: int | None = None) -> int:
    """Processes for ``n_pages`` zone pages: ``workers`` or ``os.cpu_count()``, at most one per page."""
    return max(1, min(n_pages, workers if workers is not None else (os.cpu_count() or 1)))


def write_assets(out_dir) -> Path:
    """Copy the bundled Leaflet into ``<out_dir>/lib/`` (once per folder of pages); returns ``lib/``."""
    lib = Path(out_dir) / LIB_DIRNAME
    shutil.copytree(ASSETS_DIR / "leaflet", lib / "leaflet", dirs_exist_ok=True)
    return lib


def _pool_context():
    """The start method of the zone-page pool, or None to write the pages in this process.

    Fork where it is safe (:func:`civgis.forking.fork_is_safe`): the workers share the prepared
    data. With other threads alive (a notebook kernel, a caller's thread pool) a forked worker
    could inherit a lock held for ever, so the pages are written here: a spawned worker would
    import civgis and unpickle the prepared data again, more than the ~10 ms a page takes.
    Where the platform cannot fork, its own start method (spawn), as before.
    """
    if "fork" not in mp.get_all_start_methods():
        return mp.get_context()
    return mp.get_context("fork") if fork_is_safe() else None


def _write_pages_here(data: MapData, jobs: list[tuple[str, str]], out_dir: Path, bar: dict) -> list[Path]:
    """The zone pages written one after another in this process (no pool)."""
    _init_worker(data, out_dir)
    try:
        return [_write_zone_page(j) for j in progress_bar(jobs, **bar)]
    finally:
        _WORKER.clear()


def write_zone_pages(data: MapData, ids: list[str], out_dir, *, workers: int | None = None,
                     progress: bool = True) -> list[Path]:
    """Write ``zone_<stem>.html`` for each zone id from prepared data, in a process pool.

    Pages are independent, so they are rendered by ``map_workers(len(ids), workers)`` processes
    (``concurrent.futures``, forked: the prepared data is shared, not copied); one page, or one
    worker, runs in this process, and so do all of them when forking is not safe (another thread
    alive; see :func:`_pool_context`). Returns the paths in ``ids`` order.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for zid in ids:  # a clear error for an unknown zone before any process starts
        _zone_index(data, zid)
    jobs = list(zip(ids, _file_stems(ids)))
    n = map_workers(len(jobs), workers)
    bar = dict(total=len(jobs), desc="责任区地图", unit="张", enabled=progress)
    ctx = _pool_context()
    if n == 1 or ctx is None:
        return _write_pages_here(data, jobs, out_dir, bar)
    for lyr in data.layers:
        lyr.ready_for_pages()
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_init_worker,
                             initargs=(data, out_dir)) as pool:
        return list(progress_bar(pool.map(_write_zone_page, jobs, chunksize=max(1, len(jobs) // (4 * n))), **bar))


def write_all_maps(ws, out_dir, *, basemap: str = "offline", tianditu_key: str | None = None, audit="auto",
                   toilet_radius_m: float | None = None, zones: list[str] | None = None, cases: str = "open",
                   progress: bool = True, workers: int | None = None, as_of=None,
                   states: pd.DataFrame | None = None) -> list[Path]:
    """The county map and one map per zone into ``out_dir`` (plus ``index.html`` linking them).

    Files: ``county.html``, ``zone_<zone_id>.html`` (unsafe characters → ``_``), ``index.html``,
    and the shared ``lib/`` of bundled assets. Layers are read once and prepared once
    (:func:`prepare_map_data`: reprojected, escaped, serialised); each zone page takes its
    features from them with the spatial index, and the zone pages are written by a process pool
    (``workers``, default ``os.cpu_count()``; see :func:`write_zone_pages`). Returns the map
    paths (county first, then zones; the index is not included). ``as_of`` decides which cases
    are overdue (:func:`civgis.analysis.cases.case_states`; default the end of today); ``states``
    the run's case states at ``as_of`` when it has them.
    """
    _check_basemap(basemap, tianditu_key or None)
    out_dir = Path(out_dir)
    layers = load_map_layers(ws)
    gaps, overlaps = _resolve_audit(audit, None, None, ws)
    data = prepare_map_data(layers, crs=ws.crs, gaps=gaps, overlaps=overlaps, basemap=basemap,
                            tianditu_key=tianditu_key, toilet_radius_m=_toilet_radius(ws, toilet_radius_m),
                            cases=cases, as_of=as_of, states=states)
    paths = [save_map(render_page(data, title="全县城管专题图"), out_dir / "county.html")]
    ids = [str(z) for z in zones] if zones is not None else [str(z) for z in data.zone_ids]
    paths += write_zone_pages(data, ids, out_dir, workers=workers, progress=progress)
    entries = [("全县城管专题图", paths[0].name)]
    names = dict(zip(data.zone_ids, data.zone_names))
    entries += [(f"{names.get(zid) if names.get(zid) is not None else zid}（{zid}）", p.name)
                for zid, p in zip(ids, paths[1:])]
    items = "\n".join(f'<li><a href="{quote(f)}">{_html.escape(str(t))}</a></li>' for t, f in entries)
    (out_dir / "index.html").write_text(
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8"><title>城管专题图</title></head>'
        f"<body><h1>城管专题图</h1><ul>\n{items}\n</ul></body></html>\n", encoding="utf-8")
    return paths
