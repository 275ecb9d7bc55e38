"""Ledger-shaped tables: title rows, merged cells, two-row headers, totals and notes at the end.

A bureau's 台账 is made for printing: a merged title row ("××县城区公厕台账（2024年）"), sometimes a
unit line, a header of one or two rows (a merged "位置" above "经度 | 纬度"), the data, then a
合计 row and a 填表人 line. :func:`read_grid` reads the raw cells (merged ranges filled with their
value), :func:`tidy_table` finds the header and the data:

* **header row** — the first of the top :data:`HEADER_SEARCH_ROWS` rows with at least two
  distinct text cells and no number (a merged title fills its row with one repeated value and is
  skipped); or given as ``header_row`` (1-based, as Excel numbers rows; ``"3:4"`` for two rows);
* **second header row** — the next row, when the header row has a cell merged across columns
  and the row below is all text under that merge;
* **column names** of a two-row header — the lower cell where it is unique, else
  ``上层/下层`` (``位置/经度`` only when two columns would otherwise share a name);
* **trailing rows** — blank rows and rows starting with 合计/总计/小计/共计/注/备注/填表/制表/审核
  after the last data row are dropped and counted; fully blank rows inside are dropped too.

Examples
--------
>>> grid = [["公厕台账", "公厕台账"], ["编号", "名称"], ["T1", "人民公园"], ["合计", "1座"]]
>>> table, notes = tidy_table(grid)
>>> table.to_dict("list"), notes[-1]
({'编号': ['T1'], '名称': ['人民公园']}, '删除表尾 1 行（合计、空行、备注）')
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd

__all__ = ["HEADER_SEARCH_ROWS", "TRAILER_WORDS", "read_grid", "sniff_delimiter", "read_csv_grid", "parse_header_row", "find_header",
           "tidy_body", "tidy_table"]

#: how many rows from the top are searched for the header
HEADER_SEARCH_ROWS = 20
#: a trailing row whose first filled cell starts with one of these is not data
TRAILER_WORDS = ("合计", "总计", "小计", "共计", "累计", "总数", "注", "备注", "说明", "填表", "制表", "审核",
                 "负责人", "total")

_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def read_grid(path: Path, sheet: str | int | None = None) -> tuple[list[list], list[tuple[int, int, int, int]]]:
    """The cells of one worksheet as rows of values, merged ranges filled with their top-left value.

    Returns ``(rows, merges)``; ``merges`` are 0-based ``(first row, first col, last row, last col)``.
    """
    book = openpyxl.load_workbook(path, data_only=True)
    try:
        if sheet is None:
            ws = book.worksheets[0]
        elif isinstance(sheet, int) or str(sheet).isdigit():
            ws = book.worksheets[int(sheet)]
        elif sheet in book.sheetnames:
            ws = book[sheet]
        else:
            raise ValueError(f"工作表不存在 sheet {sheet!r} not in {path.name}; sheets are: {', '.join(book.sheetnames)}")
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
        merges = []
        for rng in ws.merged_cells.ranges:
            r0, c0, r1, c1 = rng.min_row - 1, rng.min_col - 1, rng.max_row - 1, rng.max_col - 1
            merges.append((r0, c0, r1, c1))
            value = rows[r0][c0]
            for r in range(r0, r1 + 1):
                for c in range(c0, c1 + 1):
                    rows[r][c] = value
        return rows, merges
    finally:
        book.close()


def sniff_delimiter(text: str) -> str:
    """The field separator of a CSV text: comma, tab or semicolon (comma when unclear)."""
    try:
        return csv.Sniffer().sniff(text[:20000], delimiters=",\t;").delimiter
    except csv.Error:
        return ","


def read_csv_grid(text: str, delimiter: str | None = None) -> list[list]:
    """Rows of a CSV text (ragged rows allowed: a title line has one field)."""
    return [row for row in csv.reader(io.StringIO(text), delimiter=delimiter or sniff_delimiter(text))]


def parse_header_row(value) -> tuple[int, int] | None:
    """``"3"`` → rows (3, 3); ``"3:4"`` or ``"3-4"`` → (3, 4); 1-based as in Excel."""
    if value is None or value == "":
        return None
    parts = re.split(r"[:\-–,]", str(value))
    try:
        first, last = int(parts[0]), int(parts[-1])
    except ValueError:
        raise ValueError(f"--header-row 需要行号 (e.g. 3 or 3:4), not {value!r}") from None
    if first < 1 or last < first:
        raise ValueError(f"--header-row 行号从 1 开始 rows count from 1, not {value!r}")
    return first, last


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and v != v) or str(v).strip() == ""


def _is_text(v) -> bool:
    return not _blank(v) and isinstance(v, str) and not _NUMBER.match(v.strip())


def _looks_like_header(row: list, widest: int) -> bool:
    """Text only, at least two distinct names, and nearly as wide as the table (not a title or unit line)."""
    filled = [v for v in row if not _blank(v)]
    distinct = {str(v).strip() for v in filled}
    return (len(distinct) >= 2 and 2 * len(distinct) >= len(filled) and 5 * len(filled) >= 3 * widest
            and all(_is_text(v) for v in filled))


def _detect_header(rows: list[list], merges) -> tuple[int, int]:
    widest = max((sum(not _blank(v) for v in r) for r in rows[:HEADER_SEARCH_ROWS + 30]), default=0)
    for i, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        if _looks_like_header(row, widest):
            last = i
            spans = [(c0, c1) for r0, c0, r1, c1 in merges if r0 <= i <= r1 and c1 > c0 and r1 == i]
            if spans and i + 1 < len(rows):
                below = rows[i + 1]
                if all(all(_is_text(below[c]) for c in range(c0, c1 + 1) if c < len(below)) for c0, c1 in spans):
                    last = i + 1
            return i, last
    raise ValueError("找不到表头行 no header row found in the first "
                     f"{HEADER_SEARCH_ROWS} rows; give it with --header-row N")


def _column_names(rows: list[list], first: int, last: int, width: int) -> list[str]:
    layers = [[("" if c >= len(rows[r]) or _blank(rows[r][c]) else str(rows[r][c]).strip()) for c in range(width)]
              for r in range(first, last + 1)]
    joined = []
    for c in range(width):
        parts = []
        for layer in layers:
            if layer[c] and (not parts or parts[-1] != layer[c]):
                parts.append(layer[c])
        joined.append(parts)
    lower = [p[-1] if p else "" for p in joined]
    names = []
    for c, parts in enumerate(joined):
        name = lower[c] if lower.count(lower[c]) == 1 else "/".join(parts)
        names.append(name or f"列{c + 1}")
    seen: dict[str, int] = {}
    for c, name in enumerate(names):  # still repeated: number them so nothing is silently lost
        if names.count(name) > 1:
            seen[name] = seen.get(name, 0) + 1
            names[c] = f"{name}_{seen[name]}"
    return names


def _trailing_rows(frame: pd.DataFrame) -> int:
    """How many rows at the end are blank, totals (合计…) or notes (注、填表人…)."""
    if frame.empty:
        return 0
    filled = frame.notna().to_numpy()
    blank = ~filled.any(axis=1)
    first = pd.Series(frame.to_numpy()[np.arange(len(frame)), filled.argmax(axis=1)], index=frame.index)
    text = first.astype("string").str.strip().str.lower().str.lstrip("（(【[")
    trailer = pd.Series(blank, index=frame.index) | text.str.startswith(TRAILER_WORDS).fillna(False)
    run = trailer[::-1].astype(bool).cumprod()
    return int(run.sum())


def find_header(rows: list[list], merges=(), *, header_row=None) -> tuple[int, int, list[str], list[str]]:
    """``(first, last, column names, notes)`` of the header in the top rows of a grid (0-based rows)."""
    rows = [list(r) for r in rows]
    width = max((len(r) for r in rows), default=0)
    rows = [r + [None] * (width - len(r)) for r in rows]
    given = parse_header_row(header_row)
    if given:
        first, last = given[0] - 1, given[1] - 1
        if last >= len(rows):
            raise ValueError(f"--header-row {header_row}: 表只有 {len(rows)} 行 the table has {len(rows)} rows")
    else:
        first, last = _detect_header(rows, merges)
    names = _column_names(rows, first, last, width)
    notes = []
    if first > 0 or last > first:
        where = f"第 {first + 1} 行" if last == first else f"第 {first + 1}–{last + 1} 行（两行表头已合并）"
        notes.append(f"表头在{where}，跳过其上 {first} 行标题" if first else f"表头在{where}")
    return first, last, names, notes


def _blank_to_na(frame: pd.DataFrame) -> pd.DataFrame:
    """Empty or all-space cells as missing, column by column (vectorised)."""
    out = {}
    for c in frame.columns:
        col = frame[c]
        if pd.api.types.is_object_dtype(col) or pd.api.types.is_string_dtype(col):
            empty = col.astype("string").str.strip().eq("").fillna(False).to_numpy(bool)
            col = col.astype(object).where(~empty & col.notna().to_numpy(), None)
        out[c] = col
    return pd.DataFrame(out, index=frame.index)


def tidy_body(body: pd.DataFrame, names: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """Name the data columns, drop blank and trailing (合计/备注) rows, and say how many."""
    body = body.reindex(columns=range(len(names)))
    body = _blank_to_na(body)
    tail = _trailing_rows(body)
    kept = body.iloc[:len(body) - tail]
    blank = kept.isna().all(axis=1)
    kept = kept[~blank]
    keep = [c for c in range(len(names)) if not (names[c].startswith("列") and kept[c].isna().all())]
    frame = kept[keep].set_axis([names[c] for c in keep], axis=1).reset_index(drop=True).infer_objects()
    notes = []
    if tail:
        notes.append(f"删除表尾 {tail} 行（合计、空行、备注）")
    if blank.any():
        notes.append(f"删除中间空行 {int(blank.sum())} 行")
    return frame, notes


def tidy_table(rows: list[list], merges=(), *, header_row=None) -> tuple[pd.DataFrame, list[str]]:
    """The data of a ledger-shaped grid under its header; notes (Chinese) say what was done.

    Parameters
    ----------
    rows : list of lists
        Raw cells (see :func:`read_grid`).
    merges : sequence of (r0, c0, r1, c1)
        Merged ranges, 0-based inclusive.
    header_row : str or int, optional
        1-based header row (``"3:4"`` for two rows); detected when not given.
    """
    first, last, names, notes = find_header(rows[:HEADER_SEARCH_ROWS + 30], merges, header_row=header_row)
    body = pd.DataFrame([list(r) for r in rows[last + 1:]], dtype=object)
    frame, more = tidy_body(body, names)
    return frame, notes + more
