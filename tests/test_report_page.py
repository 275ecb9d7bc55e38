"""The report page as a leader reads it: numbers equal to the CLI's in their units, no code
identifiers in the visible text, partial data shown as far as it goes, A4 print that fits.

The page is parsed (BeautifulSoup): each figure is read back from the text of the element the
template marks with ``data-k`` and compared with the value the CLI prints for the same workspace,
converted to the page's unit here (shares × 100) and within half a unit of the last shown digit.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
import shutil
import sqlite3
import subprocess
import unicodedata
from pathlib import Path

import bs4
import pandas as pd
import pytest

from civgis.analysis.indicators import COLUMNS as INDICATOR_COLUMNS, INDICATORS
from civgis.analysis.trends import CATEGORY_LABELS_ZH
from civgis.analysis.zones import columns_zh
from civgis.cli import main
from civgis.demo import DEMO_TODAY
from civgis.run.report import SECTIONS, unit_scorecard, write_report
from civgis.store.catalogue import layer_spec, load_catalogue
from civgis.store.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent
SHOTS = REPO / "build" / "screenshots"


# ---------------------------------------------------------------------- helpers
def cli_json(capsys, *argv):
    capsys.readouterr()
    assert main([str(a) for a in argv]) == 0
    return json.loads(capsys.readouterr().out)


def parse(index: Path) -> bs4.BeautifulSoup:
    return bs4.BeautifulSoup(index.read_text(encoding="utf-8"), "html.parser")


def visible_text_nodes(soup: bs4.BeautifulSoup) -> list[str]:
    """The text nodes a reader sees: not style/script/head, not the commands (<code>) a user types."""
    soup = bs4.BeautifulSoup(str(soup), "html.parser")
    for tag in soup(["style", "script", "head", "code"]):
        tag.decompose()
    return [s.strip() for s in soup.find_all(string=True)
            if s.strip() and not isinstance(s, (bs4.Doctype, bs4.Comment))]


def number(text: str) -> tuple[float, int]:
    """The number in a page text ('1,234.5 %' → (1234.5, 1)) and its shown decimals."""
    m = re.search(r"[-+]?[\d,]*\.?\d+", text)
    assert m, f"no number in {text!r}"
    raw = m.group(0).replace(",", "").lstrip("+")
    return float(raw), len(raw.split(".")[1]) if "." in raw else 0


def assert_shown(soup, key: str, expected: float, unit: str | None = None):
    """The element marked data-k=key shows ``expected`` rounded to its shown digits (and its unit)."""
    el = soup.find(attrs={"data-k": key})
    assert el is not None, f"nothing marked {key} on the page"
    text = el.get_text(" ", strip=True)
    value, digits = number(text)
    assert abs(value - expected) <= 0.5 * 10 ** -digits + 1e-9, f"{key}: page {text!r}, CLI {expected}"
    if unit == "%":
        assert text.endswith("%"), f"{key}: a share must be shown in percent: {text!r}"
    return text


def drop_layer(path: Path, layer: str) -> None:
    """Remove a vector layer from a GeoPackage (table, its spatial index and its gpkg_* rows)."""
    con = sqlite3.connect(path)
    try:
        con.execute(f'DROP TABLE IF EXISTS "rtree_{layer}_geometry"')
        con.execute(f'DROP TABLE IF EXISTS "rtree_{layer}_geom"')
        con.execute(f'DROP TABLE "{layer}"')
        for table in ("gpkg_contents", "gpkg_geometry_columns", "gpkg_extensions", "gpkg_data_columns"):
            try:
                con.execute(f"DELETE FROM {table} WHERE table_name = ?", (layer,))
            except sqlite3.OperationalError:
                pass
        try:
            con.execute("DELETE FROM layer_styles WHERE f_table_name = ?", (layer,))
        except sqlite3.OperationalError:
            pass
        con.commit()
    finally:
        con.close()


def code_identifiers() -> set[str]:
    """The code's ASCII identifiers a page must not show: indicator keys, layer keys and their fields,
    emerging-hotspot codes, section keys, road classes, the column names of the tables it shows."""
    names = set(INDICATORS) | set(load_catalogue()) | set(CATEGORY_LABELS_ZH) | {s.key for s in SECTIONS}
    names |= set(INDICATOR_COLUMNS) | set(columns_zh()) | {"city", "zone", "scope"}
    names |= set(layer_spec("roads").fields["road_class"].values)
    for spec in load_catalogue().values():
        names |= set(getattr(spec, "fields", {}) or {})
    names |= {"closure_rate", "on_time_rate", "closed_on_time", "closed_late", "open_within_deadline",
              "overdue", "median_days_to_close", "by_month", "by_unit", "by_category", "n_failed",
              "failed_indicators", "unassigned", "unassigned_in_built_up", "what_if", "label_zh", "name_zh",
              "Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "none"}
    return {n for n in names if len(n) >= 3 or "_" in n}


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def full(demo_ws, tmp_path_factory):
    return write_report(demo_ws, tmp_path_factory.mktemp("report_page"), as_of=DEMO_TODAY, sites=5,
                        patrol_maps=False)


@pytest.fixture(scope="module")
def cli(demo_ws, tmp_path_factory):
    """What the CLI prints for the demo at the report's date (each command once)."""
    ws, out = demo_ws.path, tmp_path_factory.mktemp("cli_hot")
    cap = _Capture()
    return {"indicators": cap.json("indicators", ws, "--zones", "--json"),
            "audit": cap.json("audit", ws, "--json"),
            "ledger": cap.json("ledger", ws, "--as-of", DEMO_TODAY, "--json"),
            "zones": cap.json("zones", ws, "--as-of", DEMO_TODAY, "--json"),
            "greening": cap.json("greening", ws, "--sites", 5, "--json"),
            "hotspots": cap.json("hotspots", ws, "--as-of", DEMO_TODAY, "--out", out / "hot", "--json")}


