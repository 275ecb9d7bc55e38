"""civgis.webmap: escaping, layers and styles, offline HTML/assets, GCJ-02 shift for Amap, zone maps, CLI."""

from __future__ import annotations

import math
import re
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Geod
from shapely.geometry import LineString, Point, box, shape

from civgis.render import webmap
from civgis.cli import main as cli_main
from civgis.store.catalogue import layer_spec
from civgis.store.workspace import Workspace

GEOD = Geod(ellps="WGS84")
X0, Y0 = 39_500_000.0, 3_520_000.0  # CGCS2000 GK zone 39 (EPSG:4527), near Hefei
XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = "<img src=x onerror=alert(2)>"
WORKING, BROKEN = f"路灯（正常，放大到 {webmap.LAMP_MIN_ZOOM} 级显示）", "路灯（故障）"


def make_ws(path: Path) -> Workspace:
    """Two zones side by side (500 m squares) with hostile names, three lamps, a toilet, a road, two green."""
    ws = Workspace.create(path / "w.gpkg", crs=4527)
    ws.write("built_up", gpd.GeoDataFrame({"name": ["建成区"]}, geometry=[box(X0, Y0, X0 + 1100, Y0 + 500)], crs=4527))
    ws.write("zones", gpd.GeoDataFrame(
        {"zone_id": ["Z1", "Z2"], "name": [XSS_SCRIPT, XSS_IMG], "staff": ["张三", "李四"], "phone": ["1", "2"]},
        geometry=[box(X0, Y0, X0 + 500, Y0 + 500), box(X0 + 500, Y0, X0 + 1000, Y0 + 500)], crs=4527))
    ws.write("lamps", gpd.GeoDataFrame(
        {"lamp_id": ["L1", "L2", "L3"], "status": ["broken", "working", "working"]},
        geometry=[Point(X0 + 100, Y0 + 100), Point(X0 + 200, Y0 + 100), Point(X0 + 900, Y0 + 300)], crs=4527))
    ws.write("toilets", gpd.GeoDataFrame({"toilet_id": ["T1"], "name": ["公厕一"], "accessible": [True]},
                                         geometry=[Point(X0 + 300, Y0 + 300)], crs=4527))
    ws.write("roads", gpd.GeoDataFrame(
        {"road_id": ["R1"], "name": ["人民路"], "road_class": ["arterial"], "width_m": [20.0], "mech_swept": [True]},
        geometry=[LineString([(X0 - 100, Y0 + 250), (X0 + 1100, Y0 + 250)])], crs=4527))
    ws.write("green", gpd.GeoDataFrame(
        {"green_id": ["G1", "G2"], "name": ["人民公园", "防护带"], "category": ["G1", "G2"], "subcategory": ["G11", None]},
        geometry=[box(X0 + 600, Y0 + 50, X0 + 900, Y0 + 200), box(X0 + 50, Y0 + 350, X0 + 450, Y0 + 420)], crs=4527))
    ws.write("residential", gpd.GeoDataFrame({"res_id": ["R1"], "name": ["幸福小区"], "population": [1200]},
                                             geometry=[box(X0 + 520, Y0 + 300, X0 + 800, Y0 + 480)], crs=4527))
    return ws


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Workspace:
    return make_ws(tmp_path_factory.mktemp("webmap_ws"))


def geojson_layers(m: folium.Map, *, rings: bool = False) -> dict[str, folium.GeoJson]:
    """GeoJSON layers by name, also inside feature groups (audit: polygons, or with rings=True the rings)."""
    out = {}
    for c in m._children.values():
        if isinstance(c, folium.GeoJson):
            out.setdefault(c.layer_name, c)
        elif isinstance(c, folium.FeatureGroup):
            kids = [k for k in c._children.values() if isinstance(k, folium.GeoJson)]
            if kids:
                out[c.layer_name] = kids[-1] if rings else kids[0]
    return out


def props(layer: folium.GeoJson) -> list[dict]:
    return [f["properties"] for f in layer.data["features"]]


# --------------------------------------------------------------------------- escaping
def test_geo_dict_is_geopandas_to_geo_dict_for_every_column_type_and_geometry():
    """``webmap.geo_dict`` (the hot-spot maps' folium layers) equals geopandas' ``to_geo_dict``: ids from the
    index, missing values None, numbers as Python numbers, coordinates to the last bit, missing geometries."""
    import json

    from shapely.geometry import MultiPolygon, Polygon

    ring = Polygon([(0, 0), (4, 0), (4, 4), (0, 4)], [[(1, 1), (2, 1), (2, 2), (1, 2)]])
    gdf = gpd.GeoDataFrame({"n": np.array([1, 2, 3, 4], dtype="int64"), "x": [1.5, np.nan, 1 / 3, -0.0],
                            "s": pd.array(["路", None, "<b>", ""], dtype="string"),
                            "c": pd.Categorical(["G1", "G2", None, "G1"]), "b": [True, False, True, False],
                            "t": pd.to_datetime(["2026-01-01", None, "2026-02-01", "2026-03-01"])},
                           geometry=[Point(116.123456789012345, 33.98765432101), MultiPolygon([ring, box(5, 5, 6, 6)]),
                                     None, LineString([(0.1, 0.2), (0.3, 0.7)])], index=[5, 7, 9, 11])
    ours, theirs = webmap.geo_dict(gdf), gdf.to_geo_dict()
    assert json.dumps(ours, default=str) == json.dumps(theirs, default=str)
    assert [f["id"] for f in ours["features"]] == ["5", "7", "9", "11"] and ours["features"][2]["geometry"] is None
    assert type(ours["features"][0]["properties"]["n"]) is int and ours["features"][1]["properties"]["x"] is None
    assert ours["features"][0]["geometry"]["coordinates"] == [116.123456789012345, 33.98765432101]
    only = gdf[["geometry"]].iloc[:0]
    assert webmap.geo_dict(only) == only.to_geo_dict()


