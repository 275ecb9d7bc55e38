"""Hostile user text stays text: no live formulas in workbooks or CSVs, no script in the pages."""

from __future__ import annotations

import csv
import types

import geopandas as gpd
import pandas as pd
import pytest
from openpyxl import load_workbook
from shapely.geometry import Point, box

from civgis.analysis.ledger import build_ledger
from civgis.cli.indicators import HEADERS_ZH, write_xlsx
from civgis.render import greening as greening_render
from civgis.render import hotspots as hotspot_render
from civgis.render.ledger_xlsx import write_ledger_xlsx
from civgis.render.webmap import save_map, script_hashes
from civgis.store.importers import export_layer
from civgis.store.inert import inert_frame, inert_text
from civgis.store.workspace import Workspace

FORMULAS = ['=HYPERLINK("http://evil.example","click")', "+1+1", "-2+3", "@SUM(A1:A2)", "\t=1", "\r=1"]
XSS = '<img src=x onerror="window.__xss=(window.__xss||0)+1">'
SCRIPT = '<script>window.__xss=(window.__xss||0)+1</script>'


def all_cells(path):
    wb = load_workbook(path)
    return [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]


def test_inert_text_by_hand():
    assert [inert_text(v) for v in FORMULAS] == ["'" + v for v in FORMULAS]
    assert inert_text("路灯 1") == "路灯 1" and inert_text(-5) == -5 and inert_text(None) is None
    out = inert_frame(pd.DataFrame({"a": ["=1", "x"], "n": [-1, 2]}))
    assert out["a"].tolist() == ["'=1", "x"] and out["n"].tolist() == [-1, 2]


def test_ledger_workbook_has_no_formula_cells(tmp_path):
    n = len(FORMULAS)
    cases = gpd.GeoDataFrame({
        "case_id": FORMULAS, "category": ["0102"] * n,
        "reported_at": pd.to_datetime(["2026-03-01 08:00"] * n), "deadline": pd.to_datetime(["2026-03-02"] * n),
        "closed_at": pd.to_datetime([None] * n), "status": ["open"] * n,
    }, geometry=[Point(10 + i, 50) for i in range(n)], crs=4527)
    zones = gpd.GeoDataFrame({"zone_id": ["=Z1"], "name": ["=1+1"], "unit": ["@unit"], "staff": ["+张三"],
                              "phone": ["-111"]}, geometry=[box(0, 0, 100, 100)], crs=4527)
    path = write_ledger_xlsx(build_ledger(cases, zones, as_of="2026-03-31"), tmp_path / "ledger.xlsx",
                             include_cases=True)
    cells = all_cells(path)
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    values = {c.value for c in cells}
    kept = {v for v in FORMULAS if "\r" not in v}  # XML stores a carriage return as a line feed
    assert kept <= values and {"=Z1", "=1+1", "@unit", "+张三", "-111"} <= values


def test_indicators_workbook_has_no_formula_cells(tmp_path):
    table = pd.DataFrame([{k: None for k in HEADERS_ZH} | {"indicator": "lamp_count", "name_zh": "路灯数",
                                                             "scope": "zone", "zone_id": "=Z1", "zone_name": FORMULAS[0],
                                                             "value": 3.0, "unit": "盏", "passed": None,
                                                             "note": "@SUM(A1)"}])
    write_xlsx(table, tmp_path / "indicators.xlsx")
    cells = all_cells(tmp_path / "indicators.xlsx")
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    assert {FORMULAS[0], "=Z1", "@SUM(A1)"} <= {c.value for c in cells}


