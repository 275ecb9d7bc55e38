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
import json
import os
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable
from pathlib import Path

import pandas as pd

from civgis.analysis.zones import columns_zh
from civgis.progress import progress as progress_bar
from civgis.render.greening import write_outputs
from civgis.render.ledger_xlsx import county_of, write_ledger_xlsx
from civgis.render.printmaps import render_patrol_maps
from civgis.render.report import county_overview_png, render_html
from civgis.render.webmap import write_all_maps
from civgis.run.context import RunContext
from civgis.run.hotspots import write_hotspots
from civgis.run.plan import plan_section
from civgis.store.workspace import Workspace

__all__ = ["SECTIONS", "Section", "ReportResult", "write_report", "failing_indicators_by_zone"]

@dataclass(frozen=True)
class Section:
    """One part of the report: its key, its Chinese title, the function that builds it, and the
    run-context results it reads (documentation of the data flow; each is computed once)."""

    key: str
    title: str
    build: Callable[["_Output", RunContext], dict]
    needs: tuple[str, ...] = ()


@dataclass
class ReportResult:
    """What ``write_report`` produced: the index page, every file written, and failed sections."""

    index: Path
    data: dict
    written: list[Path] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


class _Output:
    """The report folder and the files written into it."""

    def __init__(self, out: Path, patrol_maps: bool, progress: bool):
        self.out, self.patrol_maps, self.progress = out, patrol_maps, progress
        self.written: list[Path] = []

    def rel(self, path: Path) -> str:
        return os.path.relpath(path, self.out)

    def add(self, *paths: Path) -> None:
        self.written.extend(Path(p) for p in paths)


