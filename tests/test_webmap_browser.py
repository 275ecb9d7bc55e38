"""The offline web map in a real browser: headless Chromium, no network, no console errors, no XSS.

Chromium runs with every host name unresolvable (``MAP * ~NOTFOUND``) and the helper records every
request the page makes, so a page that reaches for a CDN or a tile fails here twice: an external
request and a console error. Screenshots go to the test's tmp dir and to build/screenshots/.
"""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

from civgis.render import webmap

from browser import open_page
from test_webmap import X0, Y0, make_ws

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
SHOTS = REPO / "build" / "screenshots"

# names that would run code if they reached innerHTML unescaped
XSS_1 = "<script>window.__xss = 1</script>"
XSS_2 = '<img src=x onerror="window.__xss = 2">'

COUNT = "document.querySelectorAll({!r}).length"


def keep_screenshot(png: bytes, tmp_path: Path, name: str) -> Path:
    shot = tmp_path / name
    shot.write_bytes(png)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, SHOTS / name)
    return shot


def colours_in(png: bytes) -> int:
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    return len(np.unique(img.reshape(-1, 3), axis=0))


@pytest.fixture(scope="module")
def hostile_maps(tmp_path_factory):
    d = tmp_path_factory.mktemp("browser_ws")
    ws = make_ws(d)
    zones = ws.read("zones")
    zones["name"] = [XSS_1, XSS_2]
    ws.write("zones", zones)
    gaps = gpd.GeoDataFrame({"gap_id": ["G001"]}, geometry=[box(X0 + 1000, Y0, X0 + 1100, Y0 + 500)], crs=4527)
    out = d / "maps"
    webmap.save_map(webmap.county_map(ws, gaps=gaps), out / "county.html")
    webmap.save_map(webmap.zone_map(ws, "Z1"), out / "zone_Z1.html")
    return out


