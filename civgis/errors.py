"""One rule for turning an exception into the one line a user reads (the bottom layer: any module may import it).

The command line, the report's sections and the province table each show an error as one line
that names what went wrong and where: a file error names the file and how to fix it, a data
source error says the file could not be opened, civgis's own messages (Chinese, naming the
file, layer, feature and field) pass through unchanged, anything else carries its type.

Examples
--------
>>> one_line(FileNotFoundError(2, "No such file or directory", "/data/county.gpkg"))
'找不到文件或文件夹 not found: /data/county.gpkg — 请检查路径，或换一个可写的输出位置 (--out) check the path or choose a writable output location'
>>> one_line(ValueError("zones 第 3 个要素缺少 zone_id：请补全后重新导入"))
'zones 第 3 个要素缺少 zone_id：请补全后重新导入'
>>> one_line(ZeroDivisionError("division by zero"))
'division by zero（ZeroDivisionError）'
"""

from __future__ import annotations

__all__ = ["one_line"]

_OS_ERRORS_ZH = {
    FileNotFoundError: "找不到文件或文件夹 not found",
    PermissionError: "没有权限 permission denied",
    NotADirectoryError: "路径中有一段是文件而不是文件夹 part of the path is a file, not a folder",
    IsADirectoryError: "这是文件夹，需要文件 this is a folder, a file is needed",
    FileExistsError: "已存在同名文件 a file of that name exists",
}
#: exception types of GDAL / pyogrio / rasterio that mean "this data file cannot be opened or written"
_DATA_SOURCE_ERRORS = ("DataSourceError", "RasterioIOError", "DataLayerError", "CPLE_OpenFailedError")


def one_line(exc: BaseException, *, unexpected: str = "") -> str:
    """The one line shown for ``exc``; ``unexpected`` is appended inside the type note of an unforeseen error.

    The CLI passes ``unexpected="加 --debug 查看详细信息 run with --debug for the traceback"``.
    """
    name = type(exc).__name__
    text = " ".join(str(exc).split()).strip("'\"")
    if isinstance(exc, OSError) and getattr(exc, "filename", None):
        what = next((zh for cls, zh in _OS_ERRORS_ZH.items() if isinstance(exc, cls)), exc.strerror or text)
        return (f"{what}: {exc.filename} — 请检查路径，或换一个可写的输出位置 (--out)"
                f" check the path or choose a writable output location")
    if isinstance(exc, OSError):
        return f"文件读写失败 file error: {text} — 请检查路径 check the path"
    if name in _DATA_SOURCE_ERRORS:
        return f"无法打开或写入数据文件 cannot open or write a data file: {text}"
    if text and (isinstance(exc, LookupError | ValueError) or _has_chinese(text)):
        return text
    note = f"{name}；{unexpected}" if unexpected else name
    return f"{text or name}（{note}）"


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)
