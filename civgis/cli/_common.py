"""Shared bits of the command line: errors, workspace opening, JSON and table output."""

from __future__ import annotations

import json
import sys

import pandas as pd

from civgis.errors import one_line

__all__ = ["CliError", "describe_error", "set_verbosity", "info", "detail", "output_path", "open_workspace",
           "print_json",
           "print_table"]

#: 0 quiet, 1 normal, 2 verbose (set by :func:`set_verbosity` from -q / -v)
_VERBOSITY = [1]


class CliError(Exception):
    """An error the user can fix; printed without a traceback."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def set_verbosity(*, quiet: bool = False, verbose: bool = False) -> None:
    """-q → messages off; -v → details on (and civgis's log at INFO on standard error).

    Only civgis's own loggers go to INFO: the libraries keep their warnings (the root logger's
    default), not their chatter — fontTools alone logs every glyph list of every font subset.
    """
    import logging

    _VERBOSITY[0] = 0 if quiet else (2 if verbose else 1)
    if verbose:
        logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s", stream=sys.stderr)
        logging.getLogger("civgis").setLevel(logging.INFO)


def info(message: str) -> None:
    """A message for the user (standard error), silenced by ``-q``."""
    if _VERBOSITY[0] >= 1:
        print(message, file=sys.stderr)


def detail(message: str) -> None:
    """A detail shown only with ``-v`` (standard error)."""
    if _VERBOSITY[0] >= 2:
        print(message, file=sys.stderr)


def describe_error(exc: BaseException) -> str:
    """One line naming what went wrong and where, for any exception reaching the command line."""
    if isinstance(exc, CliError):
        return str(exc)
    return one_line(exc, unexpected="加 --debug 查看详细信息 run with --debug for the traceback")


def output_path(path, *, folder: bool = False):
    """Check before any work that ``path`` (a file, or a ``folder``) can be written; create its folder.

    Raises :class:`CliError` naming the path when a part of it is a file or it is not writable.
    """
    import os
    from pathlib import Path

    path = Path(path)
    parent = path if folder else path.parent
    probe = parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise CliError(f"无法写入 cannot write {path}: {probe} 是文件而不是文件夹 is a file, not a folder")
    if not os.access(probe, os.W_OK):
        raise CliError(f"无法写入 cannot write {path}: 文件夹 {probe} 没有写权限 folder is not writable")
    if folder and path.exists() and not path.is_dir():
        raise CliError(f"无法写入 cannot write {path}: 已存在同名文件 a file of that name exists")
    parent.mkdir(parents=True, exist_ok=True)
    return path


def open_workspace(path):
    from civgis.store.workspace import Workspace, WorkspaceError  # lazy: `civgis --help` 1 s, not 4 s

    try:
        return Workspace(path)
    except WorkspaceError as exc:
        raise CliError(str(exc)) from None


def print_json(obj) -> None:
    json.dump(obj, sys.stdout, ensure_ascii=False, indent=2, default=_json_default)
    sys.stdout.write("\n")


def _json_default(value):
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    if value is pd.NA:
        return None
    raise TypeError(f"not JSON serialisable: {type(value)}")


def print_table(df: pd.DataFrame, *, columns: dict[str, str] | None = None) -> None:
    """Print a DataFrame as a plain table with Chinese headers (``columns``: field → header)."""
    if columns:
        df = df[list(columns)].rename(columns=columns)
    with pd.option_context("display.max_rows", 500, "display.max_columns", 50, "display.width", 200,
                           "display.unicode.east_asian_width", True):
        print(df.to_string(index=False))
