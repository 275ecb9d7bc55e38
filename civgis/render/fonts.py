"""The CJK font every static map and PDF uses: found by family, checked, subset once and kept for later runs.

Chinese text is set in a real CJK font (default "Noto Sans CJK SC", Debian ``fonts-noto-cjk``)
found by family name through matplotlib's font manager; PDFs embed it as TrueType (fonttype 42)
so the text stays searchable and extractable.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from matplotlib import font_manager as fm

__all__ = ["CJK_FAMILY", "FONT_CACHE_KEEP", "RenderError", "cjk_font", "cjk_rc", "subset_cjk_family",
           "font_cache_dir", "subset_font_files", "register_font_files"]

#: default CJK font family
CJK_FAMILY = "Noto Sans CJK SC"


class RenderError(ValueError):
    """An output cannot be made (no CJK font, unknown zone, bad paper size …); says how to fix it."""


def cjk_font(family: str = CJK_FAMILY, *, weight: str = "normal"):
    """The matplotlib FontProperties of an installed CJK font family; a clear error when it is missing."""
    fp = fm.FontProperties(family=family, weight=weight)
    try:
        path = fm.findfont(fp, fallback_to_default=False)
    except ValueError:
        path = None
    names = {f.name for f in fm.fontManager.ttflist}
    if path is None or family not in names:
        raise RenderError(
            f"未找到中文字体 CJK font {family!r} is not installed, so Chinese labels would print as empty boxes. "
            "Install it (Debian: apt-get install fonts-noto-cjk, or run scripts/install-system.sh) "
            "and clear matplotlib's font cache (~/.cache/matplotlib)."
        )
    return fp


_SUBSET_DIR: list[Path] = []
_SUBSET_DONE: dict[tuple, str] = {}
_SUBSET_FILES: dict[str, list[str]] = {}


def subset_cjk_family(text: str, family: str = CJK_FAMILY) -> str:
    """Register a small copy of a CJK font holding only the glyphs of ``text``; return its family name.

    Matplotlib subsets the embedded font at every ``savefig``; on a 20 MB Noto CJK collection that
    costs ~3 s per font per file (fontTools parses the whole face each time). Subsetting once per
    run to the characters the maps can use makes each page's embedding cheap. The copy keeps the
    glyphs and PostScript name (plus a suffix) of ``family``, regular and bold. On any failure
    the original family is returned.

    The copies are kept in :func:`font_cache_dir`, named by the family, the characters and the
    source file (path, size, modification time) and fontTools' version, so a later run with the
    same characters — the maps' text changes little from day to day — registers them at once
    instead of subsetting again (~3.5 s for both weights on the demo).
    """
    chars = "".join(sorted(set(text)))
    tag = hashlib.sha1(f"{family}|{chars}".encode()).hexdigest()[:10]
    key = (family, tag)
    if key in _SUBSET_DONE and all(os.path.exists(f) for f in _SUBSET_FILES.get(_SUBSET_DONE[key], [])):
        for f in _SUBSET_FILES.get(_SUBSET_DONE[key], []):
            os.utime(f)   # in use again: not to be pruned while this run draws with it
        return _SUBSET_DONE[key]
    _SUBSET_FILES.pop(new_family := f"{family} civgis {tag}", None)
    try:
        for weight in ("normal", "bold"):
            path = fm.findfont(cjk_font(family, weight=weight), fallback_to_default=False)
            out = _subset_path(path, tag, weight)
            if out.exists():
                os.utime(out)   # recently used: the last to be pruned
            else:
                _write_subset(path, family, new_family, tag, weight, chars, out)
            fm.fontManager.addfont(str(out))
            _SUBSET_FILES.setdefault(new_family, []).append(str(out))
        cjk_font(new_family)
    except Exception:  # a slower but correct map is better than no map
        new_family = family
    _SUBSET_DONE[key] = new_family
    return new_family


#: subset fonts kept in the cache folder: beyond this many, those unused for FONT_CACHE_MAX_AGE_S are removed
FONT_CACHE_KEEP = 8
#: a subset used within this many seconds is never removed (a run, or a concurrent one, may still draw with it)
FONT_CACHE_MAX_AGE_S = 86_400


def font_cache_dir() -> Path:
    """Where subset fonts are kept: ``$CIVGIS_FONT_DIR``, else ``civgis/fonts`` in the user cache folder."""
    if os.environ.get("CIVGIS_FONT_DIR"):
        return Path(os.environ["CIVGIS_FONT_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "civgis" / "fonts"


def _subset_path(source: str, tag: str, weight: str) -> Path:
    """The cache file of one weight's subset: a change of source file or fontTools makes a new one."""
    import fontTools

    st = os.stat(source)
    src = hashlib.sha1(f"{source}|{st.st_size}|{st.st_mtime_ns}|{fontTools.version}".encode()).hexdigest()[:10]
    for folder in (font_cache_dir(), None):
        if folder is None:   # cache folder not writable: a temporary one, as before
            if not _SUBSET_DIR:
                _SUBSET_DIR.append(Path(tempfile.mkdtemp(prefix="civgis-fonts-")))
            folder = _SUBSET_DIR[0]
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if os.access(folder, os.W_OK):
                return folder / f"cjk-{tag}-{src}-{weight}.ttf"   # TrueType outlines (_cff_to_truetype)
        except OSError:
            continue
    raise OSError("no folder for the font subset")