def test_escape_html_all_five_characters_and_missing():
    s = pd.Series(["<a href='x'>&\"</a>", None, "正常"])
    assert webmap.escape_html(s).tolist() == ["&lt;a href=&#x27;x&#x27;&gt;&amp;&quot;&lt;/a&gt;", "", "正常"]


def test_display_values_chinese_labels_booleans_dates():
    gdf = gpd.GeoDataFrame({"case_id": ["C<1>"], "category": ["0501"], "status": ["open"],
                            "reported_at": pd.to_datetime(["2026-03-04 08:09:10"]), "deadline": [pd.NaT],
                            "closed_at": [pd.NaT]},
                           geometry=[Point(0, 0)], crs=4527)
    out = webmap.display_values(gdf, "inspections")
    assert out.loc[0, "case_id"] == "C&lt;1&gt;"
    assert out.loc[0, "category"] == "流动摊贩" and out.loc[0, "status"] == "未结案"
    assert out.loc[0, "reported_at"] == "2026-03-04 08:09" and out.loc[0, "deadline"] == ""
    toilets = gpd.GeoDataFrame({"toilet_id": ["a", "b", "c"], "accessible": pd.array([True, False, None], "boolean")},
                               geometry=[Point(0, 0)] * 3, crs=4527)
    assert webmap.display_values(toilets, "toilets")["accessible"].tolist() == ["是", "否", ""]


def test_hostile_zone_names_are_escaped_in_data_and_html(ws, tmp_path):
    m = webmap.county_map(ws)
    zones = geojson_layers(m)["包保责任区"]
    names = [p["name"] for p in props(zones)]
    assert names == ["&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(2)&gt;"]
    labels = [p["_label"] for p in props(geojson_layers(m)["责任区名称"])]
    assert labels == names
    html = webmap.save_map(m, tmp_path / "county.html").read_text(encoding="utf-8")
    # neither the raw markup nor a JSON-unescaped variant of it reaches the page
    for needle in ("<script>alert", "alert(1)</script>", "<img src=x", "onerror=alert(2)>"):
        assert needle not in html
    assert html.count("<script>") + html.count("<script ") == len(re.findall(r"<script[\s>]", html))
    # the popup is built by innerHTML: what reaches it is the escaped text
    assert "\\u0026lt;script\\u0026gt;alert(1)" in html


def test_title_is_escaped(ws, tmp_path):
    m = webmap.build_map(webmap.load_map_layers(ws), crs=ws.crs, title="<b>标题</b>")
    html = webmap.save_map(m, tmp_path / "t.html").read_text(encoding="utf-8")
    assert "<b>标题</b>" not in html and "&lt;b&gt;标题&lt;/b&gt;" in html


# --------------------------------------------------------------------------- layers and styles
def test_county_map_has_every_layer_with_catalogue_styles(ws):
    m = webmap.county_map(ws)
    layers = geojson_layers(m)
    assert set(layers) >= {"建成区边界", "居住用地（底图）", "其他绿地（底图）", "道路（底图）", "公园绿地（G1）",
                           "包保责任区", "责任区名称", "公厕服务半径（300 米）", "公厕", WORKING, BROKEN}
    # working lamps in one layer (shown from street zoom), broken ones in their own, drawn last, on top
    names = list(layers)
    assert names.index(BROKEN) == len(names) - 1
    lamps = props(layers[WORKING]) + props(layers[BROKEN])
    assert [p["lamp_id"] for p in lamps] == ["L2", "L3", "L1"]
    assert [p["status"] for p in lamps] == ["正常", "正常", "故障"]
    assert [p["_stroke"] for p in lamps] == ["#f9a825", "#f9a825", "#c62828"]  # lamps.toml by_value
    # parks are only the G1 parcel; the G2 strip is drawn in the base
    assert [p["green_id"] for p in props(layers["公园绿地（G1）"])] == ["G1"]
    assert [p["green_id"] for p in props(layers["其他绿地（底图）"])] == ["G2"]
    assert props(layers["居住用地（底图）"])[0]["population"] == "1200"
    roads = props(layers["道路（底图）"])
    assert roads[0]["_stroke"] == "#d84315" and roads[0]["_weight"] == 5 and roads[0]["mech_swept"] == "是"
    # neighbouring zones get different fills
    fills = [p["_fill"] for p in props(layers["包保责任区"])]
    assert fills[0] != fills[1]
    # every layer can be switched on and off
    assert any(isinstance(c, folium.LayerControl) for c in m._children.values())
    assert all(c.control for c in layers.values())


