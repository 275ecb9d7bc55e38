"""The ledger workbook prints as a bureau prints it: LibreOffice headless converts it to PDF.

LibreOffice (Debian ``libreoffice-calc``, installed by scripts/install-system.sh) lays the .xlsx
out as a printer would; the PDF is read back with pypdf: A4 landscape pages, the title on every
page, the column headers repeated on every page of a long sheet, 第 N 页 共 M 页, the sign-off line,
and the 汇总 sheet on one page. The PDF is kept in build/screenshots/ledger.pdf to look at.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader

from civgis.analysis.ledger import ledger_workspace
from civgis.render.ledger_xlsx import DEFINITIONS_ZH, county_of, write_ledger_xlsx

REPO = Path(__file__).resolve().parent.parent
A4_LANDSCAPE_PT = (841.9, 595.3)   # 297 × 210 mm at 72 pt per inch


@pytest.fixture(scope="module")
def pages(demo_ws, tmp_path_factory):
    out = tmp_path_factory.mktemp("ledger_print")
    ledger = ledger_workspace(demo_ws, as_of="2026-11-28")
    xlsx = write_ledger_xlsx(ledger, out / "ledger.xlsx", county=county_of(demo_ws.read("built_up")["name"]))
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    assert soffice, "LibreOffice is missing: run scripts/install-system.sh"
    proc = subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{out}/profile", "--convert-to", "pdf",
                           "--outdir", str(out), str(xlsx)], capture_output=True, text=True, timeout=300)
    pdf = out / "ledger.pdf"
    assert pdf.exists(), proc.stderr
    keep = REPO / "build" / "screenshots" / "ledger.pdf"
    keep.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(pdf, keep)
    reader = PdfReader(pdf)
    return [(tuple(float(v) for v in p.mediabox[2:]), p.extract_text()) for p in reader.pages], ledger


def test_every_page_is_a4_landscape_and_numbered(pages):
    pages, _ = pages
    assert len(pages) > 5
    for i, (size, text) in enumerate(pages, start=1):
        assert size == pytest.approx(A4_LANDSCAPE_PT, abs=1.0)
        assert f"第 {i} 页 共 {len(pages)} 页" in text


def test_title_and_header_on_every_page_of_a_long_sheet(pages):
    pages, ledger = pages
    overdue = [text for _, text in pages if "示范县城市管理问题整改工作台账（超期案件）" in text]
    # 493 overdue cases cannot fit one page; every page repeats the title and the column headers
    assert len(ledger.overdue) > 100 and len(overdue) >= 3
    for text in overdue:
        assert "统计截止：2026-11-28 23:59" in text
        assert all(h in text for h in ("序号", "案件编号", "责任人", "处置时限", "超期天数"))
    # the 序号 runs on over the pages up to the number of overdue cases, and the sign-off ends the sheet
    numbers = [int(n) for n in re.findall(r"^(\d+) ?AJ\d+", "\n".join(overdue), flags=re.M)]
    assert numbers == list(range(1, len(ledger.overdue) + 1))
    assert "制表人" in overdue[-1] and "审核人" in overdue[-1] and "制表日期" in overdue[-1]
    assert not any("制表人" in text for text in overdue[:-1])


def test_summary_fits_one_page(pages):
    pages, ledger = pages
    summary = [text for _, text in pages if "（汇总）" in text]
    assert len(summary) == 1
    flat = re.sub(r"\s", "", summary[0])
    assert "示范县城市管理问题整改工作台账" in flat and "口径说明" in flat and "制表人" in flat
    assert re.sub(r"\s", "", DEFINITIONS_ZH[-1]) in flat          # the longest definition did not spill over
    assert f"{ledger.totals['cases']}" in flat


def test_style_cells_writes_the_workbook_per_cell_styling_writes(tmp_path):
    """``style_cells`` (the style index looked up once) gives the same workbook, part for part, as setting
    each cell's border, alignment and number format one by one — never-styled cells and merged ones too."""
    import zipfile

    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Side

    from civgis.render.cellstyle import style_cells

    thin = Side(style="thin")
    styles = dict(border=Border(left=thin, right=thin, top=thin, bottom=thin),
                  alignment=Alignment(horizontal="center", wrap_text=True), number_format="yyyy-mm-dd")

    def book(path, styled_at_once: bool):
        wb = Workbook()
        ws = wb.active
        for i in range(6):
            ws.append([i, f"行 {i}", None])
        ws.merge_cells("A7:C7")
        ws["B2"].number_format = "0.0%"   # a cell styled before: its other indexes are kept
        cells = [c for row in ws.iter_rows(min_row=1, max_row=7, max_col=3) for c in row]
        if styled_at_once:
            style_cells(cells, **styles)
        else:
            for cell in cells:
                for name, value in styles.items():
                    setattr(cell, name, value)
        wb.save(path)
        with zipfile.ZipFile(path) as z:
            return {n: z.read(n) for n in z.namelist() if n != "docProps/core.xml"}

    at_once, one_by_one = book(tmp_path / "a.xlsx", True), book(tmp_path / "b.xlsx", False)
    assert at_once == one_by_one
    assert b"yyyy-mm-dd" in at_once["xl/styles.xml"] and b'<border><left style="thin"' in at_once["xl/styles.xml"]
