"""``civgis plan`` (达标路径: what it takes to pass, by whom, by when) and ``civgis snapshot`` (长效管理)."""

from __future__ import annotations

import argparse
import datetime as dt

import pandas as pd

from ._common import CliError, open_workspace, print_json, print_table

__all__ = ["register", "run_plan", "run_snapshot"]


def _date(text: str) -> dt.date:
    try:
        return pd.Timestamp(text).date()
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(f"日期格式错误: {text!r}（应为 YYYY-MM-DD，例如 2027-06-30）") from None


def register(sub) -> None:
    p = sub.add_parser(
        "plan", help="达标路径：每个未达标指标需要做什么、在哪里、谁负责、何时完成 what each failing indicator needs, where, who, by when",
        description="达标路径：对每个未达标指标给出使其达标的最少措施（数量、位置、牵头单位、责任单位、责任人、完成时限），"
                    "并按 已达标(巩固)/可达标/难达标 分类。输出 整改任务清单.xlsx、措施地图和 plan.json。")
    p.add_argument("workspace", metavar="WS", help="工作空间 workspace (.gpkg)")
    p.add_argument("--inspection-date", required=True, type=_date, metavar="D", help="迎检日期 inspection date YYYY-MM-DD（倒排工期的起点）")
    p.add_argument("--as-of", type=_date, default=None, metavar="D", help="编制日期（默认今天） date of the plan (default today)")
    p.add_argument("--out", metavar="DIR", default=None, help="输出目录：整改任务清单.xlsx、达标路径.png/.html、plan.json")
    p.add_argument("--json", action="store_true", help="以 JSON 输出 print as JSON")
    p.add_argument("--what-if", metavar="COPY.gpkg", default=None,
                   help="将全部措施应用到工作空间的副本 COPY.gpkg（原工作空间不变），可再用 civgis indicators 检验")
    p.add_argument("--debug", action="store_true", help="出错时显示完整的错误堆栈 show the full traceback on errors")
    p.set_defaults(func=run_plan)

    s = sub.add_parser(
        "snapshot", help="记录一次快照：指标、台账合计和整改任务状态（长效管理、限期销号） record a snapshot of indicators, ledger and tasks",
        description="在工作空间的历史表 plan_history 中记录指标表、台账合计和每项整改任务的状态（按数据判定已完成/已逾期/进行中）。")
    s.add_argument("workspace", metavar="WS", help="工作空间 workspace (.gpkg)")
    s.add_argument("--date", type=_date, default=None, metavar="D", help="快照日期（默认今天） snapshot date (default today)")
    s.add_argument("--inspection-date", type=_date, default=None, metavar="D",
                   help="首次快照尚无任务时用于编制计划的迎检日期（默认取目标文件 [plan] inspection_date）")
    s.add_argument("--json", action="store_true", help="以 JSON 输出任务状态 print the task states as JSON")
    s.add_argument("--debug", action="store_true", help="出错时显示完整的错误堆栈 show the full traceback on errors")
    s.set_defaults(func=run_snapshot)


def _fail(args, exc) -> CliError:
    if getattr(args, "debug", False):
        raise exc
    return CliError(str(exc))


def run_plan(args) -> int:
    from civgis.analysis.plan import KINDS, PlanError  # lazy: `civgis --help` 1 s, not 4 s
    from civgis.run.plan import write_plan  # lazy: `civgis --help` 1 s, not 4 s
    from civgis.store.targets import TargetsError  # lazy: `civgis --help` 1 s, not 4 s
    from civgis.analysis.indicators import IndicatorError  # lazy: `civgis --help` 1 s, not 4 s

    ws = open_workspace(args.workspace)
    out = args.out
    if out is None:
        out = ws.path.with_name(f"{ws.path.stem}_达标路径")
    try:
        result = write_plan(ws, out, inspection_date=args.inspection_date, as_of=args.as_of, what_if=args.what_if)
    except (PlanError, TargetsError, IndicatorError, KeyError, ValueError, OSError) as exc:
        raise _fail(args, exc) from None
    plan = result.plan
    if args.json:
        d = plan.to_dict()
        d["outputs"] = {k: str(v) for k, v in result.files.items()}
        print_json(d)
        return 0
    print(f"达标路径 — 迎检日期 {plan.inspection_date}，编制日期 {plan.as_of}，整改任务 {len(plan.tasks)} 项")
    print(f"分类规则：{plan.rule}")
    print()
    g = plan.gaps[plan.gaps["road_class"].isna() | (plan.gaps["sentence"] != "")]
    print_table(g.assign(value=g["value"].round(2)),
                columns={"name_zh": "指标", "value": "现状", "target": "目标", "class_": "分类", "sentence": "达标路径"})
    print()
    if len(plan.tasks):
        counts = plan.tasks.groupby(["lead_unit", "kind"]).size().rename("项").reset_index()
        counts["kind"] = counts["kind"].map(lambda k: KINDS[k][0])
        print_table(counts, columns={"lead_unit": "牵头单位", "kind": "措施", "项": "任务数"})
    print()
    print(f"已输出 {out}：" + "，".join(p.name for p in result.files.values()))
    return 0


def run_snapshot(args) -> int:
    from civgis.run.plan import snapshot  # lazy: `civgis --help` 1 s, not 4 s

    ws = open_workspace(args.workspace)
    try:
        states = snapshot(ws, date=args.date, inspection_date=args.inspection_date)
    except (KeyError, ValueError, OSError) as exc:
        raise _fail(args, exc) from None
    if args.json:
        print_json(states.drop(columns=["check"]).astype(object).where(states.drop(columns=["check"]).notna(), None)
                   .to_dict("records"))
        return 0
    day = args.date or dt.date.today()
    summary = states.groupby("state").size()
    print(f"快照 {day}：整改任务 {len(states)} 项，" + "，".join(f"{k} {v} 项" for k, v in summary.items()))
    late = states[states["state"] == "已逾期"]
    if len(late):
        print()
        print_table(late, columns={"task_id": "编号", "task": "任务", "resp_unit": "责任单位", "staff": "责任人",
                                   "deadline": "完成时限"})
    return 0