def test_popups_use_chinese_aliases(ws):
    layers = geojson_layers(webmap.county_map(ws))
    popup = next(c for c in layers["包保责任区"]._children.values() if isinstance(c, folium.GeoJsonPopup))
    assert popup.fields == ["zone_id", "name", "staff", "phone"]  # the fields the layer has, catalogue order
    assert popup.aliases == ["责任区编号", "责任区名称", "责任人", "联系电话"]
    lamp_popup = next(c for c in layers[BROKEN]._children.values() if isinstance(c, folium.GeoJsonPopup))
    assert lamp_popup.aliases == ["路灯编号", "状态"]


def test_toilet_service_radius_is_300_m_in_metres(ws):
    ring = geojson_layers(webmap.county_map(ws))["公厕服务半径（300 米）"].data["features"][0]["geometry"]
    lon, lat = np.asarray(shape(ring).exterior.coords).T
    area, _ = GEOD.polygon_area_perimeter(lon, lat)
    assert abs(abs(area) - math.pi * 300**2) / (math.pi * 300**2) < 0.01
    ring2 = geojson_layers(webmap.county_map(ws, toilet_radius_m=500))["公厕服务半径（500 米）"].data["features"][0]
    lon, lat = np.asarray(shape(ring2["geometry"]).exterior.coords).T
    assert abs(abs(GEOD.polygon_area_perimeter(lon, lat)[0]) - math.pi * 500**2) / (math.pi * 500**2) < 0.01


def test_zone_colours_differ_between_neighbours_on_a_grid():
    cells = [box(i * 10, j * 10, i * 10 + 10, j * 10 + 10) for i in range(4) for j in range(4)]
    colours = webmap.zone_colours(gpd.GeoSeries(cells))
    for a in range(16):
        for b in range(a + 1, 16):
            ia, ja, ib, jb = a // 4, a % 4, b // 4, b % 4
            if max(abs(ia - ib), abs(ja - jb)) == 1:  # edge or corner neighbours touch
                assert colours[a] != colours[b], (a, b)


def test_audit_gaps_and_overlaps_highlighted_with_area(tmp_path):
    from civgis.analysis.audit import audit_workspace

    ws = Workspace.create(tmp_path / "a.gpkg", crs=4527)
    ws.write("built_up", gpd.GeoDataFrame({"name": ["建成区"]}, geometry=[box(X0, Y0, X0 + 1000, Y0 + 500)], crs=4527))
    # Z1 0–600 and Z2 500–900: overlap 100 × 500 = 50 000 m²; gap 900–1000: 100 × 500 = 50 000 m²
    ws.write("zones", gpd.GeoDataFrame({"zone_id": ["Z1", "Z2"], "name": ["甲", "乙"]},
                                       geometry=[box(X0, Y0, X0 + 600, Y0 + 500), box(X0 + 500, Y0, X0 + 900, Y0 + 500)],
                                       crs=4527))
    m = webmap.county_map(ws, audit=audit_workspace(ws))
    layers = geojson_layers(m)
    gap, = props(layers["责任区空隙（未覆盖）"])
    over, = props(layers["责任区重叠"])
    assert float(gap["area_m2_display"]) == pytest.approx(50_000.0, abs=0.1)
    assert float(over["area_m2_display"]) == pytest.approx(50_000.0, abs=0.1)
    assert over["zones"] == "Z1、Z2"
    # a ring marker inside each part keeps small parts visible at county zoom
    ring, = geojson_layers(m, rings=True)["责任区空隙（未覆盖）"].data["features"]
    gap_poly = shape(layers["责任区空隙（未覆盖）"].data["features"][0]["geometry"])
    assert ring["geometry"]["type"] == "Point" and gap_poly.buffer(1e-9).contains(shape(ring["geometry"]))
    # "auto" runs the same audit
    assert "责任区重叠" in geojson_layers(webmap.county_map(ws, audit="auto"))
    # or GeoDataFrames given directly
    g = gpd.GeoDataFrame({"gap_id": ["<x>"]}, geometry=[box(X0, Y0, X0 + 10, Y0 + 10)], crs=4527)
    gp, = props(geojson_layers(webmap.county_map(ws, gaps=g))["责任区空隙（未覆盖）"])
    assert gp["gap_id"] == "&lt;x&gt;" and float(gp["area_m2_display"]) == 100.0