class _Capture:
    """Runs a CLI command in-process and reads its JSON from stdout (module fixtures have no capsys)."""

    def json(self, *argv):
        import contextlib

        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            assert main([str(a) for a in argv]) == 0
        return json.loads(buf.getvalue())


def _partial(demo_ws, tmp_path_factory, layer: str):
    """The demo without one layer, reported through the CLI: (exit status, last line, page, result data)."""
    out = tmp_path_factory.mktemp(f"no_{layer}")
    path = out / "county.gpkg"
    shutil.copy(demo_ws.path, path)
    drop_layer(path, layer)
    assert layer not in Workspace(path).layers()
    buf = io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(buf):
        status = main(["report", str(path), "--out", str(out / "report"), "--as-of", DEMO_TODAY, "--sites", "2",
                       "--no-patrol-maps", "-q"])
    data = json.loads((out / "report" / "report.json").read_text(encoding="utf-8"))
    return status, buf.getvalue().strip().splitlines()[-1], parse(out / "report" / "index.html"), data


@pytest.fixture(scope="module")
def no_zones(demo_ws, tmp_path_factory):
    return _partial(demo_ws, tmp_path_factory, "zones")


@pytest.fixture(scope="module")
def no_cases(demo_ws, tmp_path_factory):
    return _partial(demo_ws, tmp_path_factory, "inspections")


@pytest.fixture(scope="module")
def no_residential(demo_ws, tmp_path_factory):
    return _partial(demo_ws, tmp_path_factory, "residential")


# ---------------------------------------------------------------------- numbers = the CLI's
def test_indicator_rows_equal_the_cli_in_their_units(full, cli):
    soup = parse(full.index)
    city = {(r["indicator"], r.get("road_class")): r for r in cli["indicators"] if r["scope"] == "city"}
    rows = soup.select("#indicators tr[data-indicator]")
    assert len(rows) == len(city)
    for tr in rows:
        r = city[(tr["data-indicator"], tr["data-road-class"] or None)]
        cells = tr.find_all("td")
        assert cells[0].get_text(strip=True) == r["name_zh"]
        assert cells[2].get_text(strip=True) == r["unit"]
        shown = cells[1].get_text(strip=True)
        if r["value"] is None:
            assert shown == "无数据"
            continue
        value, digits = number(shown)
        assert abs(value - r["value"]) <= 0.5 * 10 ** -digits + 1e-9, (r["indicator"], shown, r["value"])
        if r["unit"] == "%":  # a share in percent: 0–100, one decimal, never a fraction
            assert digits == 1 and (r["value"] > 1.5) == (value > 1.5)
    # the summary card: county rows (no road class) that pass, of those judged
    county = [r for r in cli["indicators"] if r["scope"] == "city" and r.get("road_class") is None]
    assert_shown(soup, "indicators.passed", sum(r["passed"] is True for r in county))
    assert_shown(soup, "indicators.assessed", sum(r["passed"] is not None for r in county))


