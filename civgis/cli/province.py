"""``civgis province DIR|LIST … --out DIR [--scheduler ADDRESS] [--workers N]``: many counties on Dask.

Runs every county's indicators, audit, ledger totals and pass plan as tasks on a
``dask.distributed`` cluster (a LocalCluster by default) and writes the ranked province table
(:mod:`civgis.run.province`). Prints the ranking; a county that failed is a row with its error.
"""

from __future__ import annotations

import datetime as dt

from ._common import CliError, info, output_path, print_table

__all__ = ["register", "cmd_province", "SHOWN"]

#: ranking columns printed on the terminal (the files have them all)
SHOWN = ["排名", "县区", "状态", "参评指标", "达标", "未达标", "无数据", "达标率(%)", "责任区覆盖率(%)", "案件数",
         "超期未结", "整改任务", "错误"]


def register(sub) -> None:
    p = sub.add_parser("province", help="全省（多县区）汇总：在 Dask 集群上逐县计算并排名 many counties on a Dask cluster, ranked",
                       description="对多个县区工作空间分别计算创建指标、责任区全覆盖检查、台账合计和达标路径（在 dask.distributed "
                                   "集群上并行，默认本机 LocalCluster），输出全省县区排名表（CSV + Excel）和各县报告。"
                                   " Runs each county as a task on a Dask cluster and writes one ranked province table.")
    p.add_argument("sources", nargs="+", metavar="DIR|LIST",
                   help="县区工作空间：文件夹（其中所有 .gpkg）、清单文件（每行一个路径）或 .gpkg"
                        " a folder of workspaces, a list file (one path a line) or .gpkg files")
    p.add_argument("--out", required=True, help="输出目录 output folder")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="Dask 调度器地址（如 tcp://10.0.0.5:8786）；默认在本机启动 LocalCluster"
                        " a dask.distributed scheduler address (default: a LocalCluster on this machine)")
    p.add_argument("--workers", type=_positive, default=2, metavar="N",
                   help="本机集群的工作进程数（默认 2） worker processes of the LocalCluster (default 2)")
    p.add_argument("--as-of", type=_date, help="台账统计日期 date the ledger is counted at (default today)")
    p.add_argument("--no-plan", action="store_true", help="不编制达标路径 skip the pass plan")
    p.add_argument("--report", action="store_true", help="同时生成各县迎检报告 also write each county's report")
    p.add_argument("--patrol-maps", action="store_true", help="报告中包含巡查图 include patrol maps in the reports")
    p.set_defaults(func=cmd_province)


def _positive(text: str) -> int:
    import argparse

    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"需要正整数 needs a positive integer, not {text!r}")
    return n


def _date(text: str) -> dt.date:
    import argparse

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"日期格式应为 YYYY-MM-DD, not {text!r}") from None


def _require_dask() -> None:
    try:
        import dask_geopandas  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        raise CliError(f"civgis province 需要 Dask：pip install 'civgis[scale]' (dask-geopandas, distributed)"
                       f" — needs the scale extra; missing: {exc.name}") from None


def cmd_province(args) -> int:
    _require_dask()
    from civgis.run.province import county_workspaces, run_province  # lazy: Dask is imported only here

    try:
        paths = county_workspaces(args.sources, exclude=args.out)
    except (OSError, ValueError) as exc:
        raise CliError(f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) else str(exc)) from None
    out = output_path(args.out, folder=True)
    where = args.scheduler or f"LocalCluster ×{args.workers}"
    info(f"{len(paths)} 个县区 counties on {where} …")
    try:
        result = run_province(paths, out, scheduler=args.scheduler, workers=args.workers, as_of=args.as_of,
                              plan=not args.no_plan, report=args.report, patrol_maps=args.patrol_maps, progress=True)
    except OSError as exc:   # the scheduler cannot be reached
        raise CliError(f"无法连接 Dask 调度器 cannot reach the scheduler {args.scheduler}: {exc}") from None
    table = result.ranking
    shown = table[SHOWN].assign(**{c: table[c].round(2) for c in ("达标率(%)", "责任区覆盖率(%)")})
    print_table(shown.astype(object).where(shown.notna(), "—"))   # missing is shown as missing, not 0
    if getattr(args, "debug", False):   # --debug: each failed county's traceback (from its worker)
        for county in result.counties:
            if "trace" in county.section_errors:
                info(f"--- {county.path}\n{county.section_errors['trace']}")
    failed = int((table["状态"] == "失败").sum())
    if failed:
        info(f"注意：{failed} 个县区失败，原因见“错误”列 (see the 错误 column)")
    for path in result.files.values():
        print(f"已写入 written {path}")
    return 1 if failed == len(table) else 0