# --------------------------------------------------------------------------- offline output
URL_ATTR = re.compile(r"""<(?:script|link|img|iframe|source|audio|video)\b[^>]*?\b(?:src|href)\s*=\s*["']([^"']+)""", re.I)
CSS_URL = re.compile(r"""url\(\s*["']?([^"')]+)""", re.I)
ANY_URL = re.compile(r"https?://[^\s\"'<>)]+")
#: the only absolute URLs in leaflet.js: the SVG namespace (not fetched) and its attribution link,
#: which save_map replaces by plain text in offline pages
LEAFLET_JS_URLS = {"http://www.w3.org/2000/svg", "https://leafletjs.com"}


def test_offline_html_and_assets_reference_nothing_remote(ws, tmp_path):
    html_path = webmap.save_map(webmap.county_map(ws), tmp_path / "out" / "county.html")
    html = html_path.read_text(encoding="utf-8")
    refs = URL_ATTR.findall(html) + CSS_URL.findall(html)
    assert refs, "expected local script/link references"
    for ref in refs:
        assert not re.match(r"(?i)^(https?:)?//", ref), ref
        if not ref.startswith(("data:", "#")):
            assert (html_path.parent / ref).is_file(), ref
    assert ANY_URL.findall(html) == []
    assert "connect-src 'none'" in html and "default-src 'none'" in html
    assert "setPrefix('Leaflet | civgis')" in html
    lib = html_path.parent / "lib"
    assert (lib / "leaflet" / "leaflet.js").is_file() and (lib / "leaflet" / "LICENSE").is_file()
    for f in lib.rglob("*"):
        if f.suffix == ".css":
            css = re.sub(r"/\*.*?\*/", "", f.read_text(), flags=re.S)  # comments cite bug-tracker URLs
            for ref in CSS_URL.findall(css):
                assert ref.startswith("#") or (f.parent / ref).is_file(), (f, ref)
            assert ANY_URL.findall(css) == []
        elif f.suffix == ".js":
            assert set(ANY_URL.findall(f.read_text())) <= LEAFLET_JS_URLS, f


def test_online_save_keeps_cdn_links_and_offline_rewrites_them(ws, tmp_path):
    m = webmap.county_map(ws)
    online = webmap.save_map(m, tmp_path / "on.html", offline=False).read_text(encoding="utf-8")
    assert "cdn.jsdelivr.net/npm/leaflet@" in online and "Content-Security-Policy" not in online
    offline = webmap.save_map(m, tmp_path / "off.html").read_text(encoding="utf-8")
    assert "cdn.jsdelivr" not in offline and "code.jquery.com" not in offline


def test_localise_refuses_unbundled_remote_resources():
    html = '<head><script src="https://example.org/plugin.js"></script></head>'
    with pytest.raises(webmap.WebmapError, match="example.org/plugin.js"):
        webmap.localise_html(html)
    ok = webmap.localise_html('<script src="https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"></script>'
                              '<script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>')
    assert ok.strip() == '<script src="lib/leaflet/leaflet.js"></script>'


# --------------------------------------------------------------------------- basemaps and the GCJ-02 shift
# Beijing railway station, published WGS84 and GCJ-02 coordinates (see tests/test_coords.py).
WGS84_REF = (116.42079, 39.90105)
GCJ02_REF = (116.42703, 39.90245)


def metres(a, b) -> float:
    return float(GEOD.inv(a[0], a[1], b[0], b[1])[2])


@pytest.fixture(scope="module")
def beijing_ws(tmp_path_factory):
    ws = Workspace.create(tmp_path_factory.mktemp("bj") / "bj.gpkg", crs=4527)
    lamp = gpd.GeoDataFrame({"lamp_id": ["BJ"], "status": ["working"]},
                            geometry=[Point(*WGS84_REF)], crs=4326).to_crs(4527)
    ws.write("lamps", lamp)
    return ws


def lamp_lonlat(m) -> tuple[float, float]:
    (feature,) = geojson_layers(m)[WORKING].data["features"]
    return tuple(feature["geometry"]["coordinates"])


def test_amap_shifts_wgs84_forward_into_gcj02(beijing_ws):
    osm = lamp_lonlat(webmap.county_map(beijing_ws, basemap="osm"))
    amap = lamp_lonlat(webmap.county_map(beijing_ws, basemap="amap"))
    assert metres(osm, WGS84_REF) < 0.02                     # OSM: WGS84 as surveyed (1e-7° rounding)
    assert metres(amap, GCJ02_REF) < 1.5                     # Amap: the published GCJ-02 of that point
    assert metres(amap, WGS84_REF) > 500                     # … which is hundreds of metres away
    # direction: GCJ-02 lies east-north-east of WGS84 here; the wrong (inverse) shift would go west
    assert amap[0] > osm[0] + 0.005 and amap[1] > osm[1]
    offline = lamp_lonlat(webmap.county_map(beijing_ws))
    assert metres(offline, WGS84_REF) < 0.02                 # offline base is our own data: no shift


