"""Printable patrol maps: real Chinese text in the PDF, one page per zone, PNG size per paper."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import pypdf  # test extra (see the report)
import pytest
from shapely.geometry import LineString, Point, box

from civgis.render.fonts import RenderError, cjk_font
from civgis.render.printmaps import PAPER_IN, PrintMapError, render_patrol_maps
from civgis.store.workspace import Workspace


X0, Y0 = 39_500_000.0, 3_500_000.0
CRS = 4527
ZONES = [("Z01", "城关第一责任区", "一中队", "张伟", "13912345601"),
         ("Z02", "城关第二责任区", "二中队", "李娜", "13912345602"),
         ("Z03", "滨河责任区", "二中队", None, None)]


def build_ws(path) -> Workspace:
    """Three zones on a 1.2 km × 0.8 km town with a street grid, lamps, toilets and cases."""
    ws = Workspace.create(path, crs=CRS)
    ws.write("built_up", gpd.GeoDataFrame({"name": ["建成区"]}, geometry=[box(X0, Y0, X0 + 1200, Y0 + 800)], crs=CRS))
    geoms = [box(X0, Y0, X0 + 600, Y0 + 800), box(X0 + 600, Y0 + 400, X0 + 1200, Y0 + 800),
             box(X0 + 600, Y0, X0 + 1200, Y0 + 400)]
    ws.write("zones", gpd.GeoDataFrame({"zone_id": [z[0] for z in ZONES], "name": [z[1] for z in ZONES],
                                        "unit": [z[2] for z in ZONES], "staff": [z[3] for z in ZONES],
                                        "phone": [z[4] for z in ZONES]}, geometry=geoms, crs=CRS))
    names_x = ["人民路", "解放路", "建设路", "文化路", "和平街"]
    names_y = ["中山大道", "新华街", "学府路"]
    classes = ["arterial", "secondary", "branch", "commercial", "alley"]
    rows = []
    for i, x in enumerate(np.linspace(100, 1100, 5)):
        rows.append((f"V{i}", names_x[i], classes[i], LineString([(X0 + x, Y0 - 50), (X0 + x, Y0 + 850)])))
    for j, y in enumerate((150, 420, 680)):
        rows.append((f"H{j}", names_y[j], classes[j], LineString([(X0 - 50, Y0 + y), (X0 + 1250, Y0 + y)])))
    ws.write("roads", gpd.GeoDataFrame({"road_id": [r[0] for r in rows], "name": [r[1] for r in rows],
                                        "road_class": [r[2] for r in rows]}, geometry=[r[3] for r in rows], crs=CRS))
    rng = np.random.default_rng(3)
    xy = rng.uniform([0, 0], [1200, 800], size=(60, 2))
    ws.write("lamps", gpd.GeoDataFrame({"lamp_id": [f"L{i:03d}" for i in range(60)],
                                        "status": ["broken" if i % 7 == 0 else "working" for i in range(60)]},
                                       geometry=[Point(X0 + a, Y0 + c) for a, c in xy], crs=CRS))
    ws.write("toilets", gpd.GeoDataFrame({"toilet_id": ["T1", "T2", "T3"], "name": ["一号", "二号", "三号"]},
                                         geometry=[Point(X0 + 300, Y0 + 300), Point(X0 + 900, Y0 + 600),
                                                   Point(X0 + 950, Y0 + 200)], crs=CRS))
    ws.write("green", gpd.GeoDataFrame({"green_id": ["g1"], "category": ["G1"]},
                                       geometry=[box(X0 + 150, Y0 + 450, X0 + 330, Y0 + 640)], crs=CRS))
    ws.write("residential", gpd.GeoDataFrame({"res_id": ["r1"], "name": ["幸福小区"], "population": [800]},
                                             geometry=[box(X0 + 380, Y0 + 200, X0 + 560, Y0 + 380)], crs=CRS))
    ws.write("inspections", gpd.GeoDataFrame({
        "case_id": ["C1", "C2", "C3"], "category": ["0102", "0501", "0201"],
        "reported_at": pd.to_datetime(["2026-01-01"] * 3), "deadline": pd.to_datetime(["2026-01-03", "2099-01-01", "2026-01-03"]),
        "closed_at": pd.to_datetime([None, None, "2026-01-02"]), "status": ["open", "open", "closed"]},
        geometry=[Point(X0 + 250, Y0 + 200), Point(X0 + 450, Y0 + 700), Point(X0 + 500, Y0 + 100)], crs=CRS))
    return ws


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return build_ws(tmp_path_factory.mktemp("pm") / "town.gpkg")


def test_all_zones_pdf_map_then_checklist_with_chinese_text(ws, tmp_path):
    paths = render_patrol_maps(ws, None, tmp_path, fmt="pdf", paper="A4", progress=False, as_of="2026-06-01")
    assert [p.name for p in paths] == ["patrol_Z01.pdf", "patrol_Z02.pdf", "patrol_Z03.pdf", "patrol_maps.pdf"]
    book = pypdf.PdfReader(paths[-1])
    assert len(book.pages) == 6   # each zone: its map, then one checklist page (few rows)
    for k, (zid, name, unit, staff, phone) in enumerate(ZONES):
        text = book.pages[2 * k].extract_text()
        assert f"{name} 巡查责任区图" in text
        assert f"责任区编号 {zid}" in text and unit in text
        assert (staff or "未填写") in text and (phone or "未填写") in text
        assert "北" in text and "制图日期" in text and "故障路灯" in text and "公厕" in text
        checklist = book.pages[2 * k + 1].extract_text()
        assert f"{name} 巡查清单" in checklist and "第 1/1 页" in checklist
    single = pypdf.PdfReader(paths[0])
    assert len(single.pages) == 2
    text = single.pages[0].extract_text()
    for street in ("人民路", "解放路", "中山大道", "学府路"):  # streets crossing Z01 are named on its map
        assert street in text
    # Z01 = [0,600]×[0,800]: open cases C1 (deadline 2026-01-03: overdue) and C2 (due 2099); C3 closed
    assert "未结案件 2 件（超期 1）" in text
    # the embedded font is the CJK font, as TrueType (fonttype 42), not Type 3 glyph drawings
    fonts = {str(f["/BaseFont"]) for f in _fonts(single)}
    assert any("NotoSansCJK" in f for f in fonts), fonts


def test_combined_pdf_holds_the_per_zone_pages_unchanged(ws, tmp_path):
    """The combined PDF is the per-zone pages copied (drawn once), in zone order; a pool draws the same pages."""
    serial = render_patrol_maps(ws, None, tmp_path / "s", progress=False, as_of="2026-06-01", workers=1,
                                date=dt.date(2026, 6, 2))
    pooled = render_patrol_maps(ws, None, tmp_path / "p", progress=False, as_of="2026-06-01", workers=2,
                                date=dt.date(2026, 6, 2))
    per_zone = [pg.extract_text() for p in serial[:-1] for pg in pypdf.PdfReader(p).pages]
    assert [pg.extract_text() for pg in pypdf.PdfReader(serial[-1]).pages] == per_zone
    assert [pg.extract_text() for p in pooled[:-1] for pg in pypdf.PdfReader(p).pages] == per_zone
    assert [pg.extract_text() for pg in pypdf.PdfReader(pooled[-1]).pages] == per_zone


def _take_all(queue, out):
    out.put(list(queue))


def test_workers_take_each_zone_once_from_one_queue():
    """The zones go to whichever worker is free: four processes draining one queue take every zone once."""
    import multiprocessing as mp

    from civgis.render.printmaps import _ZoneQueue

    ctx = mp.get_context("fork")
    zones = [f"Z{i:03d}" for i in range(200)]
    queue, out = _ZoneQueue(zones, ctx.Array("i", 2)), ctx.Queue()
    procs = [ctx.Process(target=_take_all, args=(queue, out)) for _ in range(4)]
    for p in procs:
        p.start()
    taken = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert sorted(z for part in taken for z in part) == zones   # each exactly once
    assert all(part == sorted(part) for part in taken)           # a worker takes them in queue order
    assert queue.drawn == len(zones) and list(queue) == []


def test_combined_pdf_is_in_zone_order_whatever_order_the_workers_drew(ws, tmp_path, monkeypatch):
    """A worker's chunk holds the zones in the order it took them; the combined PDF and the per-zone files
    follow the zones' order all the same."""
    from civgis.render import printmaps

    expected = render_patrol_maps(ws, None, tmp_path / "a", progress=False, as_of="2026-06-01", workers=1,
                                  date=dt.date(2026, 6, 2))
    taken = printmaps._ZoneQueue.__iter__
    monkeypatch.setattr(printmaps._ZoneQueue, "__iter__", lambda self: reversed(list(taken(self))))
    reordered = render_patrol_maps(ws, None, tmp_path / "b", progress=False, as_of="2026-06-01", workers=1,
                                   date=dt.date(2026, 6, 2))
    assert [p.name for p in reordered] == [p.name for p in expected]
    text = lambda path: [pg.extract_text() for pg in pypdf.PdfReader(path).pages]
    for a, b in zip(expected, reordered):
        assert text(a) == text(b)
    assert "Z01" in text(reordered[-1])[0]