def _write_subset(path: str, family: str, new_family: str, tag: str, weight: str, chars: str, out: Path) -> None:
    """Subset ``path`` (its face named ``family``) to ``chars``, rename it ``new_family``, save it to ``out``."""
    # imported here: a run that finds its subsets in the cache (every run after the first) never needs the
    # subsetter, ~0.2 s to import in each of the report's processes
    from fontTools import subset, ttLib

    index = 0
    if path.lower().endswith((".ttc", ".otc")):
        coll = ttLib.TTCollection(path, lazy=True)
        names = [f["name"].getBestFamilyName() for f in coll.fonts]
        index = names.index(family) if family in names else 0
    opts = subset.Options()
    opts.font_number = index
    opts.name_IDs = ["*"]
    opts.name_languages = ["*"]
    opts.notdef_outline = True
    opts.layout_features = []
    font = subset.load_font(path, opts)
    sub = subset.Subsetter(opts)
    sub.populate(text=chars)
    sub.subset(font)
    ps = (font["name"].getDebugName(6) or "CJK").replace(" ", "")
    for rec in font["name"].names:
        if rec.nameID in (1, 16):
            rec.string = new_family
        elif rec.nameID == 4:
            rec.string = f"{new_family} {'Bold' if weight == 'bold' else 'Regular'}"
        elif rec.nameID == 6:
            rec.string = f"{ps}-civgis{tag}"
    if "CFF " in font:
        _cff_to_truetype(font)
    fd, tmp = tempfile.mkstemp(suffix=".ttf.tmp", dir=out.parent)
    os.close(fd)
    try:
        font.save(tmp)
        os.chmod(tmp, 0o644)   # mkstemp's 0600 would hide it from other accounts sharing the cache
        os.replace(tmp, out)   # atomic: a concurrent run never reads half a font
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    _prune(out.parent)