def test_helper_catches_network_requests_and_console_errors(tmp_path):
    """The detector itself: a page that loads a remote image and logs an error is caught."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><img src="https://tile.openstreetmap.org/1/1/1.png">'
                    '<script>console.error("boom")</script></body></html>')
    res = open_page(page)
    assert res.external_requests == ["https://tile.openstreetmap.org/1/1/1.png"]
    assert any("boom" in e for e in res.console_errors)
    assert any("ERR_NAME_NOT_RESOLVED" in e for e in res.console_errors)


def test_offline_county_map_in_headless_chromium(hostile_maps, tmp_path):
    res = open_page(
        hostile_maps / "county.html",
        wait_for="document.querySelectorAll('path.civgis-lamps').length > 0",
        actions=[  # click zone Z1 to open its popup
            "document.querySelectorAll('path.civgis-zones')[0].dispatchEvent("
            "new MouseEvent('click', {bubbles: true, clientX: 300, clientY: 300}))",
        ],
        queries={
            "zones": COUNT.format("path.civgis-zones"),
            "lamps": COUNT.format("path.civgis-lamps"),
            "broken_lamps": COUNT.format("path.civgis-lamps[fill='#c62828']"),
            "toilets": COUNT.format("path.civgis-toilets"),
            "gaps": COUNT.format("path.civgis-gaps"),
            "roads": COUNT.format("path.civgis-roads"),
            "tiles": COUNT.format("img.leaflet-tile"),
            "labels": "Array.from(document.querySelectorAll('.civgis-zone-label')).map(e => e.textContent)",
            "layer_names": "Array.from(document.querySelectorAll('.leaflet-control-layers-overlays span'))"
                           ".map(e => e.textContent.trim())",
            "popup": "(document.querySelector('.leaflet-popup-content') || {}).textContent || ''",
            "popup_elements": COUNT.format(".leaflet-popup-content img, .leaflet-popup-content script"),
            "xss": "window.__xss === undefined ? null : window.__xss",
            "title": "document.title",
            "leaflet": "L.version",
        },
    )
    shot = keep_screenshot(res.screenshot, tmp_path, "webmap_county_offline.png")
    assert res.console_errors == []
    assert res.external_requests == []
    assert all(u.startswith("file://") for u in res.requests)
    r = res.results
    assert r["leaflet"] == "1.9.4" and r["tiles"] == 0
    assert r["zones"] == 2 and r["lamps"] == 3 and r["broken_lamps"] == 1
    assert r["toilets"] == 1 and r["gaps"] == 1 and r["roads"] == 1
    # hostile names are shown as text, and nothing ran
    assert r["labels"] == [XSS_1, XSS_2]
    assert XSS_1 in r["popup"] and "责任区名称" in r["popup"] and r["popup_elements"] == 0
    assert r["xss"] is None
    assert "包保责任区" in r["layer_names"] and "路灯（故障）" in r["layer_names"]
    assert r["title"] == "全县城管专题图"
    assert shot.stat().st_size > 10_000 and colours_in(res.screenshot) > 20


VISIBLE_LABELS = ("Array.from(document.querySelectorAll('.civgis-zone-label'))"
                  ".filter(e => getComputedStyle(e).display !== 'none').length")
MAP = "window[Object.keys(window).find(k => k.startsWith('map_'))]"


def test_zone_labels_hide_when_zoomed_out(hostile_maps):
    # 500 m zones: labels from zoom 15 on (2**z >= 133 040 * 80 / 500 = 21 286); the page opens at 17
    res = open_page(hostile_maps / "county.html", wait_for="document.querySelectorAll('.civgis-zone-label').length",
                    actions=[f"window.__before = [{MAP}.getZoom(), {VISIBLE_LABELS}]", f"{MAP}.setZoom(14)"],
                    queries={"before": "window.__before", "after": f"[{MAP}.getZoom(), {VISIBLE_LABELS}]"})
    assert res.console_errors == []
    zoom, shown = res.results["before"]
    assert zoom >= 15 and shown == 2
    assert res.results["after"] == [14, 0]


def test_offline_zone_map_in_headless_chromium(hostile_maps, tmp_path):
    res = open_page(
        hostile_maps / "zone_Z1.html",
        wait_for="document.querySelectorAll('path.civgis-zones').length > 0",
        queries={
            "highlighted": COUNT.format("path.civgis-zones[stroke='#d50000']"),
            "lamps": COUNT.format("path.civgis-lamps"),
            "title": "document.querySelector('.civgis-title').textContent",
            "xss": "window.__xss === undefined ? null : window.__xss",
        },
    )
    keep_screenshot(res.screenshot, tmp_path, "webmap_zone_offline.png")
    assert res.console_errors == [] and res.external_requests == []
    assert res.results["highlighted"] == 1 and res.results["lamps"] == 2
    assert res.results["title"].startswith(f"包保责任区 {XSS_1}（Z1）") and res.results["xss"] is None


def test_demo_county_map_offline(demo_ws, tmp_path):
    """The demo county: every zone and lamp on the page, the planted gaps and overlaps highlighted."""
    from civgis.demo import load_manifest

    manifest = load_manifest(demo_ws.path.parent)
    counts, planted = manifest["counts"], manifest["planted"]
    html = webmap.save_map(webmap.county_map(demo_ws, audit="auto"), tmp_path / "demo" / "county.html")
    largest_gap = max(g["area_m2"] for g in planted["zone_gaps"])
    res = open_page(
        html,
        wait_for="document.querySelectorAll('path.civgis-lamps').length > 0",
        actions=["document.querySelectorAll('path.civgis-gaps')[0].dispatchEvent("
                 "new MouseEvent('click', {bubbles: true, clientX: 640, clientY: 450}))"],
        queries={
            "zones": COUNT.format("path.civgis-zones"),
            "lamps": COUNT.format("path.civgis-lamps"),
            "broken": COUNT.format("path.civgis-lamps[fill='#c62828']"),
            "gaps": COUNT.format("path.civgis-gaps"),
            "overlaps": COUNT.format("path.civgis-overlaps"),
            "popup": "(document.querySelector('.leaflet-popup-content') || {}).textContent || ''",
            "tiles": COUNT.format("img.leaflet-tile"),
        },
        timeout=60,
    )
    keep_screenshot(res.screenshot, tmp_path, "webmap_demo_county_offline.png")
    assert res.console_errors == [] and res.external_requests == []
    r = res.results
    assert r["tiles"] == 0
    assert r["zones"] == counts["zones"] and r["lamps"] == counts["lamps"] and r["broken"] == counts["lamps_broken"]
    assert r["gaps"] == len(planted["zone_gaps"]) and r["overlaps"] == len(planted["zone_overlaps"])
    # the first gap drawn is the largest (G001); its popup gives the planted area to 0.1 m²
    assert "空隙编号G001" in r["popup"].replace(" ", "").replace("\n", "")
    area = float(re.search(r"面积（平方米）\s*([\d.]+)", r["popup"]).group(1))
    assert area == pytest.approx(largest_gap, abs=0.1)


def test_offline_page_policy_blocks_any_remote_load(hostile_maps):
    """The page's Content-Security-Policy refuses tiles/fetches, so a regression cannot go quietly online."""
    page = hostile_maps / "county.html"
    tampered = hostile_maps / "tampered.html"
    tampered.write_text(page.read_text(encoding="utf-8").replace(
        "</body>", '<img src="https://tile.openstreetmap.org/1/1/1.png">'
                   "<script>fetch('https://example.com/x').catch(function () {});</script></body>", 1),
        encoding="utf-8")
    res = open_page(tampered)
    refused = [e for e in res.console_errors if "Content Security Policy" in e]
    assert any("tile.openstreetmap.org" in e for e in refused)
    # the smuggled inline script is not among the page's hashed scripts: it never runs, so never fetches
    assert any("inline script" in e for e in refused)
    assert not any(u.startswith("https://example.com") for u in res.requests)