def test_pool_spawns_when_another_thread_is_alive(ws, tmp_path):
    """With a thread alive (a progress monitor, say) fork is unsafe: the pool spawns and registers the font subset."""
    import threading

    stop = threading.Event()
    t = threading.Thread(target=stop.wait, daemon=True)
    t.start()
    try:
        spawned = render_patrol_maps(ws, ["Z01", "Z02"], tmp_path / "sp", progress=False, as_of="2026-06-01",
                                     workers=2, date=dt.date(2026, 6, 2))
    finally:
        stop.set()
    serial = render_patrol_maps(ws, ["Z01", "Z02"], tmp_path / "se", progress=False, as_of="2026-06-01",
                                workers=1, date=dt.date(2026, 6, 2))
    assert [p.name for p in spawned] == ["patrol_Z01.pdf", "patrol_Z02.pdf"]
    for a, b in zip(spawned, serial):
        assert [pg.extract_text() for pg in pypdf.PdfReader(a).pages] == \
               [pg.extract_text() for pg in pypdf.PdfReader(b).pages]
        fonts = [str(f["/BaseFont"]) for f in _fonts(pypdf.PdfReader(a))]
        assert all("NotoSansCJK" in f and "civgis" in f for f in fonts), fonts   # the run's one subset


def _independent_checklist(ws, as_of: str):
    """Per zone: open case ids (state at as_of, smallest zone id in an overlap) and broken lamp ids, by geopandas."""
    T = pd.Timestamp(as_of) + pd.Timedelta(days=1)   # a date means the end of that day
    zones = ws.read("zones")[["zone_id", "geometry"]]
    cases = ws.read("inspections")
    closed_by_T = (cases["status"] == "closed") & (pd.to_datetime(cases["closed_at"]) < T)
    open_ = cases[(pd.to_datetime(cases["reported_at"]) < T) & ~closed_by_T]
    joined = gpd.sjoin(open_, zones, predicate="intersects").groupby("case_id")["zone_id"].min()
    lamps = ws.read("lamps")
    broken = gpd.sjoin(lamps[lamps["status"] == "broken"], zones, predicate="intersects")
    return ({z: set(joined[joined == z].index) for z in zones["zone_id"]},
            {z: set(broken.loc[broken["zone_id"] == z, "lamp_id"]) for z in zones["zone_id"]})


def test_checklist_lists_exactly_the_open_cases_and_broken_lamps_of_each_zone(ws, tmp_path):
    cases_by_zone, lamps_by_zone = _independent_checklist(ws, "2026-06-01")
    assert sum(map(len, lamps_by_zone.values())) >= 6 and cases_by_zone["Z01"] == {"C1", "C2"}
    paths = render_patrol_maps(ws, None, tmp_path, progress=False, as_of="2026-06-01", combined=False)
    roads = ws.read("roads")
    lamps = ws.read("lamps").set_index("lamp_id")
    for (zid, *_), path in zip(ZONES, paths):
        text = "\n".join(pg.extract_text() for pg in pypdf.PdfReader(path).pages[1:])
        assert set(re.findall(r"\bC\d+\b", text)) == cases_by_zone[zid]
        assert set(re.findall(r"\bL\d{3}\b", text)) == lamps_by_zone[zid]
        assert f"未结案件 {len(cases_by_zone[zid])} 件" in text and f"故障路灯 {len(lamps_by_zone[zid])} 盏" in text
        for lid in lamps_by_zone[zid]:   # nearest named street by brute force over every road
            d = roads.distance(lamps.loc[lid, "geometry"])
            line = next(li for li in text.splitlines() if lid in li)
            assert f"{roads.loc[d.idxmin(), 'name']}（约 {d.min():.0f} 米）" in line, line
    z01 = "\n".join(pg.extract_text() for pg in pypdf.PdfReader(paths[0]).pages[1:])
    c1 = next(li for li in z01.splitlines() if "C1" in li)
    # C1 at (250, 200): 50 m from 中山大道 (y = 150); deadline 2026-01-03 00:00, as_of the end of 2026-06-01
    assert "中山大道（约 50 米）" in c1 and "2026-01-03" in c1 and "超期 150.0 天" in c1, c1
    c2 = next(li for li in z01.splitlines() if "C2" in li)
    assert "期限内" in c2 and "2099-01-01" in c2
    assert "C3" not in z01   # closed on 2026-01-02


