"""Outputs stay inert: user text never becomes a spreadsheet formula.

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is taken
by Excel, WPS and LibreOffice as a formula (OWASP "CSV injection"): a case id such as
``=HYPERLINK("http://evil.example","click")`` would become a live link. Every workbook and CSV
civgis writes passes through this module:

* :func:`inert_workbook` turns every formula cell of an openpyxl workbook into a text cell
  (``data_type = "s"``; civgis writes no formulas of its own), so the value reads back as the
  same string;
* :func:`save_workbook` is the one way civgis saves a workbook: inert first, then written to
  a temporary file beside the target and moved over it (``os.replace``), so a reader never
  sees half a workbook and a failed save leaves the old file;
* :func:`inert_frame` prefixes such text in a DataFrame with an apostrophe ``'`` before
  ``to_csv`` (the spreadsheet convention for "this is text"); numbers are left alone.

Examples
--------
>>> inert_text("=1+1"), inert_text("-3"), inert_text("路灯"), inert_text(-3)
("'=1+1", "'-3", '路灯', -3)
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from pathlib import Path

import pandas as pd

__all__ = ["FORMULA_STARTS", "STEM_MAX_BYTES", "looks_like_formula", "inert_text", "inert_frame", "inert_workbook",
           "save_workbook", "safe_stem"]

#: longest file-name stem :func:`safe_stem` makes (UTF-8 bytes; file systems allow 255)
STEM_MAX_BYTES = 100
#: first characters that make a spreadsheet read a cell as a formula
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def looks_like_formula(value) -> bool:
    """True for a string a spreadsheet would evaluate (starts with one of :data:`FORMULA_STARTS`)."""
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def inert_text(value):
    """``value`` with an apostrophe in front when it looks like a formula; anything else unchanged."""
    return "'" + value if looks_like_formula(value) else value


def inert_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells (and header) cannot be read as formulas in a CSV."""
    out = df.copy()
    for column in out.columns:
        col = out[column]
        if col.dtype == object or pd.api.types.is_string_dtype(col):
            out[column] = col.map(inert_text, na_action="ignore")
    out.columns = [inert_text(c) for c in out.columns]
    return out


def inert_workbook(workbook) -> int:
    """Make every formula cell of an openpyxl ``workbook`` a text cell; returns how many were changed."""
    changed = 0
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    cell.data_type = "s"
                    changed += 1
    return changed


def save_workbook(workbook, path: str | os.PathLike) -> Path:
    """Save an openpyxl ``workbook`` to ``path``, inert and atomically; returns the path.

    Every formula cell becomes text (:func:`inert_workbook`); the bytes go to a hidden temporary
    file in the same folder, which then replaces ``path`` in one step.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    inert_workbook(workbook)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex}.tmp{path.suffix or '.xlsx'}")
    try:
        workbook.save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def safe_stem(name, *, max_bytes: int = STEM_MAX_BYTES) -> str:
    """A file-name stem for a user id: unique per id and at most ``max_bytes`` UTF-8 bytes.

    An id that is already a plain short name (letters, digits, ``_ . -``) is kept as it is
    (``Z01`` → ``Z01``). Any other id has its unsafe characters replaced by ``_``, is cut to
    length and gets 8 hex digits of its SHA-1, so ids that differ only in ``/``, ``_`` or ``?``
    (or in a long tail) never share a file.

    >>> safe_stem("Z01"), safe_stem("A/1"), safe_stem("A?1") != safe_stem("A/1")
    ('Z01', 'A_1-22e44c46', True)
    """
    text = str(name)
    clean = re.sub(r"[^\w.-]+", "_", text).strip("._") or "zone"
    if clean == text and len(clean.encode("utf-8")) <= max_bytes:
        return clean
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    cut = clean.encode("utf-8")[: max_bytes - 9].decode("utf-8", errors="ignore")
    return f"{cut}-{digest}"