def test_csv_export_prefixes_formula_cells(tmp_path):
    ws = Workspace.create(tmp_path / "w.gpkg", crs=4527)
    ws.write("toilets", gpd.GeoDataFrame({"toilet_id": ["=T1", "T2"], "name": ["+1+1", "公厕"]},
                                         geometry=[Point(500000, 3000000), Point(500010, 3000000)], crs=4527))
    out = export_layer(ws, "toilets", tmp_path / "toilets.csv")
    with open(out, encoding="utf-8-sig", newline="") as fh:
        cells = [c for row in csv.reader(fh) for c in row]
    assert {"'=T1", "'+1+1", "T2", "公厕"} <= set(cells)
    assert [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")] == []


def test_greening_csvs_prefix_formula_cells(tmp_path):
    plan = hostile_plan()
    paths = {"sites": tmp_path / "s.csv"}
    inert_frame(greening_render.sites_table_zh(plan)).to_csv(paths["sites"], index=False)
    text = paths["sites"].read_text(encoding="utf-8")
    assert "'=HYPERLINK" in text and "\n=" not in text and ",=" not in text


# ---------------------------------------------------------------------- pages
def hostile_plan():
    """A minimal plan whose user fields (site ids, names) are script payloads."""
    ids = [XSS, SCRIPT, FORMULAS[0]]
    geoms = [box(500000 + 300 * i, 3000000, 500000 + 300 * i + 100, 3000100) for i in range(3)]
    candidates = gpd.GeoDataFrame({"site_id": ids, "area_m2": [1e4] * 3, "tier": [XSS] * 3,
                                   "potential_residents": [10.0] * 3}, geometry=geoms, crs=32649)
    chosen = candidates.assign(rank=[1, 2, 3], new_residents=[5.0] * 3, radius_m=[300.0] * 3,
                               name=ids)
    gap = gpd.GeoDataFrame({"residents": [12.0]}, geometry=[box(499000, 2999000, 499500, 2999500)], crs=32649)
    sites = pd.DataFrame(chosen.drop(columns="geometry"))
    for col in greening_render.SITE_COLUMNS_ZH:
        if col not in sites:
            sites[col] = 1.0
    return types.SimpleNamespace(candidates=candidates, chosen=chosen, gap=gap, parks=None, sites=sites)


FIRE_TOOLTIPS = """
window.__tips = []; window.__elements = 0;
document.querySelectorAll('path.leaflet-interactive').forEach(p => {
  const b = p.getBoundingClientRect();
  const at = {bubbles: true, clientX: b.x + b.width / 2, clientY: b.y + b.height / 2};
  p.dispatchEvent(new MouseEvent('mouseover', at));
  p.dispatchEvent(new MouseEvent('mousemove', at));
  document.querySelectorAll('.leaflet-tooltip, .leaflet-popup-content').forEach(t => {
    window.__tips.push(t.textContent);
    window.__elements += t.querySelectorAll('img, script').length;
  });
  p.dispatchEvent(new MouseEvent('mouseout', at));
});
"""


def fire(page):
    from browser import open_page

    res = open_page(page, wait_for="document.querySelectorAll('path.leaflet-interactive').length > 0",
                    actions=[FIRE_TOOLTIPS], settle=0.8,
                    queries={"tips": "window.__tips", "elements": "window.__elements",
                             "xss": "window.__xss === undefined ? null : window.__xss"})
    return res


@pytest.mark.browser
def test_greening_map_tooltips_show_payloads_as_text(tmp_path):
    page = greening_render.save_greening_map(hostile_plan(), tmp_path / "greening_map.html")
    res = fire(page)
    r = res.results
    assert r["xss"] is None and r["elements"] == 0
    assert any(XSS in t for t in r["tips"]) and any(SCRIPT in t for t in r["tips"])
    assert [e for e in res.console_errors if "Content Security Policy" in e] == []  # folium's own scripts ran


@pytest.mark.browser
def test_hotspot_map_tooltips_show_payloads_as_text(tmp_path):
    cells = gpd.GeoDataFrame({"cell_id": [XSS, SCRIPT], "count": [3, 4], "gi_z": [2.5, -1.0], "gi_p": [0.01, 0.3],
                              "gi_bin": [3, 0]},
                             geometry=[box(500000, 3000000, 500100, 3000100), box(500100, 3000000, 500200, 3000100)],
                             crs=32649)
    m = hotspot_render.hotspot_map(cells, title=XSS, labels={3: XSS, 0: SCRIPT})
    page = hotspot_render.save_folium(m, tmp_path / "hotspots.html")
    r = fire(page).results
    assert r["xss"] is None and r["elements"] == 0
    assert any(XSS in t for t in r["tips"]) and any(SCRIPT in t for t in r["tips"])


def test_offline_pages_allow_only_their_own_scripts(tmp_path):
    page = greening_render.save_greening_map(hostile_plan(), tmp_path / "g.html")
    html = page.read_text(encoding="utf-8")
    csp = html.split('Content-Security-Policy" content="', 1)[1].split('"', 1)[0]
    script_src = [d for d in csp.split(";") if d.strip().startswith("script-src")][0]
    assert "'unsafe-inline'" not in script_src
    assert all(h in script_src for h in script_hashes(html)) and len(script_hashes(html)) >= 1


def test_save_workbook_is_inert_and_atomic(tmp_path, monkeypatch):
    """The one workbook writer: formula cells come back as the typed text, and a save that fails
    half-way leaves the previous file as it was, with no temporary file beside it."""
    import openpyxl

    from civgis.store.inert import save_workbook

    path = tmp_path / "台账.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["=HYPERLINK(\"http://evil.example\",\"x\")", "路灯"])
    save_workbook(book, path)
    cell = openpyxl.load_workbook(path).active["A1"]
    assert (cell.data_type, cell.value) == ("s", "=HYPERLINK(\"http://evil.example\",\"x\")")
    before = path.read_bytes()

    broken = openpyxl.Workbook()
    def fail(target):
        open(target, "wb").write(b"half a workbook")
        raise OSError("disk full")
    monkeypatch.setattr(broken, "save", fail)
    with pytest.raises(OSError):
        save_workbook(broken, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["台账.xlsx"]


#: folium compiles every rendered script as a Jinja template; user text must not be one
JINJA = "{{ 'zq' * 7 }}"
JINJA_RESULT = "zq" * 7


def test_folium_pages_do_not_evaluate_user_text_as_jinja(tmp_path):
    """Greening, hot-spot and pass-plan pages: a site id, a cell id, a class label, a title and a
    task text written as ``{{ 'zq' * 7 }}`` reach the page as that text (HTML entities for the
    braces), never as its value ``zqzq…``."""
    from civgis.render.plan_map import plan_map_html

    entity = "&#123;&#123; &#x27;zq&#x27; * 7 &#125;&#125;"
    plan = hostile_plan()
    plan.candidates["site_id"] = [JINJA, "b", "c"]
    plan.chosen["site_id"] = [JINJA, "b", "c"]
    pages = [greening_render.save_greening_map(plan, tmp_path / "g.html")]

    cells = gpd.GeoDataFrame({"cell_id": [JINJA, "x"], "count": [3, 4], "gi_z": [2.5, -1.0], "gi_p": [0.01, 0.3],
                              "gi_bin": [3, 0]},
                             geometry=[box(500000, 3000000, 500100, 3000100), box(500100, 3000000, 500200, 3000100)],
                             crs=32649)
    m = hotspot_render.hotspot_map(cells, title=JINJA, labels={3: JINJA, 0: "冷点"})
    pages.append(hotspot_render.save_folium(m, tmp_path / "h.html"))

    tasks = pd.DataFrame({"task_id": ["T1"], "task": [JINJA], "kind": ["install_lamp"], "resp_unit": [JINJA],
                          "staff": ["张三"], "deadline": ["2026-12-31"], "lon": [114.3], "lat": [30.6]})
    plan_stub = types.SimpleNamespace(tasks=tasks, actions={})
    pages.append(plan_map_html(plan_stub, {}, tmp_path / "p.html"))
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert JINJA_RESULT not in html, page.name
        # inside a <script>, JSON writes & as \u0026 (folium's tojson)
        assert entity in html.replace("\\u0026", "&"), page.name


def test_plan_map_scale_is_metric_only(tmp_path):
    """The pass plan's web map, like every civgis page, has a scale in m/km and none in feet."""
    from civgis.render.plan_map import plan_map_html

    tasks = pd.DataFrame({"task_id": ["T1"], "task": ["装灯"], "kind": ["install_lamp"], "resp_unit": ["市政"],
                          "staff": ["张三"], "deadline": ["2026-12-31"], "lon": [114.3], "lat": [30.6]})
    html = plan_map_html(types.SimpleNamespace(tasks=tasks, actions={}), {}, tmp_path / "p.html").read_text(encoding="utf-8")
    assert "imperial: false" in html and "imperial: true" not in html and "L.control.scale({\"imperial\"" not in html