def test_green_space_ratio_is_shown_in_percent(full, cli):
    soup = parse(full.index)
    row = next(r for r in cli["indicators"] if r["indicator"] == "green_space_ratio" and r["scope"] == "city")
    tr = soup.select_one('#indicators tr[data-indicator="green_space_ratio"]')
    assert tr.find_all("td")[1].get_text(strip=True) == f"{row['value']:.1f}"   # e.g. 30.4, not 0.3
    what_if = cli["greening"]["what_if"]
    text = assert_shown(soup, "what_if.green_ratio.before", what_if["green_ratio"]["before"])
    assert number(text)[0] > 1.5  # percent, not a fraction
    assert abs(what_if["green_ratio"]["before"] - row["value"]) < 1e-6  # the same rule as the indicator


def test_ledger_and_scorecard_equal_the_cli(full, cli):
    soup = parse(full.index)
    t = cli["ledger"]["totals"]
    assert_shown(soup, "ledger.overdue", t["overdue"])
    assert_shown(soup, "ledger.cases", t["cases"])
    assert_shown(soup, "ledger.closed_on_time", t["closed_on_time"])
    assert_shown(soup, "ledger.closed_late", t["closed_late"])
    assert_shown(soup, "ledger.open_within_deadline", t["open_within_deadline"])
    assert_shown(soup, "ledger.closure_rate", 100.0 * t["closed"] / t["cases"], "%")
    assert_shown(soup, "ledger.on_time_rate", 100.0 * t["closed_on_time"] / t["closed"], "%")
    assert_shown(soup, "ledger.median_days_to_close", t["median_days_to_close"])
    for c in cli["ledger"]["by_category"]:
        assert_shown(soup, f"category_closure.{c['category']}", 100.0 * c["closed"] / c["cases"], "%")
    # each squad: its cases' closure rate from the ledger, its zones' overdue cases from `civgis zones`
    zones = pd.DataFrame(cli["zones"] if isinstance(cli["zones"], list) else cli["zones"]["zones"])
    overdue_by_unit = zones.groupby("unit")["cases_overdue"].sum()
    for u in cli["ledger"]["by_unit"]:
        assert_shown(soup, f"unit_closure.{u['unit']}", 100.0 * u["closed"] / u["cases"], "%")
        if u["unit"] in overdue_by_unit.index:  # cases outside every zone belong to no squad's zone
            assert_shown(soup, f"unit_overdue.{u['unit']}", overdue_by_unit[u["unit"]])
    # every bureau unit named by an indicator's target has a scorecard row
    units = {tr["data-unit"] for tr in soup.select("#scorecard tr[data-unit]")}
    assert {r["responsible_unit"] for r in cli["indicators"] if r["responsible_unit"]} <= units
    assert {u["unit"] for u in cli["ledger"]["by_unit"]} <= units


def test_audit_counts_have_the_cli_scope(full, cli):
    soup = parse(full.index)
    a = cli["audit"]
    assert_shown(soup, "audit.n_gaps", len(a["gaps"]))
    assert_shown(soup, "audit.n_overlaps", len(a["overlaps"]))
    assert_shown(soup, "audit.coverage", 100.0 * a["summary"]["coverage_ratio"], None)
    shown_layers = 0
    for layer, ids in a["unassigned"].items():
        if not ids:
            continue
        shown_layers += 1
        inside = a["unassigned_in_built_up"][layer]
        assert_shown(soup, f"unassigned.{layer}", len(ids))
        assert_shown(soup, f"unassigned_in_built_up.{layer}", len(inside))
        item = soup.select_one(f'#audit li[data-layer="{layer}"]').get_text()
        sample = [x for x in ids if x in item]
        assert set(sample) <= set(inside), f"{layer}: sample ids outside the built-up area: {set(sample) - set(inside)}"
        assert len(sample) == min(len(inside), 12)
    assert shown_layers > 0  # the demo plants unassigned lamps


