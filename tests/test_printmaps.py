"""Printable patrol maps: real Chinese text in the PDF, one page per zone, PNG size per paper."""

from __future__ import annotations

import os
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
    ws.write("inspections", gpd.GeoDataFrame({
        "case_id": ["C1", "C2", "C3"], "category": ["0102", "0501", "0201"],
        "reported_at": pd.to_datetime(["2026-01-01"] * 3), "deadline": pd.to_datetime(["2026-01-03", "2099-01-01", "2026-01-03"]),
        "closed_at": pd.to_datetime([None, None, "2026-01-02"]), "status": ["open", "open", "closed"]},
        geometry=[Point(X0 + 250, Y0 + 200), Point(X0 + 450, Y0 + 700), Point(X0 + 500, Y0 + 100)], crs=CRS))
    return ws


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return build_ws(tmp_path_factory.mktemp("pm") / "town.gpkg")


def test_all_zones_pdf_one_page_each_with_chinese_text(ws, tmp_path):
    paths = render_patrol_maps(ws, None, tmp_path, fmt="pdf", paper="A4", progress=False)
    assert [p.name for p in paths] == ["patrol_Z01.pdf", "patrol_Z02.pdf", "patrol_Z03.pdf", "patrol_maps.pdf"]
    book = pypdf.PdfReader(paths[-1])
    assert len(book.pages) == 3
    for page, (zid, name, unit, staff, phone) in zip(book.pages, ZONES):
        text = page.extract_text()
        assert f"{name} 巡查责任区图" in text
        assert f"责任区编号 {zid}" in text and unit in text
        assert (staff or "未填写") in text and (phone or "未填写") in text
        assert "北" in text and "制图日期" in text and "故障路灯" in text and "公厕" in text
    single = pypdf.PdfReader(paths[0])
    assert len(single.pages) == 1
    text = single.pages[0].extract_text()
    for street in ("人民路", "解放路", "中山大道", "学府路"):  # streets crossing Z01 are named on its map
        assert street in text
    # Z01 has 1 open case and it is overdue (deadline 2026-01-03)
    assert "未结案件 2 件（超期 1）" in text  # C1 overdue since 2026-01-03, C2 due 2099
    # the embedded font is the CJK font, as TrueType (fonttype 42), not Type 3 glyph drawings
    fonts = {str(f["/BaseFont"]) for f in _fonts(single)}
    assert any("NotoSansCJK" in f for f in fonts), fonts


def _fonts(reader):
    res = reader.pages[0]["/Resources"]["/Font"]
    return [res[k].get_object() for k in res]


def test_counts_in_title_block(ws, tmp_path):
    (p,) = render_patrol_maps(ws, ["Z01"], tmp_path, fmt="pdf", progress=False, as_of="2026-06-01")
    text = pypdf.PdfReader(p).pages[0].extract_text()
    # Z01 = [0,600]×[0,800]: open cases C1 (overdue) and C2 (not yet due); C3 is closed
    assert "未结案件 2 件（超期 1）" in text
    assert "公厕 1 座" in text


def test_png_per_paper_size_and_orientation(ws, tmp_path):
    (a4,) = render_patrol_maps(ws, "Z01", tmp_path, fmt="png", paper="A4", progress=False, dpi=60)
    (a3,) = render_patrol_maps(ws, ["Z02"], tmp_path / "a3", fmt="png", paper="A3", progress=False, dpi=60)
    from PIL import Image

    w, h = Image.open(a4).size
    assert (w, h) == (round(PAPER_IN["A4"][0] * 60), round(PAPER_IN["A4"][1] * 60))  # Z01 is taller than wide
    w, h = Image.open(a3).size
    assert (w, h) == (round(PAPER_IN["A3"][1] * 60), round(PAPER_IN["A3"][0] * 60))  # Z02 is wide: landscape


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
