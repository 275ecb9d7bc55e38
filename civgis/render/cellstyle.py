"""Many workbook cells styled alike, openpyxl's style lookup done once instead of once a cell.

Setting ``cell.border`` (``font``, ``alignment`` …) makes openpyxl hash the style object to find
its index in the workbook's collection: ~20 µs a cell, most of the ledger workbook's time on the
demo (30 000 case rows boxed in thin borders). :func:`style_cells` sets the first cell through
openpyxl's own descriptor — so the index is the one openpyxl gives — and writes that index into
the other cells' style arrays, which is all the descriptor does to them.

Examples
--------
>>> from openpyxl import Workbook
>>> from openpyxl.styles import Border, Side
>>> ws = Workbook().active
>>> for row in range(3):
...     ws.append([1, 2])
>>> box = Border(left=Side(style="thin"))
>>> style_cells((c for row in ws.iter_rows() for c in row), border=box, number_format="0.0%")
>>> ws["B3"].border == box, ws["B3"].number_format
(True, '0.0%')
"""

from __future__ import annotations

from typing import Iterable

__all__ = ["style_cells"]

#: the style attribute → its index in a cell's style array (openpyxl.styles.cell_style.StyleArray)
_INDEX = {"font": "fontId", "fill": "fillId", "border": "borderId", "alignment": "alignmentId",
          "number_format": "numFmtId", "protection": "protectionId"}


def style_cells(cells: Iterable, **styles) -> None:
    """``cell.<name> = value`` for every cell and every ``name=value`` (font, fill, border, alignment,
    number_format, protection)."""
    from openpyxl.styles.cell_style import StyleArray

    cells = list(cells)
    if not cells:
        return
    for cell in cells:
        if not cell._style:   # a cell never styled has none yet (as the descriptor does)
            cell._style = StyleArray()
    first = cells[0]
    for name, value in styles.items():
        setattr(first, name, value)            # openpyxl adds the style to the workbook and indexes it
        key = _INDEX[name]
        index = getattr(first._style, key)
        for cell in cells[1:]:
            setattr(cell._style, key, index)