def test_greening_and_hotspots_equal_the_cli(full, cli):
    soup = parse(full.index)
    g = cli["greening"]
    for key in ("population", "covered_before", "covered_after", "new_residents"):
        assert_shown(soup, f"greening.{key}", g[key])
    assert_shown(soup, "greening.coverage_before", 100.0 * g["covered_before"] / g["population"], "%")
    assert_shown(soup, "greening.coverage_after", 100.0 * g["covered_after"] / g["population"], "%")
    units = {tr["data-what-if"]: tr.find_all("td")[1].get_text(strip=True) for tr in soup.select("tr[data-what-if]")}
    assert set(units) == set(g["what_if"])
    for key, w in g["what_if"].items():
        for when in ("before", "after"):
            assert_shown(soup, f"what_if.{key}.{when}", w[when])  # the unit is in its own column
        if units[key] == "%":  # a share in percent, one decimal
            assert number(soup.find(attrs={"data-k": f"what_if.{key}.before"}).get_text())[1] == 1
    residents = next(r for r in cli["indicators"] if r["indicator"] == "residents" and r["scope"] == "city")
    assert_shown(soup, "greening.residents_in_built_up", residents["value"])
    text = soup.select_one("#greening p").get_text()
    assert "全部居住用地" in text and "建成区内" in text  # each resident count names its scope
    h = cli["hotspots"]
    assert_shown(soup, "hotspots.n_cases", h["n_cases"])
    for code, n in h["emerging"]["categories"].items():
        assert_shown(soup, f"emerging.{code}", n)
        label = soup.select_one(f'#hotspots tr[data-emerging="{code}"] td').get_text(strip=True)
        assert label == CATEGORY_LABELS_ZH[code]


def test_zone_ranking_overdue_equals_civgis_zones(full, cli):
    soup = parse(full.index)
    zones = cli["zones"] if isinstance(cli["zones"], list) else cli["zones"]["zones"]
    overdue = {z["zone_id"]: z["cases_overdue"] for z in zones}
    rows = soup.select("#zones tr[data-zone]")
    assert len(rows) == min(10, len(zones))
    for tr in rows:
        assert_shown(soup, f"zone_overdue.{tr['data-zone']}", overdue[tr["data-zone"]])


def test_no_code_identifier_in_the_visible_text(full):
    identifiers = code_identifiers()
    assert {"green_space_ratio", "lamps", "persistent_hot", "none", "cases_overdue"} <= identifiers
    found = {}
    for text in visible_text_nodes(parse(full.index)):
        for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text):
            if word in identifiers:
                found.setdefault(word, text)
    assert found == {}


def test_charts_are_inline_svg_with_a_bar_per_figure(full):
    soup = parse(full.index)
    months = full.data["sections"]["ledger"]["by_month"]
    units = full.data["sections"]["scorecard"]["table"]
    for chart in ("chart-monthly", "chart-indicators", "chart-scorecard"):
        svg = soup.find(id=chart)
        assert svg is not None and svg.name == "svg", chart
        assert svg.find("title").get_text() and svg.find_all("rect"), chart
    # every month's outcomes that have cases are bars (legend swatches have no title)
    bars = [r for r in soup.find(id="chart-monthly").find_all("rect") if r.find("title")]
    assert len(bars) == sum(1 for m in months for key in ("closed_on_time", "closed_late", "open_within_deadline",
                                                           "overdue") if m[key])
    overdue_bars = [r for r in soup.find(id="chart-scorecard").find_all("rect")
                    if r.find("title") and "结案率" in r.find("title").get_text()]
    assert len(overdue_bars) == sum(1 for u in units if u["cases"] is not None and (u["overdue"] or 0) > 0)


def test_full_demo_is_complete(full):
    assert full.incomplete == []
    assert full.data["county"]
    soup = parse(full.index)
    assert soup.find(id="incomplete") is None
    assert soup.find(id="report-county").get_text(strip=True) == full.data["county"]


# ---------------------------------------------------------------------- unit scorecard by hand
def test_unit_scorecard_by_hand():
    indicators = pd.DataFrame([
        # county rows of two units; a road-class row and a zone row must not count
        dict(indicator="a", name_zh="甲", scope="city", road_class=None, passed=True, responsible_unit="园林站"),
        dict(indicator="b", name_zh="乙", scope="city", road_class=None, passed=False, responsible_unit="园林站"),
        dict(indicator="c", name_zh="丙", scope="city", road_class=None, passed=None, responsible_unit="园林站"),
        dict(indicator="b", name_zh="乙", scope="city", road_class="alley", passed=False, responsible_unit="园林站"),
        dict(indicator="d", name_zh="丁", scope="city", road_class=None, passed=True, responsible_unit="环卫站"),
        dict(indicator="d", name_zh="丁", scope="zone", road_class=None, passed=False, responsible_unit="环卫站"),
    ]).astype({"passed": "boolean"})
    zones = pd.DataFrame({"unit": ["一中队", "一中队", "二中队"], "cases_overdue": [3, 4, 0], "n_failed": [1, 0, 2]})
    by_unit = pd.DataFrame({"unit": ["一中队", "二中队"], "cases": [10, 4], "overdue": [7, 0],
                            "closure_rate": [0.8, 1.0]})
    t = unit_scorecard(indicators, zones, by_unit).set_index("unit")
    assert t.loc["园林站", "n_indicators"] == 2 and t.loc["园林站", "n_passed"] == 1   # 丙 has no verdict
    assert t.loc["园林站", "failed_zh"] == "乙"
    assert t.loc["环卫站", "n_indicators"] == 1 and t.loc["环卫站", "n_failed_indicators"] == 0
    assert t.loc["一中队", "n_zones"] == 2 and t.loc["一中队", "zone_indicator_failures"] == 1
    assert t.loc["一中队", "overdue"] == 7 and t.loc["一中队", "closure_rate"] == pytest.approx(80.0)
    assert t.loc["二中队", "closure_rate"] == pytest.approx(100.0)
    assert pd.isna(t.loc["园林站", "cases"]) and pd.isna(t.loc["一中队", "n_indicators"])  # no data is not 0


