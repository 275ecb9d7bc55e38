"""The readiness report (迎检准备报告): one page for the bureau's leaders, readable offline.

``write_report(ws, out_dir)`` computes every section from the same functions the CLI commands
use (so the numbers are the same), writes ``report.json`` with all of them, renders
``index.html`` from that JSON (Chinese, no CDN, printable), and writes beside it the ledger
(``ledger.xlsx``), the interactive maps (``maps/``), the hotspot outputs (``hotspots/``), the
greening plan (``greening/``) and every zone's patrol map (``patrol/``).

A section that fails (a malformed layer, a missing one) does not stop the report: the section
says what went wrong and how to fix it, and the rest is reported. Each :class:`Section` names the
workspace layers it needs (``layers``) and the ones it uses when present (``uses``): a section
whose needed layers are missing is not attempted and says which are missing; a section built
without some of its optional layers says what it left out (``partial``). ``ReportResult.incomplete``
lists the sections that could not be made; ``civgis report`` prints their number last and exits
with it (0 when every section is made).
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing as mp
import os
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable
from pathlib import Path

import pandas as pd

from civgis.analysis.zones import columns_zh
from civgis.errors import one_line
from civgis.forking import batch_collector, fork_is_safe, freeze_before_fork
from civgis.progress import progress as progress_bar
from civgis.run.context import RunContext
from civgis.store.catalogue import layer_spec
from civgis.store.workspace import Workspace

# The renderers (matplotlib, folium, openpyxl, fontTools …: ~1 s of imports) are imported by the sections
# that use them, not here: the report forks its background sections right after reading the layers, so the
# hot-spot and patrol-map processes import what they draw while this one imports the rest, on the other core.

__all__ = ["SECTIONS", "Section", "ReportResult", "write_report", "failing_indicators_by_zone", "unit_scorecard",
           "layer_title"]

@dataclass(frozen=True)
class Section:
    """One part of the report: its key, its Chinese title, the function that builds it, the
    run-context results it reads (documentation of the data flow; each is computed once), the
    workspace layers it cannot do without (``layers``) and those it uses when present (``uses``)."""

    key: str
    title: str
    build: Callable[["_Output", RunContext], dict]
    needs: tuple[str, ...] = ()
    layers: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()
    background: bool = False   # needs only the layers: built in a process forked at the start, at a lower priority
    alongside: bool = False   # built in a process forked when the report reaches it, beside the sections after it


@dataclass
class ReportResult:
    """What ``write_report`` produced: the index page, every file written, and failed sections."""

    index: Path
    data: dict
    written: list[Path] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def incomplete(self) -> list[str]:
        """Titles of the sections that could not be made (a needed layer missing, or an error)."""
        return [s["title"] for s in self.data["sections"].values() if not s.get("ok")]


class _Output:
    """The report folder and the files written into it."""

    def __init__(self, out: Path, patrol_maps: bool, progress: bool):
        self.out, self.patrol_maps, self.progress = out, patrol_maps, progress
        self.written: list[Path] = []
        self.workers: int | None = None   # processes for the patrol maps (None: one per core)

    def rel(self, path: Path) -> str:
        return os.path.relpath(path, self.out)

    def add(self, *paths: Path) -> None:
        self.written.extend(Path(p) for p in paths)


@batch_collector()   # a batch of short-lived frames and artists, with forked sections sharing what it read
def write_report(ws: Workspace, out_dir, *, as_of=None, sites: int = 5, patrol_maps: bool = True,
                 progress: bool = False, validation=None, run: RunContext | None = None) -> ReportResult:
    """Compute every section and write the report folder. See the module docstring.

    ``run``: an open :class:`RunContext` of ``ws`` whose analyses are already computed (the
    province command's county task): the report reuses them instead of computing them again;
    its ``as_of`` is the run's. The caller closes it.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    output = _Output(out, patrol_maps, progress)
    if run is not None:
        data, errors, charts = _build_sections(output, run)
    else:
        with RunContext(ws, as_of=as_of, sites=sites, validation=validation) as own_run:
            data, errors, charts = _build_sections(output, own_run)
    json_path = out / "report.json"
    _atomic_write(json_path, json.dumps(data, ensure_ascii=False, indent=1, default=_json_default))
    from civgis.render.report import render_html  # lazy: after the background fork (see the imports)

    index = out / "index.html"
    _atomic_write(index, render_html(data, charts))
    output.add(json_path, index)
    return ReportResult(index=index, data=data, written=output.written, errors=errors)


def _build_sections(output: _Output, run: RunContext) -> tuple[dict, dict[str, str], dict | None]:
    """Every section's data, the failed sections' errors, and the page's charts (None: not drawn yet)."""
    generated = dt.datetime.now().isoformat(timespec="seconds")
    errors: dict[str, str] = {}
    bar = progress_bar(total=len(SECTIONS), unit="项", enabled=output.progress)
    with _Background.start(output, run, [s for s in SECTIONS if s.background]) as background:
        data: dict = {"title": "创建全国文明城市 迎检准备报告", "workspace": str(run.workspace.path),
                      "county": _county_name(run), "as_of": run.as_of.date().isoformat(),
                      "generated": generated, "sections": {}}
        built: dict[str, dict] = {}
        # this process's own sections in page order (a section built alongside forks when reached), then the
        # page's charts while the others still draw, then the forked sections' results
        for section in SECTIONS:
            if background.has(section.key) or (section.alongside and background.fork(section, output, run)):
                continue
            bar.set_description(f"报告 {section.title}")
            started = time.perf_counter()
            built[section.key] = _build_one(section, output, run)
            built[section.key]["seconds"] = round(time.perf_counter() - started, 2)
            bar.update(1)
        charts = _charts_now(built)
        for section in SECTIONS:
            if section.key not in built:
                bar.set_description(f"报告 {section.title}")
                built[section.key] = background.result(section.key, output)
                bar.update(1)
    bar.close()
    for section in SECTIONS:   # the report's page order
        if not built[section.key]["ok"]:
            errors[section.title] = built[section.key]["error"]
        data["sections"][section.key] = built[section.key] | {"title": section.title}
    return data, errors, charts


def _charts_now(built: dict[str, dict]) -> dict | None:
    """The page's charts from the sections built so far, or None if one they are drawn from is not built.

    The page's template is compiled here too: this runs while the background sections are still
    drawing, and what is left after them (the page itself) is time the cores are not shared.
    """
    from civgis.render.report import CHART_SECTIONS, report_charts, report_template  # lazy: after the fork

    report_template()
    if not all(key in built for key in CHART_SECTIONS):
        return None
    return report_charts(built)


#: the layers the background sections read (read before the fork, so once per run)
BACKGROUND_READS = ("zones", "built_up", "roads", "lamps", "toilets", "green", "residential", "inspections")


class _Background:
    """Sections built in forked processes, one per section, while this one builds the others.

    The patrol maps are the report's largest section and need nothing the other sections
    compute, only the layers and the instant. A background section gets a process of its own from
    the start (the patrol maps' process draws its zones in a pool over the cores), at a lower
    priority (:func:`_lower_priority`), so the machine's cores share all the work and the
    report's wall time is about its CPU time divided by the cores instead of the sections' sum.

    A section built alongside (``Section.alongside``: the hot spots) is forked when this process
    reaches it, at this process's priority, and this process goes on with the sections after it.
    Forked then, it shares the renderers the sections before it imported (matplotlib, folium,
    scipy: ~1 s of CPU a process when it was forked at the start) and takes the second core from
    the patrol maps, which are left what the two processes leave. Built here instead, it was the
    last third of this process's work, alone on one core whenever the patrol maps finished first.

    The processes are forked (the layers read here are
    shared, not copied or pickled) only where fork is safe: a platform that has it and no other
    thread alive in this process (in a dask worker or a threaded notebook the sections are built
    inline, as before). Each section's result comes back as its JSON-ready dict and the files it
    wrote; ``seconds`` is the section's own time in its process and ``waited_seconds`` how long
    the report waited for it.
    """

    def __init__(self, jobs: dict | None = None):
        self.jobs: dict[str, tuple] = jobs or {}

    @classmethod
    def start(cls, output: "_Output", run: RunContext, sections: list[Section]) -> "_Background":
        stored = set(run.layers.layers())
        sections = [s for s in sections if set(s.layers) <= stored and (s.key != "patrol" or output.patrol_maps)]
        if not sections or not _fork_is_safe():
            return cls()
        for name in sorted(set(BACKGROUND_READS) & stored):
            run.layers.read(name)  # read here, once: the forked processes share them
        _case_states(run)  # so are the case states (the patrol maps' and this process's)
        freeze_before_fork()  # no collection in either process scans (and so copies) what they share
        background = cls()
        for section in sections:
            background._fork(section, output, run, lower=True)
        return background

    def fork(self, section: Section, output: "_Output", run: RunContext) -> bool:
        """Build ``section`` in a process forked now, at this process's priority; False (build it here) when its
        layers are missing or fork is not safe."""
        if not set(section.layers) <= set(run.layers.layers()) or not _fork_is_safe():
            return False
        freeze_before_fork()
        self._fork(section, output, run, lower=False)
        return True

    def _fork(self, section: Section, output: "_Output", run: RunContext, *, lower: bool) -> None:
        parent, child = mp.Pipe(duplex=False)
        # not a daemon: the patrol maps' process starts a pool of its own
        process = mp.get_context("fork").Process(target=_background_child, name=f"civgis-{section.key}",
                                                 args=(child, section, output, run, lower))
        process.start()
        child.close()
        self.jobs[section.key] = (process, parent)

    @property
    def running(self) -> bool:
        return bool(self.jobs)

    def has(self, key: str) -> bool:
        return key in self.jobs

    def result(self, key: str, output: "_Output") -> dict:
        """Section ``key`` as its process built it (waiting for it); its files join ``output``."""
        waited = time.perf_counter()
        process, conn = self.jobs[key]
        try:
            built, written = conn.recv()
        except EOFError:  # the process died without a word (killed, out of memory)
            process.join()
            built, written = _failed(f"报告后台进程意外退出（退出码 {process.exitcode}）"), []
        process.join()
        output.add(*written)
        return built | {"background": True, "waited_seconds": round(time.perf_counter() - waited, 2)}

    def __enter__(self) -> "_Background":
        return self

    def __exit__(self, *exc) -> None:
        for process, conn in self.jobs.values():
            if process.is_alive() and exc[0] is not None:  # an interrupted report leaves no orphan
                process.terminate()
            process.join()
            conn.close()


def _fork_is_safe() -> bool:
    """Whether the background sections may fork now (a name of its own: tests replace it)."""
    return fork_is_safe()


def _failed(error: str) -> dict:
    return {"ok": False, "error": error}


def _background_child(conn, section: Section, output: "_Output", run: RunContext, lower: bool = True) -> None:
    """Runs in the forked process: build the section and send ``(built, files written)``."""
    if lower:
        _lower_priority()
    output.progress = False  # the report's own bar shows the sections; more bars would garble the terminal
    output.written = []
    started = time.perf_counter()
    try:
        built = _build_one(section, output, run)
    except BaseException as exc:  # _build_one reports section errors; this is anything else
        built = _failed(one_line(exc))
    built["seconds"] = round(time.perf_counter() - started, 2)
    conn.send((_json_ready(built), list(output.written)))
    conn.close()


#: how much lower the background sections' CPU priority is than this process's (``os.nice`` steps)
BACKGROUND_NICENESS = 10


def _lower_priority() -> None:
    """Yield the CPU to the report's own process while it has sections to build.

    With equal priorities the two cores were shared four ways (this process, the hot spots' process and
    the patrol maps' two workers), so this process, which has the most sections, got a quarter to a
    third of the machine and finished last, alone on one core with the other idle (~1.5 s of the
    demo's wall time). At a lower priority the background takes what this process leaves, and all of
    the machine once this process has built its sections and waits; the patrol maps' zones are drawn
    by several workers, so they keep both cores busy to the end.
    """
    try:
        os.nice(BACKGROUND_NICENESS)
    except (AttributeError, OSError):  # no nice on this platform, or not permitted: same priority, same result
        pass


def _json_ready(built: dict) -> dict:
    """The section's dict as it will be written to report.json (so it crosses processes as data)."""
    return json.loads(json.dumps(built, ensure_ascii=False, default=_json_default))


def _build_one(section: Section, output: _Output, run: RunContext) -> dict:
    """One section's data, or why it could not be made: its needed layers, the missing ones, the error."""
    stored = set(run.layers.layers())
    missing = [name for name in section.layers if name not in stored]
    status = {"needs": [layer_title(n) for n in section.layers],
              "missing": [layer_title(n) for n in missing],
              "partial": [layer_title(n) for n in section.uses if n not in stored]}
    if missing:
        return status | {"ok": False, "error": f"需要图层：{'、'.join(status['needs'])}；缺少：{'、'.join(status['missing'])}。"
                                                f"导入后重新运行即可生成本部分。"}
    try:
        return section.build(output, run) | status | {"ok": True}
    except Exception as exc:  # a section's failure is reported in the section, not fatal
        return status | {"ok": False, "error": one_line(exc), "trace": traceback.format_exc(limit=3)}


def layer_title(name: str) -> str:
    """The Chinese title of a catalogue layer (``zones`` → 责任区), the name itself when unknown."""
    try:
        return layer_spec(name).title_zh
    except Exception:  # not a catalogue layer: show it as it is
        return name


def _county_name(run: RunContext) -> str:
    from civgis.render.ledger_xlsx import county_of  # lazy: after the background fork (see the imports)

    built = _optional(lambda: run.layers.read_optional("built_up"))
    return county_of(built["name"]) if built is not None and "name" in built else ""


# ---------------------------------------------------------------------- sections
_GEOMETRY_ZH = {"Point": "点", "MultiPoint": "点", "LineString": "线", "MultiLineString": "线",
                "Polygon": "面", "MultiPolygon": "面"}


def _overview(output: _Output, run: RunContext) -> dict:
    problems = run.validation
    summary = run.layers.summary()
    stored = set(summary["layer"])
    geometry = [_GEOMETRY_ZH.get(g, "栅格" if str(g).startswith("raster") else g) for g in summary["geometry"]]
    absent = sorted({n for s in SECTIONS for n in s.layers + s.uses} - stored)
    return {
        "layers": summary.assign(extent=summary["extent"].astype(str), geometry_zh=geometry).to_dict(orient="records"),
        "absent": [{"layer": n, "title_zh": layer_title(n),
                    "sections": [s.title for s in SECTIONS if n in s.layers + s.uses]} for n in absent],
        "crs": run.layers.crs.name if run.layers.crs else "",
        "epsg": run.layers.crs.to_epsg() if run.layers.crs else None,
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
    from civgis.render.report import county_overview_png  # lazy: after the background fork (see the imports)
    from civgis.render.webmap import write_all_maps  # lazy: after the background fork (see the imports)

    audit = _optional(lambda: run.audit) if run.layers.has("zones") else None
    maps_dir = output.out / "maps"
    # workers=1: the report already draws the patrol maps in processes of their own beside
    # this one; a pool here only adds processes to share the same cores (more CPU for the pages, no less wall)
    paths = write_all_maps(run.layers, maps_dir, audit=audit, progress=False, as_of=run.as_of,
                           states=_case_states(run), workers=1)
    output.add(*paths)
    names = _zone_names(run)
    zone_maps = [{"zone_id": zid, "name": names.get(zid, zid), "href": output.rel(p)}
                 for zid, p in zip(names, paths[1:])]
    result = {"county": output.rel(paths[0]), "index": output.rel(maps_dir / "index.html"), "png": None,
              "zones": zone_maps, "warnings": []}
    try:  # the web maps are written: a failed static picture must not hide them
        png = county_overview_png(run.layers, output.out / "county.png", audit=audit)
        output.add(png)
        result["png"] = output.rel(png)
    except Exception as exc:  # reported in the section beside the links to the written maps
        result["warnings"].append(f"全县静态图未能生成：{one_line(exc)}")
    return result


def _zone_names(run: RunContext) -> dict[str, str]:
    """zone_id → zone name, in the zones layer's order (empty without zones)."""
    zones = run.layers.read_optional("zones")
    if zones is None:
        return {}
    ids = zones["zone_id"].astype("string")
    names = zones["name"].astype("string").fillna(ids) if "name" in zones else ids
    return dict(zip(ids.tolist(), names.tolist()))


def _audit(output: _Output, run: RunContext) -> dict:
    result = run.audit.to_dict()
    result["unassigned_zh"] = [
        {"layer": layer, "title_zh": layer_title(layer) + ("（未结）" if layer == "inspections" else ""),
         "n": len(ids), "n_in_built_up": len(result["unassigned_in_built_up"].get(layer, [])),
         "sample_in_built_up": result["unassigned_in_built_up"].get(layer, [])[:12]}
        for layer, ids in result["unassigned"].items() if ids]
    return result


def failing_indicators_by_zone(indicators: pd.DataFrame) -> pd.DataFrame:
    """Per zone: the indicators that fail (each counted once, over the zone's own rows, not per road class).

    The same rows ``civgis indicators --zones`` prints: scope ``zone``, no road class, ``passed`` False.
    ``failed_indicators`` joins the indicator keys, ``failed_indicators_zh`` their Chinese names.
    """
    rows = indicators[(indicators["scope"] == "zone") & indicators["road_class"].isna()
                      & (indicators["passed"] == False)]  # noqa: E712 (nullable booleans)
    grouped = rows.groupby("zone_id")
    return pd.DataFrame({"n_failed": grouped["indicator"].nunique(),
                         "failed_indicators": grouped["indicator"].agg(lambda s: "、".join(sorted(set(s)))),
                         "failed_indicators_zh": grouped["name_zh"].agg(lambda s: "、".join(dict.fromkeys(s)))})


def _zones(output: _Output, run: RunContext) -> dict:
    """Zones ranked worst first: failed zone indicators, then overdue cases, then open cases."""
    table = _ranked_zones(run)
    headers = columns_zh() | {"n_failed": "未达标指标数", "failed_indicators_zh": "未达标指标"}
    unknown = table["lamps_broken"].isna() & (table["lamps"] > 0)
    warnings = [f"{int(unknown.sum())} 个责任区的路灯均未记录状态（如 OpenStreetMap 导入）：其故障路灯显示为无数据。"
                "巡查后在 lamps 图层填写 status（working／broken）即可统计。"] if unknown.any() else []
    return {"table": _records(table), "headers": headers, "worst": _records(table.head(10)), "warnings": warnings}


def _ranked_zones(run: RunContext) -> pd.DataFrame:
    table = run.zone_summary.copy()
    indicators = _optional(lambda: run.indicators)
    if indicators is not None and (indicators["scope"] == "zone").any():
        failing = failing_indicators_by_zone(indicators)
        for column in ("failed_indicators", "failed_indicators_zh"):
            table[column] = table["zone_id"].map(failing[column]).fillna("")
        table["n_failed"] = table["zone_id"].map(failing["n_failed"]).fillna(0).astype(int)
    else:
        table["failed_indicators"], table["failed_indicators_zh"], table["n_failed"] = "", "", 0
    return table.sort_values(["n_failed", "cases_overdue", "cases_open"], ascending=False)


def unit_scorecard(indicators: pd.DataFrame | None, zones: pd.DataFrame | None,
                   by_unit: pd.DataFrame | None) -> pd.DataFrame:
    """One row per responsible unit: its county indicators, its zones, their overdue cases, its closure rate.

    Parameters
    ----------
    indicators : the ``compute_indicators`` table (county rows: scope ``city``, no road class), or None
    zones : the ranked zone summary (``unit``, ``cases_overdue``, ``n_failed``), or None
    by_unit : the ledger's ``by_unit`` table (``unit``, ``cases``, ``overdue``, ``closure_rate``), or None

    Returns
    -------
    DataFrame with ``unit, n_indicators, n_passed, n_failed_indicators, failed_zh, n_zones,
    zone_indicator_failures, cases, overdue, closure_rate``; closure rate in percent
    (100 · closed ÷ cases, the ledger's own rate), NaN where the unit has no cases. Counts a unit
    has no data for are NaN, not 0.
    """
    parts = []
    if indicators is not None:
        county = indicators[(indicators["scope"] == "city") & indicators["road_class"].isna()
                            & indicators["responsible_unit"].notna()]
        judged = county.assign(assessed=county["passed"].notna(), ok=county["passed"].fillna(False).astype(bool),
                               bad=(county["passed"] == False).fillna(False).astype(bool))  # noqa: E712
        grouped = judged.groupby("responsible_unit")
        parts.append(pd.DataFrame({
            "n_indicators": grouped["assessed"].sum(), "n_passed": grouped["ok"].sum(),
            "failed_zh": grouped.apply(lambda g: "、".join(g.loc[g["bad"], "name_zh"]), include_groups=False)}))
    if zones is not None and "unit" in zones:
        grouped = zones.groupby(zones["unit"].fillna("未填写责任单位"))
        parts.append(pd.DataFrame({"n_zones": grouped.size(), "zone_indicator_failures": grouped["n_failed"].sum()}))
    if by_unit is not None and len(by_unit):
        ledger = by_unit.set_index("unit")
        parts.append(pd.DataFrame({"cases": ledger["cases"], "overdue": ledger["overdue"],
                                   "closure_rate": 100.0 * ledger["closure_rate"]}))
    table = pd.concat(parts, axis=1) if parts else pd.DataFrame()
    if "n_indicators" in table:
        table["n_failed_indicators"] = table["n_indicators"] - table["n_passed"]
    table.index.name = "unit"
    columns = ["n_indicators", "n_passed", "n_failed_indicators", "failed_zh", "n_zones", "zone_indicator_failures",
               "cases", "overdue", "closure_rate"]
    return table.reindex(columns=columns).reset_index()


def _scorecard(output: _Output, run: RunContext) -> dict:
    indicators = _optional(lambda: run.indicators)
    zones = _optional(lambda: _ranked_zones(run)) if run.layers.has("zones") else None
    ledger = _optional(lambda: run.ledger) if run.layers.has("inspections") else None
    by_unit = pd.DataFrame(ledger.to_dict()["by_unit"]) if ledger is not None else None
    table = unit_scorecard(indicators, zones, by_unit)
    if table.empty:
        raise ValueError("没有可按责任单位汇总的指标、责任区或案件")
    return {"table": _records(table)}


def _ledger(output: _Output, run: RunContext) -> dict:
    from civgis.render.ledger_xlsx import write_ledger_xlsx  # lazy: after the background fork (see the imports)

    path = write_ledger_xlsx(run.ledger, output.out / "ledger.xlsx", county=_county_name(run))
    output.add(path)
    return run.ledger.to_dict() | {"xlsx": output.rel(path)}


def _hotspots(output: _Output, run: RunContext) -> dict:
    from civgis.analysis.trends import CATEGORY_LABELS_ZH  # lazy: after the background fork (see the imports)
    from civgis.run.hotspots import write_hotspots  # lazy: after the background fork (see the imports)

    result = write_hotspots(run.layers, output.out / "hotspots", as_of=run.as_of, states=_case_states(run))
    output.add(*result.written)
    data = result.to_dict() | {"files": {k: output.rel(v) for k, v in result.files.items()}}
    if data.get("emerging"):
        data["emerging"]["categories_zh"] = [{"code": k, "label_zh": CATEGORY_LABELS_ZH.get(k, k), "n": v}
                                             for k, v in data["emerging"]["categories"].items()]
    return data


def _greening(output: _Output, run: RunContext) -> dict:
    from civgis.render.greening import write_outputs  # lazy: after the background fork (see the imports)

    plan = run.greening
    files = write_outputs(plan, output.out / "greening", boundary=run.layers.read("built_up"),
                          zones=run.layers.read_optional("zones"), roads=run.layers.read_optional("roads"))
    output.add(*files.values())
    indicators = _optional(lambda: run.indicators)
    in_built_up = None
    if indicators is not None:
        rows = indicators[(indicators["indicator"] == "residents") & (indicators["scope"] == "city")]
        in_built_up = float(rows["value"].iloc[0]) if len(rows) and pd.notna(rows["value"].iloc[0]) else None
    return plan.to_dict() | {"files": {k: output.rel(v) for k, v in files.items()},
                             "what_if_table": _records(plan.what_if), "residents_in_built_up": in_built_up}


def _patrol(output: _Output, run: RunContext) -> dict:
    if not output.patrol_maps:
        return {"skipped": True, "maps": []}
    from civgis.render import printmaps  # lazy: after the background fork (see the imports)

    paths = printmaps.render_patrol_maps(run.layers, out_dir=output.out / "patrol", fmt="pdf",
                                         progress=output.progress, as_of=run.as_of, workers=output.workers,
                                         states=_case_states(run))
    output.add(*paths)
    names = _zone_names(run)
    maps = []
    for p in paths:
        zid = p.stem.removeprefix("patrol_")
        label = "全部责任区合订本" if p.stem == "patrol_maps" else f"{names.get(zid, zid)}（{zid}）"
        maps.append({"href": output.rel(p), "label": label, "zone_id": zid if zid in names else None})
    return {"skipped": False, "maps": maps}


def _plan(output: _Output, run: RunContext) -> dict:
    from civgis.run.plan import plan_section  # lazy: after the background fork (see the imports)

    return plan_section(run, output.out / "plan", rel=output.rel, add=output.add)


#: The report's parts in page order; ``needs`` names the run-context results each one reads,
#: ``layers`` the workspace layers it cannot do without, ``uses`` those it uses when present.
SECTIONS: list[Section] = [
    Section("overview", "数据概况", _overview, needs=("validation",)),
    Section("indicators", "创建指标达标情况", _indicators, needs=("indicators",), layers=("built_up",),
            uses=("zones", "green", "roads", "lamps", "toilets", "residential", "canopy")),
    Section("audit", "责任区全覆盖检查", _audit, needs=("audit",), layers=("built_up", "zones"),
            uses=("lamps", "toilets", "roads", "inspections")),
    Section("county_map", "县域地图", _county_map, needs=("audit",), layers=("built_up",),
            uses=("zones", "roads", "lamps", "toilets", "green", "residential", "inspections")),
    Section("zones", "责任区排名", _zones, needs=("zone_summary", "indicators"), layers=("built_up", "zones"),
            uses=("inspections", "lamps")),
    Section("scorecard", "责任单位记分卡", _scorecard, needs=("indicators", "zone_summary", "ledger"),
            layers=("built_up",), uses=("zones", "inspections")),
    Section("ledger", "问题整改台账", _ledger, needs=("ledger",), layers=("inspections",), uses=("zones",)),
    # forked when reached (see _Background): forked at the start it imported matplotlib, folium and scipy
    # again (demo, 4 alternated runs each: median 13.4 -> 12.4 s built here, CPU 22 -> 20 s)
    Section("hotspots", "问题热点与趋势", _hotspots, layers=("inspections",), uses=("zones",), alongside=True),
    Section("greening", "见缝插绿方案", _greening, needs=("greening",), layers=("built_up", "residential"),
            uses=("candidates", "canopy", "green")),
    Section("patrol", "责任区巡查图", _patrol, layers=("zones",), uses=("inspections", "lamps"), background=True),
    Section("plan", "达标路径", _plan,
            needs=("indicators", "audit"), layers=("built_up", "zones")),
]


def _case_states(run: RunContext):
    """The run's case states for a section that uses them (None without inspections or when they fail)."""
    return _optional(lambda: run.case_states) if run.layers.has("inspections") else None


def _optional(get):
    """A run-context result, or None when it cannot be computed (its own section reports why)."""
    try:
        return get()
    except Exception:  # the section that owns this result shows the error
        return None


# ---------------------------------------------------------------------- helpers
def _records(df: pd.DataFrame) -> list[dict]:
    return json.loads(df.to_json(orient="records", force_ascii=False, date_format="iso", double_precision=15))


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
