"""The main job: ``civgis report`` (one workspace → the readiness report) and ``civgis demo``."""

from __future__ import annotations

from pathlib import Path

from ._common import CliError, info, open_workspace, output_path
from .data import WS_HELP

__all__ = ["register", "cmd_report", "cmd_demo", "made_by_demo"]


def register(sub) -> None:
    p = sub.add_parser("report", help="迎检报告 the county's readiness report (HTML, ledger, patrol maps)",
                       description="生成迎检准备报告。缺少图层的部分会在报告中说明需要什么、缺少什么，其余部分照常生成；"
                                   "最后一行给出未完成的部分数，退出码即未完成的部分数（全部完成为 0）。 Writes the readiness report; "
                                   "sections whose layers are missing say so; the exit status is the number of incomplete sections.")
    p.add_argument("workspace", help=WS_HELP)
    p.add_argument("--out", required=True, help="输出目录 output folder")
    p.add_argument("--as-of", help="台账与超期案件的统计日期 date the ledger and overdue cases are counted at (default today)")
    p.add_argument("--sites", type=int, default=5, help="见缝插绿选址数 greening plan: number of sites (default 5)")
    p.add_argument("--no-patrol-maps", action="store_true", help="不生成各责任区 PDF 巡查图 skip the per-zone PDF patrol maps")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("demo", help="演示 build the demo county, import, validate and report")
    p.add_argument("--out", default="build/demo", help="输出目录 output folder (default build/demo)")
    p.add_argument("--seed", type=int, default=20261128, help="随机种子 random seed of the demo county")
    p.add_argument("--as-of", help="报告日期 report date (default: the demo's own 'today', 2026-11-28)")
    p.add_argument("--no-patrol-maps", action="store_true", help="不生成巡查图 skip the patrol maps")
    p.set_defaults(func=cmd_demo)


def cmd_report(args) -> int:
    from civgis.run.report import write_report  # lazy: `civgis --help` 1 s, not 4 s

    ws = open_workspace(args.workspace)
    output_path(args.out, folder=True)
    result = write_report(ws, args.out, as_of=args.as_of, sites=args.sites,
                          patrol_maps=not args.no_patrol_maps, progress=True)
    return _print_written(result)


def cmd_demo(args) -> int:
    from civgis.demo import DEMO_TODAY, build_demo_workspace  # lazy: `civgis --help` 1 s, not 4 s
    from civgis.run.report import write_report  # lazy: `civgis --help` 1 s, not 4 s
    from civgis.store.validate import validate_workspace  # lazy: `civgis --help` 1 s, not 4 s

    out = output_path(args.out, folder=True)
    workspace_path = out / "county.gpkg"
    if workspace_path.exists() or workspace_path.is_symlink():
        if not made_by_demo(workspace_path, out):
            raise CliError(f"{out} 中已有不是演示生成的工作空间 county.gpkg，未做任何改动 "
                           f"{workspace_path} is a workspace the demo did not make; nothing was changed — "
                           f"choose another --out folder")
        workspace_path.unlink()  # the demo is rebuilt from its raw files every time
    info(f"1/3 生成演示县数据并导入 building the demo county into {workspace_path} …")
    ws = build_demo_workspace(out, seed=args.seed, progress=True)
    info(ws.summary().to_string(index=False))
    info("2/3 检查数据 validating …")
    problems = validate_workspace(ws)
    for p in problems:
        info(f"  {p}")
    info("3/3 生成迎检报告 writing the report …")
    result = write_report(ws, out / "report", as_of=args.as_of or DEMO_TODAY,
                          patrol_maps=not args.no_patrol_maps, progress=True, validation=problems)
    return _print_written(result)


def made_by_demo(workspace_path: Path, out: Path) -> bool:
    """True when every import in the workspace's log came from the demo's own ``out/raw`` files."""
    from civgis.store.workspace import Workspace  # lazy: `civgis --help` 1 s, not 4 s

    if workspace_path.is_symlink():
        return False
    try:
        log = Workspace(workspace_path).log()
    except Exception:  # noqa: BLE001 — unreadable: certainly not ours to delete
        return False
    raw = (out / "raw").resolve()
    sources = [entry.get("source") for entry in log]
    return bool(log) and all(src and Path(src).resolve().is_relative_to(raw) for src in sources)


def _print_written(result) -> int:
    """List the files, then the incomplete sections; the last line counts them, and so does the exit
    status (0: every section complete; a script can test ``$?`` for how many are not)."""
    for path in result.written:
        info(f"  已写入 written {path}")
    for section, error in result.errors.items():
        info(f"  ！{section}: {error}")
    n_sections, n_incomplete = len(result.data["sections"]), len(result.incomplete)
    if n_incomplete:
        print(f"报告 report: {result.index} — {n_sections} 个部分中 {n_incomplete} 个未完成，原因写在报告中 "
              f"({n_incomplete} of {n_sections} sections incomplete)")
        return min(n_incomplete, 125)  # exit statuses above 125 mean other things to a shell
    print(f"报告 report: {result.index} — 全部 {n_sections} 个部分已生成 (all {n_sections} sections complete)")
    return 0
