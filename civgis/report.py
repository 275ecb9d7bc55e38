"""The readiness report (迎检准备报告): one page for the bureau's leaders, readable offline.

``write_report(ws, out_dir)`` computes every section from the same functions the CLI commands
use (so the numbers are the same), writes ``report.json`` with all of them, renders
``index.html`` from that JSON (Chinese, no CDN, printable), and writes beside it the ledger
(``ledger.xlsx``), the interactive maps (``maps/``), the hotspot outputs (``hotspots/``), the
greening plan (``greening/``) and every zone's patrol map (``patrol/``).

A section that fails (a malformed layer, a missing one) does not stop the report: the section
says what went wrong and how to fix it, and the rest is reported.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .workspace import Workspace

SECTIONS = [
    ("overview", "数据概况"),
    ("indicators", "创建指标达标情况"),
    ("audit", "责任区全覆盖检查"),
    ("county_map", "县域地图"),
    ("zones", "责任区排名"),
    ("ledger", "问题整改台账"),
    ("hotspots", "问题热点与趋势"),
    ("greening", "见缝插绿方案"),
    ("patrol", "责任区巡查图"),
]


@dataclass
class ReportResult:
    """What ``write_report`` produced: the index page, every file written, and failed sections."""

    index: Path
    data: dict
    written: list[Path] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


class _Context:
    def __init__(self, ws: Workspace, out: Path, as_of: pd.Timestamp, sites: int, patrol_maps: bool,
                 progress: bool, validation):
        self.ws, self.out, self.as_of, self.sites = ws, out, as_of, sites
        self.patrol_maps, self.progress, self.validation = patrol_maps, progress, validation
        self.written: list[Path] = []
        self.cache: dict = {}

    def rel(self, path: Path) -> str:
        return os.path.relpath(path, self.out)

    def add(self, *paths: Path) -> None:
        self.written.extend(Path(p) for p in paths)


def write_report(ws: Workspace, out_dir, *, as_of=None, sites: int = 5, patrol_maps: bool = True,
                 progress: bool = False, validation=None) -> ReportResult:
    """Compute every section and write the report folder. See the module docstring."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    from .ledger import as_of_instant

    as_of = as_of_instant(as_of)  # a date alone means the end of that day, as in `civgis ledger`
    ctx = _Context(ws, out, as_of, sites, patrol_maps, progress, validation)
    builders = {name: globals()[f"_section_{name}"] for name, _ in SECTIONS}
    data: dict = {"title": "创建全国文明城市 迎检准备报告", "workspace": str(ws.path), "as_of": as_of.date().isoformat(),
                  "generated": dt.datetime.now().isoformat(timespec="seconds"), "sections": {}}
    errors: dict[str, str] = {}
    steps = SECTIONS
    bar = _progress(len(steps), progress)
    for name, title in steps:
        bar.set_description(f"报告 {title}")
        started = time.perf_counter()
        try:
            section = builders[name](ctx)
            section["ok"] = True
        except Exception as exc:  # a section's failure is reported in the section, not fatal
            errors[title] = _explain(exc)
            section = {"ok": False, "error": _explain(exc), "trace": traceback.format_exc(limit=3)}
        section["title"] = title
        section["seconds"] = round(time.perf_counter() - started, 2)
        data["sections"][name] = section
        bar.update(1)
    bar.close()
    json_path = out / "report.json"
    _atomic_write(json_path, json.dumps(data, ensure_ascii=False, indent=1, default=_json_default))
    index = out / "index.html"
    _atomic_write(index, render_html(data))
    ctx.add(json_path, index)
    return ReportResult(index=index, data=data, written=ctx.written, errors=errors)


# ---------------------------------------------------------------------- sections
def _section_overview(ctx: _Context) -> dict:
    from .validate import validate_workspace

    problems = ctx.validation if ctx.validation is not None else validate_workspace(ctx.ws)
    summary = ctx.ws.summary()
    return {
        "layers": summary.assign(extent=summary["extent"].astype(str)).to_dict(orient="records"),
        "crs": ctx.ws.crs.name if ctx.ws.crs else "",
        "problems": [p.to_dict() | {"text": str(p)} for p in problems],
        "n_errors": sum(p.severity == "error" for p in problems),
    }


def _section_indicators(ctx: _Context) -> dict:
    from .indicators import compute_indicators

    table = compute_indicators(ctx.ws, zones=True)
    ctx.cache["indicators"] = table
    city = table[table["scope"] == "city"]
    county = city[city["road_class"].isna()]  # the county-wide rows, not the per-road-class ones
    return {"city": _records(city), "zones": _records(table[table["scope"] == "zone"]),
            "passed": int(county["passed"].fillna(False).astype(bool).sum()),
            "assessed": int(county["passed"].notna().sum())}


def _section_county_map(ctx: _Context) -> dict:
    from .webmap import write_all_maps

    audit = ctx.cache.get("audit")
    maps_dir = ctx.out / "maps"
    paths = write_all_maps(ctx.ws, maps_dir, audit=audit if audit is not None else "auto", progress=False)
    ctx.add(*paths)
    png = county_overview_png(ctx.ws, ctx.out / "county.png", audit=audit)
    ctx.add(png)
    return {"county": ctx.rel(paths[0]), "index": ctx.rel(maps_dir / "index.html"), "png": ctx.rel(png),
            "zones": [ctx.rel(p) for p in paths[1:]]}


def _section_audit(ctx: _Context) -> dict:
    from .audit import audit_workspace

    result = audit_workspace(ctx.ws)
    ctx.cache["audit"] = result
    return result.to_dict()


