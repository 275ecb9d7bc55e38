"""The ``civgis`` command line: one sub-module per concept registers its sub-commands.

User-facing text speaks the bureau's language (Chinese labels); identifiers stay English.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from civgis._version import version

from ._common import CliError

__all__ = ["COMMAND_MODULES", "build_parser", "main"]

#: sub-modules of civgis.cli, each with ``register(subparsers)``
COMMAND_MODULES = ["data", "osm", "indicators", "zones", "webmap", "ledger", "hotspots", "greening", "report", "plan"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="civgis",
        description="civgis — 创建全国文明城市 城管空间数据与指标工具 (spatial data and indicators for the civilized-city campaign)",
    )
    parser.add_argument("--version", action="version", version=f"civgis {version()}",
                        help="显示版本 show the installed version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"civgis.cli.{name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
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