def _cff_to_truetype(font) -> None:
    """Give a CFF-outline (OpenType "OTTO") font TrueType outlines, in place.

    matplotlib embeds a font for ``pdf.fonttype`` 42 as ``CIDFontType2`` with ``FontFile2``, which
    the PDF format defines as TrueType (``glyf``) outlines; Noto Sans CJK (Debian's
    ``fonts-noto-cjk``) has CFF outlines, so the patrol maps carried a font their own font
    dictionary mislabels — poppler warns "Mismatch between font type and embedded font file", and
    stricter readers (a print shop's RIP, Acrobat) may refuse the text. The subset's few hundred
    glyphs are converted once, when the subset is made (fontTools' ``otf2ttf`` recipe: cubic to
    quadratic curves within 1 font unit, contours reversed to TrueType's direction, ``maxp`` 1.0,
    ``post`` format 2 with the glyph names).
    """
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import newTable

    font.recalcBBoxes = True   # the subsetter loads without it: glyph boxes, maxp and head must match the outlines
    order = font.getGlyphOrder()
    glyph_set = font.getGlyphSet()
    quadratic = {}
    for name in order:
        pen = TTGlyphPen(glyph_set)
        glyph_set[name].draw(Cu2QuPen(pen, max_err=1.0, reverse_direction=True))
        quadratic[name] = pen.glyph()
    font["loca"] = newTable("loca")
    font["glyf"] = glyf = newTable("glyf")
    glyf.glyphOrder, glyf.glyphs = order, quadratic
    del font["CFF "]
    if "VORG" in font:   # vertical origins belong to CFF fonts
        del font["VORG"]
    for glyph in quadratic.values():   # the subsetter loads fonts without recalculating boxes
        glyph.recalcBounds(glyf)
    glyf.compile(font)
    hmtx = font["hmtx"]
    for name, glyph in glyf.glyphs.items():   # TrueType's left side bearing is the outline's xMin
        if hasattr(glyph, "xMin"):
            hmtx[name] = (hmtx[name][0], glyph.xMin)
    font["maxp"] = maxp = newTable("maxp")
    maxp.tableVersion = 0x00010000
    for field in ("maxZones", "maxTwilightPoints", "maxStorage", "maxFunctionDefs", "maxInstructionDefs",
                  "maxStackElements", "maxSizeOfInstructions", "maxComponentElements"):
        setattr(maxp, field, 1 if field == "maxZones" else 0)
    maxp.numGlyphs = len(order)
    maxp.recalc(font)   # points and contours from the new outlines
    post = font["post"]
    post.formatType, post.extraNames, post.mapping, post.glyphOrder = 2.0, [], {}, order
    font.sfntVersion = "\000\001\000\000"


def _prune(folder: Path) -> None:
    """Keep the :data:`FONT_CACHE_KEEP` newest subset fonts, and any used in the last day.

    A run registers its subset and reads the file again when it embeds it (and its worker
    processes register it by path), so a file in use must not go: only files beyond the newest
    :data:`FONT_CACHE_KEEP` and unused for :data:`FONT_CACHE_MAX_AGE_S` are removed.
    """
    import time

    fonts = sorted((*folder.glob("cjk-*.ttf"), *folder.glob("cjk-*.otf")), key=lambda p: p.stat().st_mtime,
                   reverse=True)   # .otf: the CFF subsets of earlier releases
    stale = time.time() - FONT_CACHE_MAX_AGE_S
    for old in fonts[FONT_CACHE_KEEP:]:
        try:
            if old.stat().st_mtime < stale:
                old.unlink()
        except OSError:
            pass


def subset_font_files(family: str) -> list[str]:
    """The font files of a family made by :func:`subset_cjk_family` in this process (empty for others)."""
    return list(_SUBSET_FILES.get(family, []))


def register_font_files(paths: list[str]) -> None:
    """Add font files to matplotlib's font manager (a worker process registering the run's subset)."""
    known = {f.fname for f in fm.fontManager.ttflist}
    for p in paths:
        if p not in known:
            fm.fontManager.addfont(p)


def cjk_rc(family: str = CJK_FAMILY) -> dict:
    """matplotlib rc settings that render Chinese with an installed CJK font as real text (checked)."""
    cjk_font(family)
    return _rc(family)


def _rc(family: str) -> dict:
    return {"pdf.fonttype": 42, "ps.fonttype": 42, "font.family": "sans-serif",
            "font.sans-serif": [family, "DejaVu Sans"], "axes.unicode_minus": False, "svg.fonttype": "none"}


