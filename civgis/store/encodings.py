"""Which text encoding a bureau's file is in: UTF-8 or GBK/GB18030, decided by trial decoding.

Chinese office files come in two encodings: UTF-8 (newer software, QGIS) and GBK (Excel's "CSV",
ArcGIS shapefiles without a ``.cpg``; GB18030 is its superset, GB2312 its subset). The guess is a
trial, not statistics:

1. only ASCII bytes → nothing to decide (reported as UTF-8);
2. a UTF-8 byte-order mark, or a strict UTF-8 decode succeeds → UTF-8 (GBK text of more than a
   few characters practically never is valid UTF-8: its trail bytes would have to be 0x80–0xBF
   in the exact UTF-8 patterns);
3. a strict GB18030 decode succeeds **and** the text is plausible Chinese → GBK (GB18030 when a
   character outside GBK occurs). Plausible means: at least :data:`MIN_COMMON_SHARE` of the
   non-ASCII characters are GB2312 hanzi or full-width punctuation (everyday text is > 99 %
   GB2312). Big5 or Shift-JIS bytes read as GB18030 give rare characters, kana and box drawing
   and fail this check (measured on seven street names: Big5 43 % common, Shift-JIS 0 %, GBK 100 %); Latin-1
   accents fail the strict decode. EUC-KR cannot be told from GB2312 this way (same byte layout);
   a Korean file must be given its ``--encoding``;
4. otherwise the encoding is refused with the ``--encoding`` options to give.

Examples
--------
>>> guess_encoding("人民路".encode("gbk")).encoding
'gbk'
>>> guess_encoding("人民路".encode("utf-8")).encoding
'utf-8'
"""

from __future__ import annotations

import codecs
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["MIN_COMMON_SHARE", "SAMPLE_BYTES", "DBF_SAMPLE_BYTES", "COMMON_SAMPLE_CHARS", "EncodingGuess", "EncodingUnsure", "guess_encoding",
           "sniff_text_file", "sniff_dbf"]

#: share of non-ASCII characters that must be common (GB2312) characters to accept GBK
MIN_COMMON_SHARE = 0.9
#: bytes read from the start of a file for the trial (a cut character at the end is ignored)
SAMPLE_BYTES = 4 * 1024 * 1024
#: non-ASCII characters looked at for the common-hanzi share
COMMON_SAMPLE_CHARS = 20_000
#: bytes of dBASE records read (split into fields, each decoded on its own)
DBF_SAMPLE_BYTES = 1024 * 1024


class EncodingUnsure(ValueError):
    """The encoding could not be decided; the message says which ``--encoding`` to try."""


@dataclass(frozen=True)
class EncodingGuess:
    """The decided encoding, for pandas/GDAL, and why (Chinese, for the import report)."""

    encoding: str
    reason: str
    non_ascii: int = 0

    def __str__(self) -> str:
        return f"编码 {self.encoding.upper()}（{self.reason}）"


def _strict(data: bytes | list[bytes], encoding: str) -> str | None:
    """Decode strictly, ignoring only a character cut at the end of a sample (or of each chunk).

    A list of chunks is decoded chunk by chunk: a dBASE field cuts its value (and GDAL a field
    name) at a byte count, possibly inside a character.
    """
    chunks = [data] if isinstance(data, bytes) else data
    out = []
    for chunk in chunks:
        decoder = codecs.getincrementaldecoder(encoding)("strict")
        try:
            out.append(decoder.decode(chunk, final=False))
        except UnicodeDecodeError:
            return None
    return " ".join(out)


def _common_share(text: str) -> tuple[int, float]:
    wide = [ch for ch in text if ord(ch) > 127]
    n = len(wide)
    wide = wide[:COMMON_SAMPLE_CHARS]
    if not wide:
        return 0, 1.0
    common = sum(1 for ch in wide if _is_common_chinese(ch))
    return n, common / len(wide)