def test_checklist_paginates_with_the_header_repeated(ws, tmp_path):
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    from civgis.render.printmaps import _Layers, draw_checklist_pages

    layers = _Layers(ws, "2026-06-01")
    zone = layers.zones.iloc[0]
    figs = draw_checklist_pages(lambda s: Figure(figsize=s), layers, zone, rows_per_page=3)
    with PdfPages(tmp_path / "c.pdf") as pdf:
        for f in figs:
            pdf.savefig(f)
    pages = [pg.extract_text() for pg in pypdf.PdfReader(tmp_path / "c.pdf").pages]
    _, lamps_by_zone = _independent_checklist(ws, "2026-06-01")
    # lines: 2 sections + 2 headers + 2 case rows + 1 gap + lamp rows, 3 per page, headers repeated on
    # a page that continues a table
    assert len(pages) >= 3
    ids = re.findall(r"\b(?:C\d+|L\d{3})\b", "\n".join(pages))
    assert sorted(ids) == sorted({"C1", "C2"} | lamps_by_zone["Z01"])   # every id once
    for k, text in enumerate(pages, start=1):
        assert f"第 {k}/{len(pages)} 页" in text
        if re.search(r"\bL\d{3}\b", text):
            assert "路灯编号" in text
        if re.search(r"\bC\d\b", text):
            assert "案件编号" in text
    assert "（续）" in pages[1]


def test_legend_lists_every_drawn_layer(ws, tmp_path):
    from matplotlib.figure import Figure

    from civgis.render.printmaps import _Layers, draw_patrol_map

    layers = _Layers(ws, "2026-06-01")
    labels = draw_patrol_map(Figure(figsize=PAPER_IN["A4"]), layers, layers.zones.iloc[0], as_of="2026-06-01")
    # Z01's view (x ≈ −70 … 670 m): the roads at x = 100, 350, 600 and y = 150, 420, 680 — arterial,
    # secondary, branch; not the commercial street (x = 850) nor the alley (x = 1100), so neither is in
    # the legend. Green, residential, built-up, both lamp states, a toilet, an open and an overdue case.
    assert set(labels) == {"本责任区", "相邻责任区", "居住用地", "绿地", "建成区范围", "主干道", "次干道", "支路",
                           "路灯（正常）", "故障路灯", "公厕", "未结案件", "超期案件"}
    (pdf,) = render_patrol_maps(ws, ["Z01"], tmp_path, progress=False, as_of="2026-06-01", checklist=False)
    text = pypdf.PdfReader(pdf).pages[0].extract_text()
    assert all(label in text for label in labels)


def _fonts(reader):
    res = reader.pages[0]["/Resources"]["/Font"]
    return [res[k].get_object() for k in res]


def test_counts_in_title_block(ws, tmp_path):
    (p,) = render_patrol_maps(ws, ["Z01"], tmp_path, fmt="pdf", progress=False, as_of="2026-06-01", checklist=False)
    text = pypdf.PdfReader(p).pages[0].extract_text()
    # Z01 = [0,600]×[0,800]: open cases C1 (overdue) and C2 (not yet due); C3 is closed
    assert "未结案件 2 件（超期 1）" in text
    assert "公厕 1 座" in text


def test_png_per_paper_size_and_orientation(ws, tmp_path):
    a4, a4_list = render_patrol_maps(ws, "Z01", tmp_path, fmt="png", paper="A4", progress=False, dpi=60)
    (a3,) = render_patrol_maps(ws, ["Z02"], tmp_path / "a3", fmt="png", paper="A3", progress=False, dpi=60,
                               checklist=False)
    assert a4_list.name == "patrol_Z01_checklist1.png"
    from PIL import Image

    w, h = Image.open(a4).size
    assert (w, h) == (round(PAPER_IN["A4"][0] * 60), round(PAPER_IN["A4"][1] * 60))  # Z01 is taller than wide
    w, h = Image.open(a3).size
    assert (w, h) == (round(PAPER_IN["A3"][1] * 60), round(PAPER_IN["A3"][0] * 60))  # Z02 is wide: landscape
    w, h = Image.open(a4_list).size
    assert (w, h) == (round(PAPER_IN["A4"][0] * 60), round(PAPER_IN["A4"][1] * 60))  # checklists: A4 portrait


def test_bad_requests_fail_clearly(ws, tmp_path):
    with pytest.raises(PrintMapError, match="Z99"):
        render_patrol_maps(ws, ["Z99"], tmp_path, progress=False)
    with pytest.raises(PrintMapError, match="A5"):
        render_patrol_maps(ws, ["Z01"], tmp_path, paper="A5", progress=False)
    with pytest.raises(RenderError, match="fonts-noto-cjk"):
        cjk_font("No Such Font CJK")
    assert cjk_font().get_family() == ["Noto Sans CJK SC"]