def _section_zones(ctx: _Context) -> dict:
    """Zones ranked worst first: failed zone indicators, then overdue cases, then open cases."""
    from .zones import columns_zh, zone_summary

    table = zone_summary(ctx.ws, as_of=ctx.as_of)
    indicators = ctx.cache.get("indicators")
    if indicators is not None:
        zone_rows = indicators[indicators["scope"] == "zone"]
        failed = zone_rows[zone_rows["passed"] == False].groupby("zone_id")["indicator"].agg(  # noqa: E712
            lambda s: "、".join(sorted(set(s))))
        table["failed_indicators"] = table["zone_id"].map(failed).fillna("")
        table["n_failed"] = table["zone_id"].map(zone_rows[zone_rows["passed"] == False]  # noqa: E712
                                                 .groupby("zone_id").size()).fillna(0).astype(int)
    else:
        table["failed_indicators"], table["n_failed"] = "", 0
    table = table.sort_values(["n_failed", "cases_overdue", "cases_open"], ascending=False)
    headers = columns_zh() | {"n_failed": "未达标指标数", "failed_indicators": "未达标指标"}
    return {"table": _records(table), "headers": headers, "worst": _records(table.head(10))}


def _section_ledger(ctx: _Context) -> dict:
    from .ledger import ledger_workspace, write_ledger_xlsx

    ledger = ledger_workspace(ctx.ws, as_of=ctx.as_of)
    path = write_ledger_xlsx(ledger, ctx.out / "ledger.xlsx")
    ctx.add(path)
    return ledger.to_dict() | {"xlsx": ctx.rel(path)}


def _section_hotspots(ctx: _Context) -> dict:
    from .hotspots import write_hotspots

    result = write_hotspots(ctx.ws, ctx.out / "hotspots", as_of=ctx.as_of)
    ctx.add(*result.written)
    return result.to_dict() | {"files": {k: ctx.rel(v) for k, v in result.files.items()}}


def _section_greening(ctx: _Context) -> dict:
    from .greening import plan_greening, write_outputs

    plan = plan_greening(ctx.ws, sites=ctx.sites)
    files = write_outputs(plan, ctx.out / "greening", boundary=ctx.ws.read("built_up"))
    ctx.add(*files.values())
    return plan.to_dict() | {"files": {k: ctx.rel(v) for k, v in files.items()},
                             "what_if_table": _records(plan.what_if)}


def _section_patrol(ctx: _Context) -> dict:
    if not ctx.patrol_maps:
        return {"skipped": True, "maps": []}
    from .printmaps import render_patrol_maps

    paths = render_patrol_maps(ctx.ws, out_dir=ctx.out / "patrol", fmt="pdf", progress=ctx.progress,
                               as_of=ctx.as_of)
    ctx.add(*paths)
    return {"skipped": False, "maps": [ctx.rel(p) for p in paths]}


# ---------------------------------------------------------------------- rendering
def county_overview_png(ws: Workspace, path, *, audit=None, dpi: int = 110) -> Path:
    """A static county map for the printed report: zones, roads, and the audit's gaps and overlaps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from .printmaps import cjk_font

    font = cjk_font()
    fig, ax = plt.subplots(figsize=(8, 6.5), dpi=dpi)
    built = ws.read("built_up")
    built.boundary.plot(ax=ax, color="#444", linewidth=1.2, linestyle="--")
    handles = []
    if ws.has("zones"):
        zones = ws.read("zones")
        zones.plot(ax=ax, column="zone_id", cmap="tab20", alpha=0.35, edgecolor="#1f5fbf", linewidth=0.6)
        handles.append(Patch(facecolor="#9ecae1", edgecolor="#1f5fbf", label="包保责任区"))
    if ws.has("roads"):
        ws.read("roads").plot(ax=ax, color="#616161", linewidth=0.5)
    if audit is not None:
        if len(audit.gaps):
            audit.gaps.plot(ax=ax, color="#e53935", edgecolor="#b71c1c", linewidth=1.5)
            handles.append(Patch(facecolor="#e53935", label=f"空白区（死角）{len(audit.gaps)} 处"))
        if len(audit.overlaps):
            audit.overlaps.plot(ax=ax, color="#ff9800", edgecolor="#e65100", linewidth=1.5)
            handles.append(Patch(facecolor="#ff9800", label=f"重叠区 {len(audit.overlaps)} 处"))
    ax.set_axis_off()
    ax.set_aspect("equal")
    ax.set_title("全县包保责任区与覆盖检查", fontproperties=font, fontsize=14)
    if handles:
        ax.legend(handles=handles, prop=font, loc="lower right", fontsize=9, framealpha=0.9)
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def render_html(data: dict) -> str:
    """The report page from the report's JSON data (a Jinja2 template, Chinese, no external assets)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("civgis", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]))
    env.filters["num"] = _format_number
    env.filters["cmp"] = lambda op: {">=": "≥", "<=": "≤"}.get(op, op or "")
    return env.get_template("report.html.j2").render(**data, section_titles=dict(SECTIONS))


def _format_number(value, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return html.escape(str(value))


# ---------------------------------------------------------------------- helpers
def _records(df: pd.DataFrame) -> list[dict]:
    return json.loads(df.to_json(orient="records", force_ascii=False, date_format="iso", double_precision=15))


def _explain(exc: Exception) -> str:
    text = str(exc).strip().strip("'\"") or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if not any("\u4e00" <= ch <= "\u9fff" for ch in text) else text


def _json_default(value):
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if value is pd.NA:
        return None
    return str(value)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm
    import sys

    return tqdm(total=total, file=sys.stderr, disable=not enabled, unit="项")
