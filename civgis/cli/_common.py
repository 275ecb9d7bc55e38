"""Shared bits of the command line: errors, workspace opening, JSON and table output."""

from __future__ import annotations

import json
import sys

import pandas as pd

__all__ = ["CliError", "open_workspace", "print_json", "print_table"]


class CliError(Exception):
    """An error the user can fix; printed without a traceback."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


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