def test_tile_basemaps(beijing_ws, tmp_path):
    def tiles(m):
        return [c.tiles for c in m._children.values() if isinstance(c, folium.TileLayer)]

    assert tiles(webmap.county_map(beijing_ws)) == []
    assert any("openstreetmap" in t for t in tiles(webmap.county_map(beijing_ws, basemap="osm")))
    amap = tiles(webmap.county_map(beijing_ws, basemap="amap"))
    assert any("autonavi.com" in t for t in amap)
    tdt = tiles(webmap.county_map(beijing_ws, basemap="tianditu", tianditu_key="k&y"))
    assert any("tianditu.gov.cn/vec_w/wmts" in t and t.endswith("tk=k%26y") for t in tdt)
    assert any("cva_w" in t for t in tdt)
    with pytest.raises(webmap.WebmapError, match="tianditu-key"):
        webmap.county_map(beijing_ws, basemap="tianditu")
    with pytest.raises(webmap.WebmapError, match="unknown basemap"):
        webmap.county_map(beijing_ws, basemap="google")
    # a tile basemap saved "offline": Leaflet local, tiles allowed by the CSP
    html = webmap.save_map(webmap.county_map(beijing_ws, basemap="osm"), tmp_path / "osm.html").read_text()
    assert "lib/leaflet/leaflet.js" in html and "img-src 'self' file: data: blob: https: http:" in html


# --------------------------------------------------------------------------- zone maps
def test_zone_map_zooms_to_the_zone_and_keeps_nearby_features(ws):
    m = webmap.zone_map(ws, "Z1", buffer_m=50)
    layers = geojson_layers(m)
    # Z1 spans x 0–500 m: the lamp at x = 900 m is beyond the 50 m window, the two others are inside
    assert sorted(p["lamp_id"] for p in props(layers[WORKING]) + props(layers[BROKEN])) == ["L1", "L2"]
    # the window (0–550 m) reaches Z2, which is drawn thin; Z1 is outlined red and thick
    zp = {p["zone_id"]: p for p in props(layers["包保责任区"])}
    assert zp["Z1"]["_stroke"] == "#d50000" and zp["Z1"]["_weight"] == 5 and zp["Z2"]["_weight"] == 1.5
    # zoomed to the zone: fitBounds = lon/lat extent of Z1's four corners (grid convergence tilts them)
    fit = next(c for c in m._children.values() if type(c).__name__ == "FitBounds")
    corners = gpd.GeoSeries([Point(X0 + dx, Y0 + dy) for dx in (0, 500) for dy in (0, 500)], crs=4527).to_crs(4326)
    (s, w), (n, e) = fit.bounds
    assert (w, s) == pytest.approx((corners.x.min(), corners.y.min()), abs=1e-7)  # written to 1e-7°
    assert (e, n) == pytest.approx((corners.x.max(), corners.y.max()), abs=1e-7)


def test_zone_map_unknown_zone_names_layer_and_field(ws):
    with pytest.raises(webmap.WebmapError, match=r"'Z9'.*zones.*zone_id"):
        webmap.zone_map(ws, "Z9")


def test_write_all_maps_and_cli(ws, tmp_path):
    paths = webmap.write_all_maps(ws, tmp_path / "maps", progress=False)
    assert [p.name for p in paths] == ["county.html", "zone_Z1.html", "zone_Z2.html"]
    index = (tmp_path / "maps" / "index.html").read_text(encoding="utf-8")
    assert 'href="zone_Z1.html"' in index and "&lt;script&gt;alert(1)&lt;/script&gt;（Z1）" in index
    assert "<script>" not in index
    out = tmp_path / "cli"
    assert cli_main(["webmap", str(ws.path), "--out", str(out), "--zone", "Z2", "--as-of", "2026-11-28", "--json"]) == 0
    assert (out / "zone_Z2.html").is_file() and (out / "lib" / "leaflet" / "leaflet.css").is_file()
    assert cli_main(["webmap", str(ws.path), "--out", str(out), "--zone", "nope"]) == 1
    assert cli_main(["webmap", str(ws.path), "--out", str(out), "--basemap", "tianditu"]) == 1
    assert cli_main(["webmap", str(ws.path), "--out", str(out), "--as-of", "soon"]) == 1  # one line, no traceback


def test_label_min_zoom_from_zone_size():
    # at φ ≈ 31.80° N (our test origin) a Web-Mercator pixel is 156543.03 · cos φ / 2**z ≈ 133 040 / 2**z m.
    # 1000 m zones, 80 px: 2**z ≥ 133 040 · 80 / 1000 = 10 643 ⇒ z ≥ 13.38 ⇒ 14
    # 100 m zones: 2**z ≥ 106 432 ⇒ z ≥ 16.70 ⇒ 17;  100 m zones, 40 px: 2**z ≥ 53 216 ⇒ 15.70 ⇒ 16
    def grid(size):
        return gpd.GeoDataFrame(geometry=[box(X0 + i * size, Y0, X0 + (i + 1) * size, Y0 + size) for i in range(3)],
                                crs=4527)

    assert webmap.label_min_zoom(grid(1000)) == 14
    assert webmap.label_min_zoom(grid(100)) == 17
    assert webmap.label_min_zoom(grid(100), min_label_px=40) == 16


