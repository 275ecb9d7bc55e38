"""``civgis greening``: choose the plots that bring a park to the most residents (见缝插绿)."""

from __future__ import annotations

import argparse

from ._common import CliError, info, open_workspace, output_path, print_json, print_table

__all__ = ["register", "run", "solver_status_zh"]


def register(sub) -> None:
    p = sub.add_parser(
        "greening",
        help="见缝插绿选址：选出使最多居民进入公园服务半径的地块 (maximal covering)",
        description="见缝插绿选址：在候选地块中选出至多 K 块（或在总面积预算内），使新进入公园绿地服务半径的居民最多。"
                    " Choose at most K candidate plots (or within an area budget) that bring the most residents"
                    " inside a park's service radius.",
    )
    p.add_argument("workspace", metavar="WS", help="工作空间 workspace (.gpkg)")
    p.add_argument("--sites", "-k", type=int, default=None, metavar="K",
                   help="最多选址数 at most K sites (默认 5；只给 --budget-m2 时不限个数)")
    p.add_argument("--budget-m2", type=float, default=None, metavar="A", help="候选地块总面积预算 total area budget of the chosen plots (m²)")
    p.add_argument("--min-area", type=float, default=None, metavar="M",
                   help="最小地块面积 smallest plot (m²), default 1000（最小的服务半径等级）")
    p.add_argument("--exact", action="store_true",
                   help="同时求精确最优解（整数规划） also solve exactly (integer programme) and report the greedy gap")
    p.add_argument("--solver", choices=("highs", "cbc"), default="highs",
                   help="精确求解器 exact solver: highs (highspy，默认) 或 cbc (PuLP)；两者均以贪心解热启动 (warm start)")
    p.add_argument("--time-limit", type=float, default=None, metavar="S", help="精确求解时限 time limit of the exact solver (seconds)；到时返回求解器与贪心中较优者及其与上界的差距")
    p.add_argument("--use", choices=("greedy", "exact"), default="greedy",
                   help="两者都求解时采用哪个方案 which plan to use when both are solved (default greedy)")
    p.add_argument("--refine", action=argparse.BooleanOptionalAction, default=True,
                   help="贪心后局部搜索改进（默认开启） improve the greedy by local search (default on; --no-refine: plain greedy)")
    p.add_argument("--cell-m", type=float, default=25.0, metavar="M", help="需求单元格网边长 demand grid cell size (metres, default 25)")
    p.add_argument("--from-canopy", action="store_true",
                   help="另从植被覆盖栅格中识别空地作为候选 also find open land in the canopy raster as candidates")
    p.add_argument("--canopy-threshold", type=float, default=0.5, metavar="F",
                   help="植被覆盖阈值 canopy threshold (0–1, default 0.5)")
    p.add_argument("--json", action="store_true", help="以 JSON 输出结果 print the result as JSON")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="输出目录 output folder: ranking CSV, indicators before/after, map HTML and PNG")
    p.set_defaults(func=run)


def run(args) -> int:
    from civgis.analysis import greening  # lazy: `civgis --help` 1 s, not 4 s
    from civgis.render import greening as greening_out  # lazy: `civgis --help` 1 s, not 4 s

    ws = open_workspace(args.workspace)
    if args.out:
        output_path(args.out, folder=True)
    sites = args.sites
    if sites is None and args.budget_m2 is None:
        sites = 5
    if sites is not None and sites < 0:
        raise CliError("--sites 必须 ≥ 0")
    if args.budget_m2 is not None and args.budget_m2 <= 0:
        raise CliError("--budget-m2 必须为正数 (m²)")
    if args.cell_m <= 0:
        raise CliError("--cell-m 必须为正数 (米)")
    if args.use == "exact" and not args.exact:
        raise CliError("--use exact 需要同时给出 --exact")
    try:
        plan = greening.plan_greening(ws, sites=sites, budget_m2=args.budget_m2, min_area_m2=args.min_area,
                                      exact=args.exact, solver=args.solver, time_limit=args.time_limit,
                                      use=args.use, cell_m=args.cell_m, from_canopy=args.from_canopy,
                                      canopy_threshold=args.canopy_threshold, refine=args.refine)
    except (ValueError, KeyError, RuntimeError) as exc:
        raise CliError(str(exc)) from None

    paths = {}
    if args.out:
        boundary = ws.read_optional("built_up")
        paths = greening_out.write_outputs(plan, args.out, boundary=boundary, zones=ws.read_optional("zones"),
                                           roads=ws.read_optional("roads"))

    if args.json:
        out = plan.to_dict()
        if paths:
            out["outputs"] = {k: str(v) for k, v in paths.items()}
        print_json(out)
        return 0

    pop = plan.population or float("nan")
    print(f"见缝插绿选址 — 候选地块 {len(plan.candidates)} 块，选中 {len(plan.sites)} 块，"
          f"总面积 {plan.sites['area_m2'].sum():,.0f} m²")
    print(f"公园服务半径覆盖人口：{plan.covered_before:,.0f} → {plan.covered_after:,.0f} / {plan.population:,.0f}"
          f"（{plan.covered_before / pop:.1%} → {plan.covered_after / pop:.1%}）")
    if plan.exact is not None:
        e = plan.exact
        print(f"贪心 {plan.greedy.objective:,.0f} 人 vs 精确 {e.objective:,.0f} 人（{e.method}，{e.seconds:.2f} 秒）："
              f"贪心差距 {plan.gap_pct:.2f}%")
        print(f"精确求解状态：{solver_status_zh(e)}")
    print()
    if len(plan.sites):
        print_table(greening_out.sites_table_zh(plan))
    else:
        print("没有可增加覆盖人口的候选地块。")
    print()
    print_table(greening_out.what_if_table_zh(plan))
    if paths:
        info(f"已输出 written {args.out}：排名表 {paths['sites_csv'].name}，地图 {paths['map'].name}，图片 {paths['png'].name}")
    return 0


def solver_status_zh(sol) -> str:
    """One Chinese line on an exact solve: proven optimal, stopped with the gap to the proven upper
    bound, or the greedy kept because the solver's incumbent was worse (``CoverSolution.status``)."""
    bound = (f"上界 {sol.bound:,.0f} 人，差距 {sol.bound_gap_pct:.2f}%" if sol.bound != float("inf")
             else "上界未知（线性松弛未完成）")
    if sol.status in ("optimal", "trivial"):
        who = "（即贪心解，求解器未找到更优解）" if sol.found_by == "greedy" and sol.status == "optimal" else ""
        return f"已证明最优{who}"
    if sol.status == "greedy_kept":
        got = (f"求解器最好解 {sol.solver_objective:,.0f} 人" if sol.solver_objective == sol.solver_objective
               else "求解器未给出可行解")
        return f"{got}，不如贪心解，保留贪心解；{bound}"
    stop = "达到时限停止" if sol.status == "time_limit" else "达到差距容限停止"
    who = "求解器改进了贪心解" if sol.found_by == "solver" else "求解器未改进贪心解"
    return f"{stop}，未证明最优（{who}）；{bound}"
