"""The ``civgis`` command line: one sub-module per concept registers its sub-commands.

User-facing text speaks the bureau's language (Chinese labels); identifiers stay English.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from ._common import CliError

__all__ = ["COMMAND_MODULES", "build_parser", "main"]

#: sub-modules of civgis.cli, each with ``register(subparsers)``
COMMAND_MODULES = ["data", "osm", "indicators", "zones", "webmap", "ledger", "hotspots", "greening", "report", "plan"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="civgis",
        description="civgis — 创建全国文明城市 城管空间数据与指标工具 (spatial data and indicators for the civilized-city campaign)",
    )
    parser.add_argument("--debug", action="store_true",
                        help="出错时显示完整的调用栈 show the traceback of an unexpected error (anywhere on the line)")
    parser.add_argument("--wait", type=float, metavar="SECONDS",
                        help="工作空间被另一写入进程锁定时最多等待的秒数 how long a writer waits for a held "
                             "workspace lock before refusing (default 60; anywhere on the line)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"civgis.cli.{name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; any error ends in one line naming what went wrong (``--debug``: the traceback)."""
    argv, debug, wait = _global_options(list(sys.argv[1:] if argv is None else argv))
    if wait is not None:
        os.environ["CIVGIS_LOCK_WAIT"] = str(wait)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"错误 error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("已中断 interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 — the promise: one line, never a traceback, unless --debug
        if debug:
            traceback.print_exc()
        source = getattr(args, "file", None)
        where = f"无法处理文件 cannot process {source}: " if source else ""
        print(f"错误 error: {where}{_one_line(exc)} (civgis {args.command}; nothing was changed; "
              f"add --debug for the traceback)", file=sys.stderr)
        return 1


def _global_options(argv: list[str]) -> tuple[list[str], bool, float | None]:
    """``--debug`` and ``--wait SECONDS`` are accepted anywhere on the line (before or after the command)."""
    debug, wait, rest = False, None, []
    it = iter(argv)
    for item in it:
        if item == "--debug":
            debug = True
        elif item == "--wait" or item.startswith("--wait="):
            value = item.partition("=")[2] or next(it, "")
            try:
                wait = float(value)
            except ValueError:
                print(f"错误 error: --wait 需要秒数 needs SECONDS, not {value!r}", file=sys.stderr)
                raise SystemExit(2) from None
        else:
            rest.append(item)
    return rest, debug, wait


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).strip("'\"").split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, (OSError, ValueError)) else text