def test_docstring_examples_run():
    import doctest

    result = doctest.testmod(webmap)
    assert result.attempted >= 10 and result.failed == 0


def test_cases_open_by_default_all_or_none(tmp_path):
    ws = Workspace.create(tmp_path / "c.gpkg", crs=4527)
    ws.write("inspections", gpd.GeoDataFrame(
        {"case_id": ["C1", "C2", "C3"], "category": ["0501", "0102", "0503"], "status": ["closed", "open", "closed"],
         "reported_at": pd.to_datetime(["2026-01-01 08:00", "2026-01-02 09:30", "2026-01-03 10:00"]),
         "deadline": pd.to_datetime(["2026-01-02 08:00", "2026-01-03 09:30", "2026-01-04 10:00"]),
         "closed_at": pd.to_datetime(["2026-01-01 12:00", None, "2026-01-03 11:00"])},
        geometry=[Point(X0 + 10 * i, Y0) for i in range(3)], crs=4527))
    # on 2 January at noon C2 (deadline 3 January 09:30) is open within its deadline: a layer that is off
    noon = geojson_layers(webmap.county_map(ws, as_of="2026-01-02 12:00"))
    opened = props(noon["巡查案件（未结案，未超期）"])
    assert [(p["case_id"], p["category"], p["reported_at"], p["closed_at"]) for p in opened] == \
        [("C2", "暴露垃圾", "2026-01-02 09:30", "")]
    assert "超期案件" not in noon and noon["巡查案件（未结案，未超期）"].show is False
    # on 5 January 09:30 it is overdue by exactly 2 days: the overdue layer, on when the page opens
    late = geojson_layers(webmap.county_map(ws, as_of="2026-01-05 09:30"))
    (od,) = props(late["超期案件"])
    assert od["case_id"] == "C2" and od["days_overdue"] == "2.0" and late["超期案件"].show is True
    assert "巡查案件（未结案，未超期）" not in late
    # all: the overdue one, and the two closed ones in a layer that is off; a case reported after as_of is left out
    every = geojson_layers(webmap.county_map(ws, cases="all", as_of="2026-01-05 09:30"))
    assert [p["case_id"] for p in props(every["巡查案件（其他）"])] == ["C1", "C3"]
    before_c3 = geojson_layers(webmap.county_map(ws, cases="all", as_of="2026-01-02 12:00"))
    assert [p["case_id"] for p in props(before_c3["巡查案件（其他）"])] == ["C1", "C2"]
    assert not any("案件" in k for k in geojson_layers(webmap.county_map(ws, cases="none")))
    with pytest.raises(webmap.WebmapError, match="cases"):
        webmap.county_map(ws, cases="closed")


def test_map_file_names_keep_chinese_and_drop_unsafe_characters():
    import hashlib

    def tag(text):  # independent: 8 hex digits of the id's SHA-1 tell changed ids apart
        return hashlib.sha1(text.encode()).hexdigest()[:8]

    assert webmap._safe_name("东城/01 <x>") == f"东城_01_x-{tag('东城/01 <x>')}"
    assert webmap._safe_name("../..") == f"zone-{tag('../..')}"
    assert webmap._safe_name("Z01") == "Z01"
def test_notebook_map_is_self_contained():
    """Notebooks show maps from one self-contained page: Leaflet inlined, nothing from a CDN or lib/."""
    import folium

    from civgis.render.webmap import LIB_DIRNAME, notebook_map

    m = folium.Map(location=[31.6, 117.0], zoom_start=14, tiles=None)
    folium.CircleMarker([31.6, 117.0], radius=5, tooltip="<b>路灯</b>").add_to(m)
    html = notebook_map(m, height=400)._repr_html_()
    assert html.startswith("<iframe srcdoc=") and "height:400px" in html
    page = notebook_map(m).html
    assert not re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)=\"(https?:)?//", page)   # nothing remote
    assert f'src="{LIB_DIRNAME}/' not in page and f'href="{LIB_DIRNAME}/' not in page
    leaflet_js = (Path(__file__).resolve().parent.parent / "civgis/render/assets/leaflet/leaflet.js").read_text()
    assert leaflet_js[:200] in page and "data:image/png;base64," in page
    assert "cdn.jsdelivr" in m._repr_html_()   # folium's own display would load from CDNs


# --------------------------------------------------------------------------- defaults, legend, prepared pages
def test_braces_in_data_are_text_not_a_template(tmp_path):
    """folium compiles each rendered script as Jinja; our data must not be: {{ 7*7 }} stays {{ 7*7 }}."""
    ws = make_ws(tmp_path)
    zones = ws.read("zones")
    zones["name"] = ["{{ 7*7 }}", "{% raw %}"]
    ws.write("zones", zones)
    html = webmap.save_map(webmap.county_map(ws), tmp_path / "c.html").read_text(encoding="utf-8")
    html = html.replace("\\u0026", "&")  # inside <script>, JSON writes & as \u0026
    # shown by the browser as typed: the braces are HTML entities, which no template reads
    assert '"name":"&#123;&#123; 7*7 &#125;&#125;"' in html and '"_label":"&#123;% raw %&#125;"' in html
    assert '"name":"49"' not in html and "{{ 7*7 }}" not in html