# ---------------------------------------------------------------------- partial data
def test_no_zones_shows_the_city_indicators(no_zones):
    status, last, soup, data = no_zones
    s = data["sections"]
    assert s["indicators"]["ok"] and s["county_map"]["ok"] and s["ledger"]["ok"] and s["greening"]["ok"]
    assert s["indicators"]["zones"] == [] and len(s["indicators"]["city"]) > 10
    zones_zh = layer_spec("zones").title_zh
    assert zones_zh in s["indicators"]["partial"]
    incomplete = [v["title"] for v in s.values() if not v["ok"]]
    assert set(incomplete) == {"责任区全覆盖检查", "责任区排名", "责任区巡查图", "达标路径"}
    assert all(s[k]["missing"] == [zones_zh] for k in ("audit", "zones", "patrol", "plan"))
    assert status == len(incomplete) == 4 and f"{len(incomplete)} 个未完成" in last and str(len(s)) in last
    assert soup.select("#indicators tr[data-indicator]")
    assert f"缺少：{zones_zh}" in soup.find(id="audit").get_text()
    assert soup.find(attrs={"data-k": "incomplete"}).get_text(strip=True) == str(len(incomplete))


def test_no_cases_shows_the_maps(no_cases):
    status, last, soup, data = no_cases
    s = data["sections"]
    assert s["county_map"]["ok"] and s["indicators"]["ok"] and s["audit"]["ok"] and s["zones"]["ok"]
    assert s["county_map"]["partial"] == [layer_spec("inspections").title_zh]
    incomplete = {v["title"] for v in s.values() if not v["ok"]}
    assert incomplete == {"问题整改台账", "问题热点与趋势"}
    assert status == 2 and "2 个未完成" in last
    assert soup.find(id="county_map").find("img") is not None
    assert "缺少" in soup.find(id="ledger").get_text()


def test_no_residential_shows_the_rest(no_residential):
    status, last, soup, data = no_residential
    s = data["sections"]
    assert not s["greening"]["ok"] and s["greening"]["missing"] == [layer_spec("residential").title_zh]
    assert s["indicators"]["ok"] and s["ledger"]["ok"] and s["audit"]["ok"]
    rows = {r["indicator"]: r for r in s["indicators"]["city"] if r["road_class"] is None}
    assert rows["park_area_per_capita"]["value"] is None  # missing is not a number
    tr = soup.select_one('#indicators tr[data-indicator="park_area_per_capita"]')
    assert "无数据" in tr.get_text() and "居住用地" in tr.get_text()
    incomplete = [k for k, v in s.items() if not v["ok"]]
    assert status == len(incomplete) >= 1 and f"{len(incomplete)} 个未完成" in last
    assert last.endswith("sections incomplete)")