#: GB2312 rows (lead byte) of everyday Chinese text: punctuation 0xA1, numbers 0xA2, full-width
#: ASCII 0xA3, the 6 763 hanzi 0xB0–0xF7 (kana, Greek, Cyrillic and box drawing are left out)
_COMMON_LEADS = frozenset([0xA1, 0xA2, 0xA3, *range(0xB0, 0xF8)])


def _is_common_chinese(ch: str) -> bool:
    try:
        return ch.encode("gb2312")[0] in _COMMON_LEADS
    except UnicodeEncodeError:
        return False


def guess_encoding(data: bytes | list[bytes], *, source: str = "文件") -> EncodingGuess:
    """Decide UTF-8 vs GBK/GB18030 for ``data`` (see the module docstring); raise :class:`EncodingUnsure`.

    ``data`` is the start of a file, or a list of chunks (dBASE fields) each of which may end in
    a cut character.
    """
    if isinstance(data, bytes) and data.startswith(codecs.BOM_UTF8):
        return EncodingGuess("utf-8-sig", "UTF-8 字节序标记 BOM")
    if all(chunk.isascii() for chunk in ([data] if isinstance(data, bytes) else data)):
        return EncodingGuess("utf-8", "仅含 ASCII 字符")
    text = _strict(data, "utf-8")
    if text is not None:
        n, _ = _common_share(text)
        return EncodingGuess("utf-8", f"按 UTF-8 严格解码成功，{n} 个非 ASCII 字符", n)
    text = _strict(data, "gb18030")
    if text is None:
        raise EncodingUnsure(f"{source}: 既不是 UTF-8 也不是 GBK/GB18030，无法判断编码 (neither UTF-8 nor GBK decodes it); "
                             "give it with --encoding (e.g. --encoding big5, --encoding latin1)")
    n, share = _common_share(text)
    if share < MIN_COMMON_SHARE:
        raise EncodingUnsure(f"{source}: 按 GBK 可以解码，但只有 {share:.0%} 是常用汉字 — 编码不确定，未猜测 "
                             f"(decodes as GBK but only {share:.0%} of {n} characters are common Chinese); "
                             "give it with --encoding gbk if the file is GBK, or --encoding big5 / utf-8")
    encoding = "gbk" if _strict(data, "gbk") is not None else "gb18030"
    return EncodingGuess(encoding, f"按 GBK 严格解码成功，{n} 个非 ASCII 字符中 {share:.1%} 为常用汉字", n)


def sniff_text_file(path: str | Path) -> EncodingGuess:
    """Guess the encoding of a CSV/text file from its first :data:`SAMPLE_BYTES`."""
    path = Path(path)
    with open(path, "rb") as fh:
        data = fh.read(SAMPLE_BYTES)
    return guess_encoding(data, source=path.name)


def sniff_dbf(path: str | Path) -> EncodingGuess:
    """Guess the encoding of a shapefile's ``.dbf``: its field names and records, not its binary header.

    dBASE layout: bytes 8–9 header length, 10–11 record length (little-endian); 32-byte field
    descriptors from byte 32 with the 11-byte name first; records (text) after the header.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(32)
        header_len, record_len = struct.unpack("<HH", head[8:12])
        descriptors = fh.read(max(0, header_len - 32))
        records = fh.read(DBF_SAMPLE_BYTES)
    names, widths = [], []
    for i in range(0, len(descriptors) - 31, 32):
        if descriptors[i:i + 1] == b"\r":  # end of the field descriptors
            break
        names.append(descriptors[i:i + 11].split(b"\x00")[0])
        widths.append(descriptors[i + 16])
    starts = np.cumsum([1] + widths[:-1])  # byte 0 of a record is the deletion flag
    chunks = list(names)
    for r in range(0, len(records) - record_len + 1, max(record_len, 1)):
        record = records[r:r + record_len]
        chunks += [record[a:a + w].rstrip(b" ") for a, w in zip(starts, widths) if not record[a:a + w].isascii()]
    return guess_encoding(chunks, source=path.name)