def test_cli_maps_all(ws, tmp_path):
    out = tmp_path / "maps"
    r = subprocess.run([sys.executable, "-m", "civgis", "maps", str(ws.path), "--all", "--format", "pdf",
                        "--out", str(out)], capture_output=True, text=True, env={**os.environ, "CIVGIS_PROGRESS": "0"})
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["patrol_Z01.pdf", "patrol_Z02.pdf", "patrol_Z03.pdf",
                                                      "patrol_maps.pdf"]
    r = subprocess.run([sys.executable, "-m", "civgis", "maps", str(ws.path), "--zone", "Z77", "--out", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "Z77" in r.stderr


def _page_pixels(fill, family) -> np.ndarray:
    """Agg pixels of an A4 figure at 60 dpi after ``fill(fig)``, in the CJK rc."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from civgis.render.fonts import cjk_rc

    with matplotlib.rc_context(cjk_rc(family)):
        fig = Figure(figsize=PAPER_IN["A4"], dpi=60)
        FigureCanvasAgg(fig)
        fill(fig)
        fig.canvas.draw()
        return np.asarray(fig.canvas.buffer_rgba()).copy()


def test_page_text_draws_each_string_where_fig_text_would(tmp_path):
    """PageText (the checklist's one text artist) puts every string where ``fig.text`` puts it — top and
    baseline, left and right, bold and regular, CJK and Latin with a descender — and keeps their order in the PDF."""
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    from civgis.render.printmaps import PageText

    fp, fpb = cjk_font(), cjk_font(weight="bold")
    cells = [(0.07, 0.955, "城关第一责任区 巡查清单", fpb, 18, "left", "top", "black"),
             (0.07, 0.80, "AJ202412130015", fp, 8.3, "left", "top", "#b71c1c"),
             (0.30, 0.80, "人民路（约 12 米）", fp, 7.1, "left", "top", "black"),
             (0.55, 0.80, "gypsy qjp", fp, 8.3, "left", "top", "black"),
             (0.07, 0.035, "制图日期 2026-06-02", fp, 8, "left", "baseline", "#424242"),
             (0.93, 0.035, "第 1/2 页", fp, 8, "right", "baseline", "#424242")]

    def with_page_text(fig):
        text = PageText()
        for x, y, s, prop, size, ha, va, color in cells:
            text.add(x, y, s, prop, size, ha=ha, va=va, color=color)
        fig.add_artist(text)

    def with_fig_text(fig):
        for x, y, s, prop, size, ha, va, color in cells:
            fig.text(x, y, s, fontproperties=prop, fontsize=size, ha=ha, va=va, color=color)

    ours, theirs = _page_pixels(with_page_text, fp.get_family()[0]), _page_pixels(with_fig_text, fp.get_family()[0])
    assert (ours[..., :3] < 128).sum() > 2000   # the strings were drawn
    assert np.array_equal(ours, theirs)

    fig = Figure(figsize=PAPER_IN["A4"])
    with_page_text(fig)
    with PdfPages(tmp_path / "t.pdf") as pdf:
        pdf.savefig(fig)
    text = pypdf.PdfReader(tmp_path / "t.pdf").pages[0].extract_text()
    positions = [text.index(c[2]) for c in cells]
    assert positions == sorted(positions)   # drawn in the order added
    with pytest.raises(ValueError):
        PageText().add(0, 0, "x", fp, 8, va="center")


def test_page_text_writes_into_a_pdf_what_fig_text_writes(tmp_path, monkeypatch):
    """In a PDF, PageText writes its strings itself (one shaping per string and file, no draw_text) — and the
    page is the one ``fig.text`` makes: the same pixels through poppler, the same text at the same positions,
    the glyphs of every string in the embedded subset. A mathtext string still goes through draw_text."""
    import matplotlib
    from matplotlib.backends import backend_pdf
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    from civgis.render.fonts import cjk_rc
    from civgis.render.printmaps import PageText

    fp, fpb = cjk_font(), cjk_font(weight="bold")
    cells = [(0.07, 0.955, "城关第一责任区 巡查清单", fpb, 18, "left", "top", "black"),
             (0.07, 0.80, "AJ202412130015", fp, 8.3, "left", "top", "#b71c1c"),
             (0.30, 0.80, "人民路（约 12 米）", fp, 7.1, "left", "top", "black"),
             (0.55, 0.80, "gypsy qjp AV Wa", fp, 8.3, "left", "top", "black"),
             (0.07, 0.70, "AJ202412130015", fp, 8.3, "left", "top", "#b71c1c"),   # the same string again
             (0.30, 0.70, "超期 3.5 天 □", fpb, 9.5, "left", "baseline", "#b71c1c"),
             (0.55, 0.70, "面积 $x^2$", fp, 9.5, "left", "baseline", "black"),      # mathtext: draw_text
             (0.07, 0.035, "制图日期 2026-06-02", fp, 8, "left", "baseline", "#424242"),
             (0.93, 0.035, "第 1/2 页", fp, 8, "right", "baseline", "#424242")]
    family = fp.get_family()[0]

    def write(path, with_page_text):
        fig = Figure(figsize=PAPER_IN["A4"])
        if with_page_text:
            text = PageText()
            for x, y, s, prop, size, ha, va, color in cells:
                text.add(x, y, s, prop, size, ha=ha, va=va, color=color)
            fig.add_artist(text)
        else:
            for x, y, s, prop, size, ha, va, color in cells:
                fig.text(x, y, s, fontproperties=prop, fontsize=size, ha=ha, va=va, color=color)
        with matplotlib.rc_context(cjk_rc(family)), PdfPages(path) as pdf:
            pdf.savefig(fig)

    calls = []
    draw_text = backend_pdf.RendererPdf.draw_text
    monkeypatch.setattr(backend_pdf.RendererPdf, "draw_text", lambda self, gc, x, y, s, *a, **k:
                        calls.append(s) or draw_text(self, gc, x, y, s, *a, **k))
    import gc

    from civgis.render.printmaps import _PdfText

    gc.collect()
    held = len(_PdfText._FILES)
    write(tmp_path / "ours.pdf", True)
    assert calls == ["面积 $x^2$"]   # every other string was written without draw_text
    gc.collect()
    assert len(_PdfText._FILES) <= held   # the per-file caches went with the file
    write(tmp_path / "theirs.pdf", False)

    def placed(path):
        out = []
        pypdf.PdfReader(path).pages[0].extract_text(visitor_text=lambda t, cm, tm, font, size: t.strip() and out.append(
            (t, round(cm[4] + tm[4] * cm[0], 6), round(cm[5] + tm[5] * cm[3], 6))))
        return out

    ours, theirs = placed(tmp_path / "ours.pdf"), placed(tmp_path / "theirs.pdf")
    assert [t for t, *_ in ours] == [t for t, *_ in theirs] and len(ours) >= len(cells)
    np.testing.assert_allclose([xy for _, *xy in ours], [xy for _, *xy in theirs], atol=1e-6)

    def pixels(path):
        subprocess.run(["pdftoppm", "-r", "110", "-png", "-singlefile", str(path), str(path.with_suffix(""))],
                       check=True)
        import matplotlib.image as mimg
        return mimg.imread(path.with_suffix(".png"))

    ours_px, theirs_px = pixels(tmp_path / "ours.pdf"), pixels(tmp_path / "theirs.pdf")
    assert (ours_px[..., :3] < 0.5).sum() > 2000   # the strings were drawn (with glyphs from the subset)
    assert np.array_equal(ours_px, theirs_px)


def test_patrol_pages_through_the_text_canvas_equal_matplotlibs_own(ws, tmp_path, monkeypatch):
    """The patrol PDF's canvas (text shaped and measured once per file, rotated street names included) writes
    the pages matplotlib's own PDF canvas writes: the same pixels through poppler and the same text, with
    no string left to RendererPdf.draw_text."""
    import matplotlib
    from matplotlib.backends import backend_pdf
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    from civgis.render.fonts import cjk_rc
    from civgis.render.printmaps import _Layers, _pdf_canvas_class, draw_checklist_pages, draw_patrol_map

    layers = _Layers(ws, "2026-06-01")

    def pages():
        out = []
        for k in range(len(layers.zones)):
            fig = Figure(figsize=PAPER_IN["A4"][::-1])
            draw_patrol_map(fig, layers, layers.zones.iloc[k], date=dt.date(2026, 6, 2))
            out += [fig, *draw_checklist_pages(lambda size: Figure(figsize=size), layers, layers.zones.iloc[k],
                                               date=dt.date(2026, 6, 2))]
        return out

    family = cjk_font().get_family()[0]
    with matplotlib.rc_context(cjk_rc(family)), PdfPages(tmp_path / "theirs.pdf") as pdf:
        for page in pages():
            pdf.savefig(page)
    calls = []
    draw_text = backend_pdf.RendererPdf.draw_text
    monkeypatch.setattr(backend_pdf.RendererPdf, "draw_text", lambda self, gc, x, y, s, *a, **k:
                        calls.append(s) or draw_text(self, gc, x, y, s, *a, **k))
    canvas_class = _pdf_canvas_class()
    with matplotlib.rc_context(cjk_rc(family)), PdfPages(tmp_path / "ours.pdf") as pdf:
        for page in pages():
            canvas_class(page)
            page.savefig(pdf, format="pdf")
    assert calls == []
    ours, theirs = pypdf.PdfReader(tmp_path / "ours.pdf"), pypdf.PdfReader(tmp_path / "theirs.pdf")
    assert len(ours.pages) == len(theirs.pages) >= 6
    assert [p.extract_text() for p in ours.pages] == [p.extract_text() for p in theirs.pages]
    assert "巡查责任区图" in ours.pages[0].extract_text() and "人民路" in ours.pages[0].extract_text()
    for name in ("ours", "theirs"):
        subprocess.run(["pdftoppm", "-r", "50", "-png", str(tmp_path / f"{name}.pdf"), str(tmp_path / name)],
                       check=True, capture_output=True)
    import matplotlib.image as mimg
    rasters = {name: sorted(tmp_path.glob(f"{name}-*.png")) for name in ("ours", "theirs")}
    assert len(rasters["ours"]) == len(rasters["theirs"]) == len(ours.pages)
    for k, (a, b) in enumerate(zip(rasters["ours"], rasters["theirs"]), start=1):
        assert np.array_equal(mimg.imread(a), mimg.imread(b)), f"page {k}"


def test_pdf_repr_is_matplotlibs_pdfrepr_for_every_kind_of_value():
    """The patrol PDFs write their operators through ``_pdf_repr``: for every kind of value a page holds it gives
    matplotlib's ``pdfRepr`` bytes (floats of every size and sign, integers, strings to escape, arrays long
    enough to wrap, names, operators, and what it hands to pdfRepr itself), and refuses what pdfRepr refuses."""
    from matplotlib.backends.backend_pdf import Name, Op, pdfRepr

    from civgis.render.printmaps import _pdf_repr

    rng = np.random.default_rng(7)
    floats = [0.0, -0.0, 1.0, -1.0, 0.5, 1e-11, -4e-11, 1e-10, 123456789.123456789, 1e15, -2.5e12, 72.0, 1 / 3]
    floats += list(rng.normal(0, 500, 200)) + list(rng.uniform(-1, 1, 100) * 10.0 ** rng.integers(-12, 12, 100))
    values = floats + [np.float64(v) for v in floats[:50]] + [np.float32(1.1), np.int64(3), True, False, None]
    values += [0, 7, -12, 2 ** 40, b"", b"(a)", b"back\\slash", b"line\nbreak\r", bytes(range(256)), "AJ0015", "巡查"]
    values += [Name("M0"), Op.concat_matrix, Op.use_xobject, [1.5, b"\x01(", -2.0, [3, 4.25]], (0, 1.0, b"x"),
               list(rng.normal(0, 1000, 40)), {"Type": Name("XObject"), "BBox": [0, 0, 1.5, 2]}]
    for value in values:
        assert _pdf_repr(value) == pdfRepr(value), repr(value)
    for bad in (float("nan"), float("inf"), np.float64("-inf")):
        with pytest.raises(ValueError):
            pdfRepr(bad)
        with pytest.raises(ValueError):
            _pdf_repr(bad)


def test_patrol_pdf_operators_written_fast_are_those_matplotlib_writes(ws, tmp_path):
    """With ``fast_output`` the patrol PDF canvas writes its operators through ``_pdf_repr`` and its markers
    (lamps, toilets, cases) in one batch; the pages' content streams are byte for byte those of the same
    canvas writing through matplotlib's own ``PdfFile.output`` and ``RendererPdf.draw_markers``."""
    import matplotlib
    import pikepdf
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    from civgis.render.fonts import cjk_rc
    from civgis.render.printmaps import _Layers, _pdf_canvas_class, draw_checklist_pages, draw_patrol_map

    layers = _Layers(ws, "2026-06-01")
    family = cjk_font().get_family()[0]
    streams = {}
    for fast in (True, False):
        canvas_class = _pdf_canvas_class(fast_output=fast)
        with matplotlib.rc_context(cjk_rc(family)), PdfPages(tmp_path / f"{fast}.pdf") as pdf:
            for k in range(len(layers.zones)):
                fig = Figure(figsize=PAPER_IN["A4"][::-1])
                draw_patrol_map(fig, layers, layers.zones.iloc[k], date=dt.date(2026, 6, 2))
                for page in [fig, *draw_checklist_pages(lambda size: Figure(figsize=size), layers,
                                                        layers.zones.iloc[k], date=dt.date(2026, 6, 2))]:
                    canvas_class(page)
                    page.savefig(pdf, format="pdf")
        with pikepdf.open(tmp_path / f"{fast}.pdf") as book:
            streams[fast] = [page.Contents.read_bytes() for page in book.pages]
    assert len(streams[True]) == len(streams[False]) >= 6
    assert streams[True] == streams[False]
    assert sum(s.count(b" cm /M") for s in streams[True]) > 50   # the markers, drawn as XObjects


@pytest.mark.parametrize("n_handles, ncol", [(13, 7), (5, 5), (3, 7), (8, 3)])
def test_row_legend_places_its_entries_where_fig_legend_does(n_handles, ncol):
    """RowLegend (the patrol map's one-pass legend) puts each label where matplotlib's ``fig.legend`` with the
    same settings puts it — columns as numpy.array_split makes them, shorter columns top-aligned — and draws the
    same pixels (handles: patch, dashed line, marker)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from civgis.render.fonts import cjk_rc
    from civgis.render.printmaps import RowLegend

    fp = cjk_font()
    label_fp = fp.copy()
    label_fp.set_size(7.9)
    names = ["本责任区", "相邻责任区", "居住用地", "绿地", "建成区范围", "主干道", "次干道", "支路", "背街小巷",
             "路灯（正常）", "故障路灯", "公厕", "超期案件"]
    makers = [lambda n: Patch(facecolor="#6fa8ff", alpha=0.5, edgecolor="#1f5fbf", linewidth=1.5, label=n),
              lambda n: Line2D([], [], color="#9e9e9e", linestyle="--", linewidth=0.8, label=n),
              lambda n: Line2D([], [], linestyle="", marker="X", markersize=7, color="#c62828", label=n)]
    handles = [makers[i % 3](names[i]) for i in range(n_handles)]
    anchor = (0.5, 0.05)
    with matplotlib.rc_context(cjk_rc(fp.get_family()[0])):
        theirs_fig = Figure(figsize=PAPER_IN["A4"][::-1], dpi=100)
        FigureCanvasAgg(theirs_fig)
        legend = theirs_fig.legend(handles=handles, loc="lower center", bbox_to_anchor=anchor, ncol=ncol, prop=fp.copy(),
                                   frameon=False, handlelength=2.2, columnspacing=1.2)
        for text in legend.get_texts():
            text.set_fontsize(7.9)
        theirs_fig.canvas.draw()
        theirs = [(t.get_text(), *t.get_transform().transform(t.get_position())) for t in legend.get_texts()]

        ours_fig = Figure(figsize=PAPER_IN["A4"][::-1], dpi=100)
        FigureCanvasAgg(ours_fig)
        row = RowLegend(handles, label_fp, fp.get_size_in_points(), anchor, ncol=ncol, handlelength=2.2,
                        columnspacing=1.2)
        ours_fig.add_artist(row)
        ours_fig.canvas.draw()
    assert row.get_texts() == [t for t, *_ in theirs] == names[:n_handles]
    assert [t for t, *_ in row.placed] == names[:n_handles]
    np.testing.assert_allclose([xy for _, *xy in row.placed], [xy for _, *xy in theirs], atol=1e-6)
    ours_px, theirs_px = (np.asarray(f.canvas.buffer_rgba())[..., :3].astype(int) for f in (ours_fig, theirs_fig))
    assert (ours_px < 128).all(axis=2).sum() > 100 * n_handles   # handles and labels were drawn
    assert np.array_equal(ours_px, theirs_px)         # the same page, handles included


def test_font_subset_is_kept_and_reused_by_a_later_run(tmp_path, monkeypatch):
    """The subset fonts go to the cache folder once; a later run (fresh process state) registers them without
    subsetting again, and they hold the glyphs of the text asked for."""
    from fontTools import ttLib

    from civgis.render import fonts

    monkeypatch.setenv("CIVGIS_FONT_DIR", str(tmp_path / "fonts"))
    text = f"巡查缓存测试 {tmp_path.name}"
    family = fonts.subset_cjk_family(text)
    files = sorted((tmp_path / "fonts").glob("cjk-*.ttf"))
    assert family != fonts.CJK_FAMILY and [f.name.rsplit("-", 1)[1] for f in files] == ["bold.ttf", "normal.ttf"]
    subset_font = ttLib.TTFont(files[1])
    cmap = subset_font["cmap"].getBestCmap()
    assert set(map(ord, text)) <= set(cmap) and len(cmap) < 200   # the asked-for characters, not the 20 MB face
    assert "glyf" in subset_font and "CFF " not in subset_font   # TrueType outlines, as FontFile2 must hold

    for key in [k for k, v in fonts._SUBSET_DONE.items() if v == family]:
        del fonts._SUBSET_DONE[key]   # as a new process would start
    fonts._SUBSET_FILES.pop(family)

    def no_subsetting(*args, **kw):
        raise AssertionError("subset again")

    monkeypatch.setattr(fonts, "_write_subset", no_subsetting)
    assert fonts.subset_cjk_family(text) == family   # from the cache (a failure would give the original family)
    assert sorted(fonts.subset_font_files(family)) == sorted(map(str, files))


def test_patrol_pdf_embeds_truetype_outlines_with_the_source_glyph_shapes(ws, tmp_path, monkeypatch):
    """The patrol PDF's fonts are CIDFontType2 with FontFile2, which must hold TrueType: the subset of the CFF
    Noto face is converted, poppler reads it without a font-type warning, and each glyph keeps its shape —
    its outline's box within 2 font units of the source face's and its advance width unchanged."""
    import pikepdf
    from fontTools import ttLib
    from matplotlib import font_manager as fm

    from civgis.render import fonts

    monkeypatch.setenv("CIVGIS_FONT_DIR", str(tmp_path / "fonts"))
    (pdf,) = render_patrol_maps(ws, ["Z01"], tmp_path / "out", progress=False, as_of="2026-06-01", checklist=False)
    with pikepdf.open(pdf) as doc:
        descendants = [d for f in doc.pages[0].Resources.Font.values() for d in f.get("/DescendantFonts", [])]
        assert descendants and all(d.Subtype == "/CIDFontType2" for d in descendants)
        embedded = [bytes(d.FontDescriptor.FontFile2.read_bytes()[:4]) for d in descendants]
    assert all(head in (b"\x00\x01\x00\x00", b"true") for head in embedded), embedded   # not b"OTTO" (CFF)
    r = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True)
    assert "Mismatch" not in r.stderr and "巡查责任区图" in r.stdout

    from civgis.render.printmaps import _Layers, _map_text

    layers = _Layers(ws, "2026-06-01")
    family = fonts.subset_cjk_family(_map_text(layers, ["Z01"]))   # the subset the PDF was drawn with
    (subset_path,) = [p for p in fonts.subset_font_files(family) if p.endswith("-normal.ttf")]
    source_path = fm.findfont(cjk_font(), fallback_to_default=False)
    index = 0
    if source_path.lower().endswith((".ttc", ".otc")):
        names = [f["name"].getBestFamilyName() for f in ttLib.TTCollection(source_path, lazy=True).fonts]
        index = names.index(fonts.CJK_FAMILY)
    ours, source = ttLib.TTFont(subset_path), ttLib.TTFont(source_path, fontNumber=index, lazy=True)
    ours_set, source_set = ours.getGlyphSet(), source.getGlyphSet()
    from fontTools.pens.boundsPen import BoundsPen
    checked = 0
    for code, name in ours["cmap"].getBestCmap().items():
        source_name = source["cmap"].getBestCmap()[code]
        assert ours["hmtx"][name][0] == source["hmtx"][source_name][0]
        a, b = BoundsPen(ours_set), BoundsPen(source_set)
        ours_set[name].draw(a)
        source_set[source_name].draw(b)
        if b.bounds is not None:
            assert np.allclose(a.bounds, b.bounds, atol=2), (chr(code), a.bounds, b.bounds)
            checked += 1
    assert checked > 50


def test_a_subset_in_use_is_not_pruned_and_a_removed_one_is_made_again(tmp_path, monkeypatch):
    # the report's test session makes more than FONT_CACHE_KEEP subsets; the first run's font must survive
    # (its workers register it by path), and a file removed by hand is written again, not assumed
    import os
    import time

    from civgis.render import fonts

    monkeypatch.setenv("CIVGIS_FONT_DIR", str(tmp_path / "fonts"))
    first = fonts.subset_cjk_family(f"首个字体 {tmp_path.name}")
    first_files = fonts.subset_font_files(first)
    for k in range(fonts.FONT_CACHE_KEEP + 2):   # more subsets than the cache keeps
        fonts.subset_cjk_family(f"其他字体{k} {tmp_path.name}")
    assert all(os.path.exists(f) for f in first_files)       # used a moment ago: kept
    old = time.time() - 2 * fonts.FONT_CACHE_MAX_AGE_S
    for f in first_files:
        os.utime(f, (old, old))                              # unused for two days
    fonts.subset_cjk_family(f"最后字体 {tmp_path.name}")          # the next write prunes
    assert not any(os.path.exists(f) for f in first_files)
    assert fonts.subset_cjk_family(f"首个字体 {tmp_path.name}") == first   # asked again: made again
    assert all(os.path.exists(f) for f in fonts.subset_font_files(first))


def test_pdf_text_font_lookup_once_is_the_renderers_font_at_the_asked_size():
    """``_PdfText._font`` is ``RendererPdf._get_font_ttf``'s font (the same FT2Font) set to the asked size again,
    even after other text set another size on it; the lookup is kept per file."""
    import io

    from matplotlib.backends.backend_pdf import PdfFile, RendererPdf

    from civgis.render.fonts import cjk_font
    from civgis.render.printmaps import _PdfText

    renderer = RendererPdf(PdfFile(io.BytesIO()), 72, 8.27, 11.69)
    small, large = cjk_font(), cjk_font()
    small.set_size(7.5)
    large.set_size(12.0)
    text = _PdfText(renderer)

    def width(font, s="巡查 AJ0015"):
        font.set_text(s)
        return font.get_width_height()[0]

    first = text._font(small)
    expected = width(renderer._get_font_ttf(small))
    assert first is renderer._get_font_ttf(small) and width(text._font(small)) == expected
    renderer._get_font_ttf(large)            # the renderer's own text sets another size on the shared font
    assert width(text._font(small)) == expected
    assert width(text._font(large)) > expected
    assert _PdfText(renderer)._fonts is text._fonts   # one lookup per PDF file


def test_pdf_text_height_metrics_are_what_text_layout_finds_without_them(monkeypatch):
    """The patrol PDFs' renderer answers ``_get_font_height_metrics`` (ascent, descent, line gap) from a per-file
    cache; ``Text._get_layout`` lays out every text as it does when the renderer has no answer (its own font
    table lookup), single lines and multi-line ones (which use the line gap), for several fonts and sizes."""
    import io

    import matplotlib as mpl
    from matplotlib.backends.backend_pdf import PdfFile, RendererPdf
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.text import Text

    from civgis.render.fonts import cjk_font
    from civgis.render.printmaps import _font_height_metrics, _text_renderer_pdf_class

    props = [cjk_font(), cjk_font(weight="bold"), FontProperties(family="DejaVu Sans")]
    texts = [("巡查 AJ0015", "Ag", "北城街道\n第一责任区")] * 2 + [("AJ0015 Ag", "Ag", "line one\nline two")]
    monkeypatch.setitem(mpl.rcParams, "pdf.fonttype", 42)   # as the patrol PDFs embed their fonts
    renderer = _text_renderer_pdf_class()(PdfFile(io.BytesIO()), 72, 8.27, 11.69)
    assert renderer._text is not None
    plain = RendererPdf(PdfFile(io.BytesIO()), 72, 8.27, 11.69)   # TrueType: no answer, Text looks them up itself
    assert plain._get_font_height_metrics(props[0]) == (None, None, None)
    fig = Figure(figsize=(8.27, 11.69), dpi=72)
    lookups = []
    for prop, strings in zip(props, texts):
        for size in (6.0, 7.875, 18.0):
            p = prop.copy()
            p.set_size(size)
            for s in strings:
                def layout(on):
                    bbox, lines, descent = Text(0, 0, s, fontproperties=p, figure=fig)._get_layout(on)
                    return bbox.bounds, lines, descent
                assert layout(renderer) == layout(plain)
            lookups.append(renderer._get_font_height_metrics(p))
            ascent, descent, gap = lookups[-1]
            assert ascent > 0 and descent > 0 and gap >= 0 and _font_height_metrics(p, 72) == lookups[-1]
    assert len(renderer._text.heights) == len(props) * 3   # found once per properties in this file
    assert lookups[0][0] * 3 == pytest.approx(lookups[2][0])   # scaled with the size (6 → 18 pt)


def test_pdf_text_asks_the_character_tracker_once_per_glyph_and_writes_its_answers(monkeypatch):
    """``_PdfText`` keeps the file's ``track_glyph`` answers (subset, code) per glyph: a string of glyphs already
    shaped asks nothing more, and the operators are those written from the tracker's own answers."""
    import io

    from matplotlib.backends import _backend_pdf_ps
    from matplotlib.backends.backend_pdf import PdfFile, RendererPdf
    from matplotlib.text import Text

    from civgis.render.fonts import cjk_font
    from civgis.render.printmaps import _PdfText

    asked = []
    track = _backend_pdf_ps.CharacterTracker.track_glyph
    monkeypatch.setattr(_backend_pdf_ps.CharacterTracker, "track_glyph",
                        lambda self, font, chars, glyph: asked.append((chars, glyph)) or track(self, font, chars, glyph))
    fp = cjk_font()
    fp.set_size(8.0)
    renderer = RendererPdf(PdfFile(io.BytesIO()), 72, 8.27, 11.69)
    text = _PdfText(renderer)
    template = Text()
    first, _ = text.shaped("巡查路段 AJ15", fp, template)
    n_first = len(asked)
    assert n_first == len(set(asked)) == len(set("巡查路段 AJ15"))
    again, _ = text.shaped("路段巡查 巡查", fp, template)   # glyphs already asked (ideographs do not change with context)
    assert len(asked) == n_first and again != first
    # what the tracker itself answers for those glyphs is what the cache gave
    fresh = RendererPdf(PdfFile(io.BytesIO()), 72, 8.27, 11.69)
    monkeypatch.setattr(_PdfText, "_track", lambda self, item: self.file._character_tracker.track_glyph(
        item.ft_object, item.char, item.glyph_index))
    reference = _PdfText(fresh)
    assert reference.shaped("巡查路段 AJ15", fp, template)[0] == first
    assert reference.shaped("路段巡查 巡查", fp, template)[0] == again


def test_page_subsets_as_arrays_are_the_geodataframe_rows_meeting_the_view(ws):
    """``_Layers.near`` (arrays) takes the rows ``mapcontext.within`` (GeoDataFrame) takes, in order, with
    the columns the page reads; a case outside every zone is in no zone."""
    import shapely

    from civgis.render.mapcontext import within
    from civgis.render.printmaps import _Layers

    layers = _Layers(ws, "2026-06-01")
    outside = layers.open_cases.iloc[:1].copy()
    outside["zone_id"] = pd.NA
    layers.open_cases = pd.concat([layers.open_cases, outside], ignore_index=True)
    layers.indexed = layers._indexed()
    for view in [(X0 - 10, Y0 - 10, X0 + 300, Y0 + 300), (X0 + 500, Y0 + 350, X0 + 1300, Y0 + 900),
                 (X0 + 5000, Y0, X0 + 6000, Y0 + 100)]:
        for name in ("zones", "residential", "green", "built_up", "lamps", "toilets", "open_cases"):
            frame, arrays = within(getattr(layers, name), view), layers.near(name, view)
            if frame is None:
                assert arrays is None
                continue
            assert shapely.equals(np.asarray(frame.geometry.values), arrays.geoms).all() and len(frame) == len(arrays)
        lamps = within(layers.lamps, view)
        if lamps is not None:
            assert (layers.near("lamps", view)["broken"] == (lamps["status"] == "broken").to_numpy()).all()
    cases = layers.near("open_cases", (X0 - 10, Y0 - 10, X0 + 1300, Y0 + 900))
    assert list(cases["zone_id"] == "Z01") == [z == "Z01" for z in layers.open_cases["zone_id"].astype(object)
                                               .where(layers.open_cases["zone_id"].notna(), None)]
    assert not (cases["zone_id"] == "Z01")[-1] and cases["zone_id"][-1] is None
    assert layers.zones.iloc[layers.zone_row["Z02"]]["zone_id"] == "Z02"


def test_patrol_pages_are_deflated_at_the_chosen_level(ws, tmp_path):
    """Each page's content stream is its own operators deflated at PDF_COMPRESS_LEVEL (not matplotlib's 6)."""
    import zlib

    import pikepdf

    from civgis.render.printmaps import PDF_COMPRESS_LEVEL

    assert PDF_COMPRESS_LEVEL != 6
    files = render_patrol_maps(ws, ["Z01"], out_dir=tmp_path, fmt="pdf", progress=False, workers=1)
    with pikepdf.open(files[0]) as pdf:
        for page in pdf.pages:
            stream = page.Contents
            assert stream.read_raw_bytes() == zlib.compress(stream.read_bytes(), PDF_COMPRESS_LEVEL)


def test_missing_layers_and_unknown_lamp_states_say_no_data_not_zero(tmp_path):
    """Without a cases or toilets layer, and with lamps whose state is not recorded (an OSM import), the title
    block and checklist say 无数据 instead of counting zero; a partly unknown zone says how many are unknown."""
    full = build_ws(tmp_path / "full.gpkg")
    ws = Workspace.create(tmp_path / "osm_like.gpkg", crs=CRS)   # no inspections, no toilets
    for name in ("built_up", "zones", "roads", "green", "residential"):
        ws.write(name, full.read(name))
    lamps = full.read("lamps")
    in_z01 = lamps.geometry.x.to_numpy() < X0 + 600
    lamps["status"] = np.where(in_z01, "unknown", lamps["status"].astype(str))
    ws.write("lamps", lamps)
    z01, z02 = render_patrol_maps(ws, ["Z01", "Z02"], tmp_path / "out", fmt="pdf", progress=False, combined=False,
                                  as_of="2026-06-01", workers=1)
    n_z01 = int(in_z01.sum())
    title, checklist = (pg.extract_text() for pg in pypdf.PdfReader(z01).pages)
    assert f"路灯 {n_z01} 盏（故障 无数据：状态未知）" in title
    assert "公厕 无数据（未导入公厕）" in title and "未结案件 无数据（未导入巡查案件）" in title
    assert "未结案件 0 件" not in title and "公厕 0 座" not in title
    assert "一、未结案件 无数据" in checklist and "二、故障路灯 无数据" in checklist
    assert "本责任区无未结案件" not in checklist and "本责任区无故障路灯" not in checklist
    assert "路灯（状态未知）" in title   # drawn (and in the legend) apart from the working ones
    # Z02 = [600,1200]×[400,800]: its lamps keep their states, except any on the x = 600 border
    z02_lamps = lamps[(lamps.geometry.x >= X0 + 600) & (lamps.geometry.y >= Y0 + 400)]
    broken = int((z02_lamps["status"] == "broken").sum())
    title2 = pypdf.PdfReader(z02).pages[0].extract_text()
    assert f"路灯 {len(z02_lamps)} 盏（故障 {broken}）" in title2