def test_metric_scale_and_no_imperial(ws, tmp_path):
    html = webmap.save_map(webmap.county_map(ws), tmp_path / "c.html").read_text(encoding="utf-8")
    assert "L.control.scale({metric: true, imperial: false" in html
    assert html.count("L.control.scale(") == 1  # folium's own (feet and miles) is off


def legend_rows(m) -> list[str]:
    el = m.get_root().html._children["civgis_legend"]
    return re.findall(r"</i>([^<]+)", el.html)


def test_legend_lists_what_the_page_draws(ws):
    county = legend_rows(webmap.county_map(ws))
    assert county == ["包保责任区（相邻责任区不同色）", "建成区边界", "道路 主干道", "居住用地", "公园绿地（G1）", "其他绿地",
                      "公厕服务半径 300 米", "公厕", "路灯 故障（始终显示）",
                      f"路灯 正常（放大到 {webmap.LAMP_MIN_ZOOM} 级显示）"]
    # Z1's 50 m window (x 0–550 m) holds no park (x 600–900 m) and no residential block (x 520–800 m … y 300–480
    # intersects): the park row goes, the red outline of the zone itself comes
    zone = legend_rows(webmap.zone_map(ws, "Z1", buffer_m=50))
    assert "公园绿地（G1）" not in zone and zone[0] == "本责任区" and "居住用地" in zone


def test_county_page_opens_on_built_up_not_far_green(tmp_path):
    ws = make_ws(tmp_path)
    far = gpd.GeoDataFrame({"green_id": ["FAR"], "category": ["G2"]},
                           geometry=[box(X0 + 20_000, Y0 + 20_000, X0 + 20_100, Y0 + 20_100)], crs=4527)
    ws.write("green", pd.concat([ws.read("green"), far], ignore_index=True))
    fit = next(c for c in webmap.county_map(ws)._children.values() if type(c).__name__ == "FitBounds")
    (s, w), (n, e) = fit.bounds
    bu = ws.read("built_up").to_crs(4326).total_bounds  # 1 100 m × 500 m
    assert (w, s, e, n) == pytest.approx(tuple(bu), abs=1e-7)
    # without a built-up layer: the zones (0–1 000 m), still not the green 20 km away
    layers = {k: v for k, v in webmap.load_map_layers(ws).items() if k != "built_up"}
    fit = next(c for c in webmap.build_map(layers, crs=ws.crs)._children.values() if type(c).__name__ == "FitBounds")
    (s, w), (n, e) = fit.bounds
    zb = ws.read("zones").to_crs(4326).total_bounds
    assert (w, s, e, n) == pytest.approx(tuple(zb), abs=1e-7)


def test_demo_map_numbers_equal_the_audit_and_the_layers(demo_ws):
    """Gap/overlap ids and areas on the map are the audit's; lamp counts by status are the layer's."""
    from civgis.analysis.audit import audit_workspace

    audit = audit_workspace(demo_ws)
    layers = geojson_layers(webmap.county_map(demo_ws, audit=audit))
    gaps = props(layers["责任区空隙（未覆盖）"])
    assert [p["gap_id"] for p in gaps] == audit.gaps["gap_id"].tolist()
    assert [float(p["area_m2_display"]) for p in gaps] == pytest.approx(audit.gaps["area_m2"].tolist(), abs=0.051)
    overlaps = props(layers["责任区重叠"])
    assert [float(p["area_m2_display"]) for p in overlaps] == pytest.approx(audit.overlaps["area_m2"].tolist(), abs=0.051)
    lamps = demo_ws.read("lamps")
    assert len(props(layers[BROKEN])) == int((lamps["status"] == "broken").sum()) == 113
    assert len(props(layers[WORKING])) + 113 == len(lamps) == 4259


def normalised(html: str) -> str:
    """A page without folium's random element ids and the CSP hashes that follow from them."""
    return re.sub(r"'sha256-[^']+'", "H", re.sub(r"[0-9a-f]{32}", "ID", html))


def test_pool_and_serial_pages_are_the_same(tmp_path):
    ws = make_ws(tmp_path)
    serial = webmap.write_all_maps(ws, tmp_path / "serial", progress=False, workers=1)
    pooled = webmap.write_all_maps(ws, tmp_path / "pool", progress=False, workers=2)
    assert [p.name for p in serial] == [p.name for p in pooled] == ["county.html", "zone_Z1.html", "zone_Z2.html"]
    for a, b in zip(serial, pooled):
        assert normalised(a.read_text(encoding="utf-8")) == normalised(b.read_text(encoding="utf-8"))
    assert (tmp_path / "pool" / "lib" / "leaflet" / "leaflet.js").is_file()
    assert webmap.map_workers(1) == 1 and webmap.map_workers(50, 2) == 2 and webmap.map_workers(3, 8) == 3