@pytest.mark.parametrize("case", ["no_zones", "no_cases", "no_residential"])
def test_partial_pages_show_no_code_identifier(case, request):
    soup = request.getfixturevalue(case)[2]
    identifiers = code_identifiers()
    found = {w: t for t in visible_text_nodes(soup) for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", t) if w in identifiers}
    assert found == {}


# ---------------------------------------------------------------------- print
def print_report(index: Path) -> tuple[list[dict], bytes, bytes]:
    """Print the page as Chromium prints it: (tables measured in print media at the A4 content width,
    the PDF, a screen screenshot)."""
    from browser import CdpPipe

    with CdpPipe(width=794, height=1123) as cdp:
        target = cdp.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = cdp.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        cdp.send("Page.enable", session=session)
        cdp.send("Emulation.setEmulatedMedia", {"media": "print"}, session=session)
        # A4 less the page margins (210 − 2 × 12 mm) at 96 px per inch
        content_px = round((210 - 24) / 25.4 * 96)
        cdp.send("Emulation.setDeviceMetricsOverride", {"width": content_px, "height": 1000, "deviceScaleFactor": 1,
                                                        "mobile": False}, session=session)
        cdp.send("Page.navigate", {"url": index.resolve().as_uri()}, session=session)
        assert cdp.wait_event("Page.loadEventFired", 60) is not None
        cdp.pump(0.5)
        # a cell's lines: the distinct tops of its text's line boxes
        js = """(() => { const lines = el => { const r = document.createRange(); r.selectNodeContents(el);
                   return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size; };
                 return JSON.stringify([...document.querySelectorAll('table')].map(t => ({
                   section: t.closest('section') ? t.closest('section').id : '', width: t.scrollWidth,
                   right: t.getBoundingClientRect().right, room: document.documentElement.clientWidth,
                   wrapped: [...t.querySelectorAll('td.nw')].filter(td => lines(td) > 1).map(td => td.textContent),
                   names: [...t.querySelectorAll('td.nw')].length}))); })()"""
        r = cdp.send("Runtime.evaluate", {"expression": js, "returnByValue": True}, session=session)
        tables = json.loads(r["result"]["value"])
        pdf = base64.b64decode(cdp.send("Page.printToPDF", {"preferCSSPageSize": True, "printBackground": True},
                                        session=session, timeout=120)["data"])
        cdp.send("Emulation.setEmulatedMedia", {"media": "screen"}, session=session)
        cdp.send("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 2000, "deviceScaleFactor": 1,
                                                        "mobile": False}, session=session)
        cdp.pump(0.5)
        shot = base64.b64decode(cdp.send("Page.captureScreenshot", {"format": "png"}, session=session)["data"])
    return tables, pdf, shot


@pytest.mark.browser
def test_print_is_a4_and_tables_fit(full):
    from pypdf import PdfReader


    tables, pdf, shot = print_report(full.index)
    out = SHOTS / "report_print"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    (out / "report.pdf").write_bytes(pdf)
    (SHOTS / "report_screen.png").write_bytes(shot)
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(out / "report.pdf"), str(out / "page")], check=True)
    assert len(tables) >= 10
    too_wide = [t for t in tables if t["width"] > t["room"] + 1 or t["right"] > t["room"] + 1]
    assert too_wide == []
    assert sum(t["names"] for t in tables) > 100
    assert [t["wrapped"] for t in tables if t["wrapped"]] == []  # zone names, ids, dates stay on one line
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) >= len(SECTIONS) + 1  # the cover, then a page per section
    for page in reader.pages:
        w, h = float(page.mediabox.width), float(page.mediabox.height)
        assert abs(w - 595.3) < 2 and abs(h - 841.9) < 2, (w, h)   # A4 in points
    cover = unicodedata.normalize("NFKC", reader.pages[0].extract_text())  # 示 may come out as the radical ⽰
    assert full.data["county"] in cover and full.data["as_of"] in cover
    assert len(list(out.glob("page-*.png"))) == len(PdfReader(io.BytesIO(pdf)).pages)


# ---------------------------------------------------------------------- page helpers by hand
def test_page_helpers_by_hand():
    from civgis.render.charts import achievement
    from civgis.render.report import crs_zh, format_value, markup_commands, note_zh, zone_colours

    assert achievement(30.4, 31.0, ">=") == pytest.approx(100 * 30.4 / 31)
    assert achievement(2.0, 4.0, "<=") == pytest.approx(200.0)        # under a cap scores above 100
    assert math.isnan(achievement(None, 31.0, ">="))
    assert format_value(30.365, "%") == "30.4" and format_value(149999.987, "人") == "150,000"
    assert format_value(None, "%") == "无数据"
    assert note_zh("缺少图层 lamps（路灯），无法计算") == "缺少图层「路灯」，无法计算"
    assert crs_zh("CGCS2000 / 3-degree Gauss-Kruger zone 39") == "CGCS2000 3 度分带高斯-克吕格投影 第 39 带"
    marked = str(markup_commands("运行 civgis import a.gpkg zones FILE <script>"))
    assert marked == "运行 <code>civgis import a.gpkg zones FILE</code> &lt;script&gt;"   # escaped, inert
    colours = zone_colours(25)
    assert colours.shape == (25, 4) and (colours[20] == colours[0]).all() and len({tuple(c) for c in colours[:20]}) == 20