VISIBLE = ("Array.from(document.querySelectorAll({!r}))"
           ".filter(e => getComputedStyle(e).display !== 'none').length")
CHECKED = ("Object.fromEntries(Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))"
           ".map(l => [l.textContent.trim(), l.querySelector('input').checked]))")
VIEW = f"(() => {{ const b = {MAP}.getBounds(); return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; }})()"


@pytest.fixture(scope="module")
def demo_maps(demo_ws, tmp_path_factory):
    """Every web map of the demo county, the zone pages written by two worker processes."""
    from civgis.demo import load_manifest

    out = tmp_path_factory.mktemp("demo_maps")
    # the start of the demo's "today": the instant the manifest counts its overdue cases at
    today = load_manifest(demo_ws.path.parent)["today"]
    webmap.write_all_maps(demo_ws, out, progress=False, workers=2, as_of=f"{today} 00:00")
    return out


def test_demo_county_map_defaults_at_county_and_street_zoom(demo_ws, demo_maps, tmp_path):
    """Opens on the built-up area with zones, audit, broken lamps on; working lamps appear at street zoom."""
    from civgis.demo import load_manifest

    counts = load_manifest(demo_ws.path.parent)["counts"]
    queries = {
        "zoom": f"{MAP}.getZoom()",
        "view": VIEW,
        "scale": "document.querySelector('.leaflet-control-scale').innerText.trim()",
        "legend": "Array.from(document.querySelectorAll('.civgis-legend')).map(e => e.innerText)",
        "checked": CHECKED,
        "working_shown": VISIBLE.format("path.civgis-lamps-working"),
        "broken_shown": VISIBLE.format("path.civgis-lamps-broken"),
        "broken_radius": "Math.min(...Array.from(document.querySelectorAll('path.civgis-lamps-broken'))"
                         ".map(e => e.getBBox().width))",
        "zones_shown": VISIBLE.format("path.civgis-zones"),
        "overdue_shown": VISIBLE.format("path.civgis-overdue"),
    }
    county = open_page(demo_maps / "county.html", wait_for="document.querySelectorAll('path.civgis-lamps').length > 0",
                       queries=queries, timeout=60, width=1400, height=1000)
    keep_screenshot(county.screenshot, tmp_path, "webmap_demo_county_zoom.png")
    assert county.console_errors == [] and county.external_requests == []
    r = county.results
    # opens on the built-up area: its lon/lat bounds inside the view, the view at most 4× as wide
    bu = demo_ws.read("built_up").to_crs(4326).total_bounds
    w, s, e, n = r["view"]
    assert w <= bu[0] and s <= bu[1] and e >= bu[2] and n >= bu[3]
    assert (e - w) <= 4 * (bu[2] - bu[0]) and (n - s) <= 4 * (bu[3] - bu[1])
    assert r["zoom"] < webmap.LAMP_MIN_ZOOM
    # metric scale only: "500 m", "1 km" … never feet or miles
    assert re.fullmatch(r"\d+ (m|km)", r["scale"])
    # which layers are on when the page opens
    on = {k for k, v in r["checked"].items() if v}
    off = {k for k, v in r["checked"].items() if not v}
    working = f"路灯（正常，放大到 {webmap.LAMP_MIN_ZOOM} 级显示）"
    assert on == {"建成区边界", "居住用地（底图）", "其他绿地（底图）", "道路（底图）", "公园绿地（G1）", "包保责任区",
                  "责任区名称", "责任区空隙（未覆盖）", "责任区重叠", "超期案件", "公厕服务半径（300 米）", "公厕", working,
                  "路灯（故障）"}
    assert off == {"候选地块", "巡查案件（未结案，未超期）"}
    # the 479 cases the demo planted as open and past their deadline at the start of its "today" are on
    assert r["overdue_shown"] == counts["inspections_open_overdue"] == 479
    # at county zoom the 4 146 working lamps are hidden, the 113 broken ones shown, at least 9 px wide
    assert r["working_shown"] == 0
    assert r["broken_shown"] == counts["lamps_broken"] == 113 and r["broken_radius"] >= 9
    assert r["zones_shown"] == counts["zones"]
    # the legend: every road class of the demo (manifest), land, zones, audit, toilets, lamps by status
    (legend,) = r["legend"]
    rows = legend.split("\n")
    assert rows[0] == "图例"
    road_zh = {"arterial": "主干道", "secondary": "次干道", "branch": "支路", "commercial": "商业街", "alley": "背街小巷"}
    expected = {f"道路 {road_zh[c]}" for c in counts["roads_by_class"]} | {
        "包保责任区（相邻责任区不同色）", "责任区空隙（未覆盖）", "责任区重叠", "建成区边界", "居住用地", "公园绿地（G1）",
        "其他绿地", "候选地块", "超期案件（未结案且已过整改期限）", "巡查案件（未结案，未超期）", "公厕服务半径 300 米", "公厕", "路灯 故障（始终显示）",
        f"路灯 正常（放大到 {webmap.LAMP_MIN_ZOOM} 级显示）"}
    assert set(rows[1:]) == expected

    street = open_page(demo_maps / "county.html", wait_for="document.querySelectorAll('path.civgis-lamps').length > 0",
                       actions=[f"{MAP}.setView({MAP}.getCenter(), 17, {{animate: false}})"],
                       queries=queries, timeout=60, width=1400, height=1000)
    keep_screenshot(street.screenshot, tmp_path, "webmap_demo_street_zoom.png")
    assert street.console_errors == []
    s = street.results
    assert s["zoom"] == 17 and re.fullmatch(r"\d+ m", s["scale"])
    assert s["working_shown"] == counts["lamps"] - counts["lamps_broken"] and s["broken_shown"] == 113


def test_demo_zone_page_from_the_pool(demo_maps, tmp_path):
    """A zone page written by a worker: zone outlined, its legend lists only what the page draws."""
    res = open_page(demo_maps / "zone_Z01.html", wait_for="document.querySelectorAll('path.civgis-zones').length > 0",
                    queries={"highlighted": COUNT.format("path.civgis-zones[stroke='#d50000']"),
                             "legend": "document.querySelector('.civgis-legend').innerText",
                             "title": "document.querySelector('.civgis-title').textContent",
                             "zoom": f"{MAP}.getZoom()",
                             "working_shown": VISIBLE.format("path.civgis-lamps-working")},
                    timeout=60)
    keep_screenshot(res.screenshot, tmp_path, "webmap_demo_zone_Z01.png")
    assert res.console_errors == [] and res.external_requests == []
    r = res.results
    assert r["highlighted"] == 1 and "本责任区" in r["legend"] and r["title"].startswith("包保责任区 ")
    assert "（Z01）" in r["title"]
    # a 300-600 m zone opens at street zoom, so its working lamps are shown
    assert r["zoom"] >= webmap.LAMP_MIN_ZOOM and r["working_shown"] > 0
