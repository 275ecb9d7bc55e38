"""The ``civgis`` command line: one sub-module per concept registers its sub-commands.

User-facing text speaks the bureau's language (Chinese labels, with English beside them in the
help); identifiers stay English. Conventions every command follows:

- results (tables, JSON, the paths written) go to standard output, messages to standard error;
- ``-q/--quiet`` silences messages and progress bars, ``-v/--verbose`` adds details;
  progress bars show only on a terminal (:mod:`civgis.progress`);
- a user error (missing file, wrong layer, unwritable output …) ends in one line
  ``错误 error: …`` and exit status 1 (2 for a wrong command line); ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import sys
import threading
import time

from civgis._version import version

from ._common import CliError, describe_error, detail, set_verbosity

__all__ = ["COMMAND_MODULES", "GLOBAL_OPTIONS", "build_parser", "entry", "main"]

#: sub-modules of civgis.cli, each with ``register(subparsers)``
COMMAND_MODULES = ["data", "osm", "indicators", "zones", "webmap", "ledger", "hotspots", "greening", "report", "plan", "province"]

#: options accepted before or after the sub-command: (flags, help)
GLOBAL_OPTIONS = [
    (("-q", "--quiet"), "安静：只输出结果，不显示提示和进度条 quiet: results only, no messages or progress bars"),
    (("-v", "--verbose"), "详细：显示更多过程信息 verbose: more details on standard error"),
    (("--debug",), "出错时显示完整的 Python 调用栈 show the full traceback on errors"),
]
#: ``--wait SECONDS`` (how long a writer waits for a held workspace lock, default 60) is taken off
#: the command line before parsing, so it too works before or after the sub-command.


def _add_global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    for flags, text in GLOBAL_OPTIONS:
        flags = tuple(f for f in flags if f not in parser._option_string_actions)   # a command's own --debug wins
        if not flags:
            continue
        parser.add_argument(*flags, action="store_true", help=text,
                            default=argparse.SUPPRESS if suppress else False)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="civgis",
        description="civgis — 创建全国文明城市 城管空间数据与指标工具 (spatial data and indicators for the civilized-city campaign)",
    )
    parser.add_argument("--version", action="version", version=f"civgis {version()}",
                        help="显示版本号并退出 show the version and exit")
    _add_global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="命令 commands",
                                help="子命令，civgis COMMAND --help 查看用法 sub-command; see civgis COMMAND --help")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"civgis.cli.{name}")
        module.register(sub)
    for command in sub.choices.values():
        _add_global_options(command, suppress=True)   # `civgis report WS -q` works as `civgis -q report WS`
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; any error ends in one line naming what went wrong (``--debug``: the traceback)."""
    argv, wait = _global_options(list(sys.argv[1:] if argv is None else argv))
    if wait is not None:
        os.environ["CIVGIS_LOCK_WAIT"] = str(wait)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    set_verbosity(quiet=args.quiet, verbose=args.verbose)
    if args.quiet:
        os.environ["CIVGIS_PROGRESS"] = "0"
    started = time.perf_counter()
    try:
        code = int(args.func(args) or 0)
        detail(f"civgis {args.command}: 用时 {time.perf_counter() - started:.1f} 秒 took"
               f" {time.perf_counter() - started:.1f} s, exit status {code}")
        return code
    except KeyboardInterrupt:
        print("已中断 interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        source = getattr(args, "file", None)   # the input being imported, named when the error does not
        text = describe_error(exc)
        where = f"{source}: " if source and str(source) not in text else ""
        print(f"错误 error: {where}{text}", file=sys.stderr)
        return exc.exit_code if isinstance(exc, CliError) else 1


def entry() -> None:
    """The ``civgis`` command (console script and ``python -m civgis``): :func:`main`, then exit at once.

    A finished command has written and closed everything it makes; what the interpreter would
    still do is free every object the run built, one by one (0.4-0.5 s after a demo report, all
    of it serial time at the very end). So once the exit handlers have run (logging, multiprocessing,
    any library's) and the standard streams are flushed, the process ends with :func:`os._exit`
    and the status :func:`main` returned. With another thread still alive the interpreter exits
    as usual, which waits for it; so it does under a profiler or tracer (``python -m cProfile -m
    civgis …`` prints its statistics after the command returns).
    """
    code = main()
    if threading.active_count() > 1 or sys.getprofile() is not None or sys.gettrace() is not None:
        raise SystemExit(code)
    atexit._run_exitfuncs()   # what the interpreter runs before it tears down
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):   # a closed pipe (`civgis … | head`) or stream: nothing more to deliver
            pass
    os._exit(code)


def _global_options(argv: list[str]) -> tuple[list[str], float | None]:
    """``--wait SECONDS`` is accepted anywhere on the line (before or after the command)."""
    wait, rest = None, []
    it = iter(argv)
    for item in it:
        if item == "--wait" or item.startswith("--wait="):
            value = item.partition("=")[2] or next(it, "")
            try:
                wait = float(value)
            except ValueError:
                print(f"错误 error: --wait 需要秒数 needs SECONDS, not {value!r}", file=sys.stderr)
                raise SystemExit(2) from None
        else:
            rest.append(item)
    return rest, wait
