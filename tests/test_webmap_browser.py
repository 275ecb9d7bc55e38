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
    assert "包保责任区" in r["layer_names"] and "路灯（按状态）" in r["layer_names"]
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