@pytest.fixture
def another_thread():
    """A second thread alive for the test's duration (what a notebook kernel or a caller's pool leaves)."""
    import threading

    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="civgis-test-idle", daemon=True)
    thread.start()
    yield thread
    stop.set()
    thread.join()


def test_zone_pages_are_not_forked_while_another_thread_runs(tmp_path, monkeypatch, another_thread):
    """Fork with a thread alive can leave the child a lock held for ever: the pages are written here, the same."""
    import multiprocessing as mp

    ws = make_ws(tmp_path)
    serial = webmap.write_all_maps(ws, tmp_path / "serial", progress=False, workers=1)

    def no_pool(*args, **kwargs):
        raise AssertionError("a process pool was started while another thread was alive")

    if "fork" in mp.get_all_start_methods():   # where fork is not available the platform's spawn pool is used
        assert webmap._pool_context() is None
        monkeypatch.setattr(webmap, "ProcessPoolExecutor", no_pool)
    threaded = webmap.write_all_maps(ws, tmp_path / "threaded", progress=False, workers=2)
    assert another_thread.is_alive()
    assert [p.name for p in threaded] == [p.name for p in serial] == ["county.html", "zone_Z1.html", "zone_Z2.html"]
    for a, b in zip(serial, threaded):
        assert normalised(a.read_text(encoding="utf-8")) == normalised(b.read_text(encoding="utf-8"))


def test_zone_pages_fork_a_pool_when_this_is_the_only_thread(tmp_path, monkeypatch):
    import multiprocessing as mp

    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork on this platform")
    monkeypatch.setattr(webmap, "fork_is_safe", lambda: True)   # an earlier test may have left a thread alive
    assert webmap._pool_context().get_start_method() == "fork"


def test_zone_outlines_are_the_zones_serialised_with_the_page_zone_red(tmp_path):
    """The outline texts made once per run: the page's zone (an id with markup in it) red and thick,
    the others thin, each feature as serialising the parsed collection writes it."""
    import json

    ws = Workspace.create(tmp_path / "w.gpkg", crs=4527)
    ws.write("zones", gpd.GeoDataFrame({"zone_id": ["A&<1>", "B"], "name": ["甲 {{ 7*7 }}", None]},
                                       geometry=[box(X0, Y0, X0 + 500, Y0 + 500), box(X0 + 500, Y0, X0 + 900, Y0 + 500)],
                                       crs=4527))
    data = webmap.prepare_map_data(webmap.load_map_layers(ws), crs=ws.crs)
    zones = next(lyr for lyr in data.layers if lyr.kind == "zones")
    text = zones.highlighted_text(np.arange(2), "A&<1>")
    assert text == json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))
    outline = layer_spec("zones").style.get("color", "#1f5fbf")
    props = [f["properties"] for f in json.loads(text)["features"]]
    assert [(p["zone_id"], p["_stroke"], p["_weight"]) for p in props] == [
        ("A&amp;&lt;1&gt;", "#d50000", 5), ("B", outline, 1.5)]
    on_b = [f["properties"] for f in json.loads(zones.highlighted_text(np.arange(2), "B"))["features"]]
    assert [(p["_stroke"], p["_weight"]) for p in on_b] == [(outline, 1.5), ("#d50000", 5)]


def test_prepared_zone_page_equals_the_page_built_from_layers(ws):
    """A zone page cut from the county's prepared data has the features of one built from clipped layers."""
    layers = webmap.load_map_layers(ws)
    data = webmap.prepare_map_data(layers, crs=ws.crs)
    a = geojson_layers(webmap.build_zone_map(data, "Z1", buffer_m=50))
    b = geojson_layers(webmap.build_zone_map(layers, "Z1", buffer_m=50))
    assert set(a) == set(b)
    for name in a:
        assert a[name].data == b[name].data, name


def test_inline_scripts_match_the_regex_they_replace():
    """The closing-tag search finds what the lazy findall found (case, src scripts, unclosed tail)."""
    import re
    from civgis.render.webmap import _inline_scripts
    old = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)
    page = ('<SCRIPT type="x">a\n<b></Script><script src="lib/x.js"></script><script>{"s":"</scr"}</script>'
            "<scripts>c</script><script>unclosed")
    assert _inline_scripts(page) == old.findall(page)


def test_lamps_without_a_recorded_state_are_not_called_working():
    """An OSM import's lamps (status unknown) share the working lamps' layer, whose title then says so."""
    lamps = gpd.GeoDataFrame({"lamp_id": ["L1", "L2", "L3"], "status": ["working", "unknown", "broken"]},
                             geometry=[Point(X0, Y0), Point(X0 + 10, Y0), Point(X0 + 20, Y0)], crs=4527)
    titles = [layer.title for layer in webmap._prepare_lamps(lamps, "none")]
    assert titles == [f"路灯（正常／状态未知，放大到 {webmap.LAMP_MIN_ZOOM} 级显示）", BROKEN]
    known = lamps[lamps["status"] != "unknown"]
    assert [layer.title for layer in webmap._prepare_lamps(known, "none")] == [WORKING, BROKEN]