def write_report(ws: Workspace, out_dir, *, as_of=None, sites: int = 5, patrol_maps: bool = True,
                 progress: bool = False, validation=None) -> ReportResult:
    """Compute every section and write the report folder. See the module docstring."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    output = _Output(out, patrol_maps, progress)
    with RunContext(ws, as_of=as_of, sites=sites, validation=validation) as run:
        data, errors = _build_sections(output, run)
    json_path = out / "report.json"
    _atomic_write(json_path, json.dumps(data, ensure_ascii=False, indent=1, default=_json_default))
    index = out / "index.html"
    _atomic_write(index, render_html(data))
    output.add(json_path, index)
    return ReportResult(index=index, data=data, written=output.written, errors=errors)


def _build_sections(output: _Output, run: RunContext) -> tuple[dict, dict[str, str]]:
    data: dict = {"title": "创建全国文明城市 迎检准备报告", "workspace": str(run.workspace.path),
                  "as_of": run.as_of.date().isoformat(),
                  "generated": dt.datetime.now().isoformat(timespec="seconds"), "sections": {}}
    errors: dict[str, str] = {}
    bar = progress_bar(total=len(SECTIONS), unit="项", enabled=output.progress)
    for section in SECTIONS:
        bar.set_description(f"报告 {section.title}")
        started = time.perf_counter()
        try:
            built = section.build(output, run)
            built["ok"] = True
        except Exception as exc:  # a section's failure is reported in the section, not fatal
            errors[section.title] = _explain(exc)
            built = {"ok": False, "error": _explain(exc), "trace": traceback.format_exc(limit=3)}
        built["title"] = section.title
        built["seconds"] = round(time.perf_counter() - started, 2)
        data["sections"][section.key] = built
        bar.update(1)
    bar.close()
    return data, errors


# ---------------------------------------------------------------------- sections
def _overview(output: _Output, run: RunContext) -> dict:
    problems = run.validation
    summary = run.layers.summary()
    return {
        "layers": summary.assign(extent=summary["extent"].astype(str)).to_dict(orient="records"),
        "crs": run.layers.crs.name if run.layers.crs else "",
        "problems": [p.to_dict() | {"text": str(p)} for p in problems],
        "n_errors": sum(p.severity == "error" for p in problems),
    }


def _indicators(output: _Output, run: RunContext) -> dict:
    table = run.indicators
    city = table[table["scope"] == "city"]
    county = city[city["road_class"].isna()]  # the county-wide rows, not the per-road-class ones
    return {"city": _records(city), "zones": _records(table[table["scope"] == "zone"]),
            "passed": int(county["passed"].fillna(False).astype(bool).sum()),
            "assessed": int(county["passed"].notna().sum())}


def _county_map(output: _Output, run: RunContext) -> dict:
    audit = _optional(lambda: run.audit)
    maps_dir = output.out / "maps"
    paths = write_all_maps(run.layers, maps_dir, audit=audit if audit is not None else "auto", progress=False,
                           as_of=run.as_of)
    output.add(*paths)
    png = county_overview_png(run.layers, output.out / "county.png", audit=audit)
    output.add(png)
    return {"county": output.rel(paths[0]), "index": output.rel(maps_dir / "index.html"), "png": output.rel(png),
            "zones": [output.rel(p) for p in paths[1:]]}


def _audit(output: _Output, run: RunContext) -> dict:
    return run.audit.to_dict()


def failing_indicators_by_zone(indicators: pd.DataFrame) -> pd.DataFrame:
    """Per zone: the indicators that fail (each counted once, over the zone's own rows, not per road class).

    The same rows ``civgis indicators --zones`` prints: scope ``zone``, no road class, ``passed`` False.
    """
    rows = indicators[(indicators["scope"] == "zone") & indicators["road_class"].isna()
                      & (indicators["passed"] == False)]  # noqa: E712 (nullable booleans)
    grouped = rows.groupby("zone_id")["indicator"]
    return pd.DataFrame({"n_failed": grouped.nunique(),
                         "failed_indicators": grouped.agg(lambda s: "、".join(sorted(set(s))))})


def _zones(output: _Output, run: RunContext) -> dict:
    """Zones ranked worst first: failed zone indicators, then overdue cases, then open cases."""
    table = run.zone_summary.copy()
    indicators = _optional(lambda: run.indicators)
    if indicators is not None:
        failing = failing_indicators_by_zone(indicators)
        table["failed_indicators"] = table["zone_id"].map(failing["failed_indicators"]).fillna("")
        table["n_failed"] = table["zone_id"].map(failing["n_failed"]).fillna(0).astype(int)
    else:
        table["failed_indicators"], table["n_failed"] = "", 0
    table = table.sort_values(["n_failed", "cases_overdue", "cases_open"], ascending=False)
    headers = columns_zh() | {"n_failed": "未达标指标数", "failed_indicators": "未达标指标"}
    return {"table": _records(table), "headers": headers, "worst": _records(table.head(10))}


def _ledger(output: _Output, run: RunContext) -> dict:
    built = run.layers.read_optional("built_up")
    county = county_of(built["name"]) if built is not None and "name" in built else ""
    path = write_ledger_xlsx(run.ledger, output.out / "ledger.xlsx", county=county)
    output.add(path)
    return run.ledger.to_dict() | {"xlsx": output.rel(path)}


def _hotspots(output: _Output, run: RunContext) -> dict:
    result = write_hotspots(run.layers, output.out / "hotspots", as_of=run.as_of)
    output.add(*result.written)
    return result.to_dict() | {"files": {k: output.rel(v) for k, v in result.files.items()}}


def _greening(output: _Output, run: RunContext) -> dict:
    plan = run.greening
    files = write_outputs(plan, output.out / "greening", boundary=run.layers.read("built_up"),
                          zones=run.layers.read_optional("zones"), roads=run.layers.read_optional("roads"))
    output.add(*files.values())
    return plan.to_dict() | {"files": {k: output.rel(v) for k, v in files.items()},
                             "what_if_table": _records(plan.what_if)}


def _patrol(output: _Output, run: RunContext) -> dict:
    if not output.patrol_maps:
        return {"skipped": True, "maps": []}
    paths = render_patrol_maps(run.layers, out_dir=output.out / "patrol", fmt="pdf", progress=output.progress,
                               as_of=run.as_of)
    output.add(*paths)
    return {"skipped": False, "maps": [output.rel(p) for p in paths]}


#: The report's parts in page order; ``needs`` names the run-context results each one reads.
SECTIONS: list[Section] = [
    Section("overview", "数据概况", _overview, needs=("validation",)),
    Section("indicators", "创建指标达标情况", _indicators, needs=("indicators",)),
    Section("audit", "责任区全覆盖检查", _audit, needs=("audit",)),
    Section("county_map", "县域地图", _county_map, needs=("audit",)),
    Section("zones", "责任区排名", _zones, needs=("zone_summary", "indicators")),
    Section("ledger", "问题整改台账", _ledger, needs=("ledger",)),
    Section("hotspots", "问题热点与趋势", _hotspots),
    Section("greening", "见缝插绿方案", _greening, needs=("greening",)),
    Section("patrol", "责任区巡查图", _patrol),
    Section("plan", "达标路径", lambda output, run: plan_section(run, output.out / "plan", rel=output.rel, add=output.add),
            needs=("indicators", "audit")),
]


def _optional(get):
    """A run-context result, or None when it cannot be computed (its own section reports why)."""
    try:
        return get()
    except Exception:  # the section that owns this result shows the error
        return None


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
