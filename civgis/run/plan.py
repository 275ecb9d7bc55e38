"""The pass plan of a workspace, written as files; the what-if copy; snapshots (长效管理).

``write_plan(ws, out_dir, inspection_date=D)`` plans from one :class:`RunContext` (the same
indicator numbers ``civgis indicators`` prints) and writes ``整改任务清单.xlsx``, the map of the
actions (``达标路径.png`` and ``达标路径.html``) and ``plan.json``.

``write_what_if(ws, copy_path, plan)`` copies the workspace and applies every proposed action to
the copy through :class:`~civgis.store.workspace.Workspace` (lamps added and repaired, toilets
added and retrofitted, parks added, roads swept, gaps joined), and records the plan's tasks in
the copy's history so a snapshot of the copy checks them.

``snapshot(ws, date=D)`` appends to the workspace table :data:`HISTORY_TABLE` the indicator table,
the ledger totals and the state of every task of the plan of record (the tasks of the latest
snapshot; a fresh plan when there is none), states read from the data
(:func:`civgis.analysis.plan.task_states`).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyogrio

from civgis.analysis.plan import PassPlan, PlanError, apply_plan, plan_workspace, task_states
from civgis.render.plan_map import plan_map_html, plan_map_png
from civgis.render.plan_xlsx import write_plan_xlsx
from civgis.run.context import RunContext
from civgis.store.targets import load_targets
from civgis.store.workspace import Workspace, WorkspaceError

__all__ = ["HISTORY_TABLE", "PlanOutputs", "default_inspection_date", "plan_run", "write_plan", "write_what_if",
           "snapshot", "read_history", "plan_of_record"]

#: the workspace table that keeps the snapshots
HISTORY_TABLE = "plan_history"
LAYERS = ("built_up", "zones", "green", "roads", "lamps", "toilets", "residential", "candidates")


@dataclass
class PlanOutputs:
    plan: PassPlan
    files: dict[str, Path] = field(default_factory=dict)


def default_inspection_date(targets, as_of) -> tuple[dt.date, str]:
    """The inspection date from the targets file ``[plan] inspection_date``, else 180 days ahead (with a note)."""
    d = targets.plan.get("inspection_date")
    if d:
        return pd.Timestamp(d).date(), ""
    day = pd.Timestamp(as_of).date() + dt.timedelta(days=180)
    return day, f"未设定迎检日期（目标文件 [plan] inspection_date 或 --inspection-date），按 {day.isoformat()} 估算"


def plan_run(run: RunContext, *, inspection_date, as_of=None) -> PassPlan:
    """The plan from a run context (city-wide indicator rows and the audit computed once)."""
    city = run.indicators[run.indicators["scope"] == "city"]
    return plan_workspace(run.layers, inspection_date=inspection_date, as_of=as_of or run.as_of,
                          indicators=city, audit=run.audit)


def write_plan(ws: Workspace, out_dir, *, inspection_date, as_of=None, what_if=None) -> PlanOutputs:
    """Plan and write ``整改任务清单.xlsx``, ``达标路径.png``, ``达标路径.html``, ``plan.json`` (and the what-if copy)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with RunContext(ws, as_of=as_of) as run:
        plan = plan_run(run, inspection_date=inspection_date, as_of=as_of)
        layers = {n: run.layers.read_optional(n) for n in LAYERS}
        audit = run.audit
    files = {"xlsx": write_plan_xlsx(plan, out / "整改任务清单.xlsx"),
             "png": plan_map_png(plan, layers, out / "达标路径.png"),
             "html": plan_map_html(plan, layers, out / "达标路径.html")}
    path = out / "plan.json"
    path.write_text(json.dumps(plan.to_dict(), ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    files["json"] = path
    if what_if is not None:
        files["what_if"] = write_what_if(ws, what_if, plan, audit=audit)
    return PlanOutputs(plan, files)


def write_what_if(ws: Workspace, copy_path, plan: PassPlan, *, audit=None) -> Path:
    """Copy the workspace to ``copy_path`` and apply every proposed action there (the original is untouched)."""
    copy_path = Path(copy_path)
    if copy_path.resolve() == Path(ws.path).resolve():
        raise PlanError(f"--what-if 的副本不能是工作空间本身: {copy_path}（换一个文件名）")
    tmp = copy_path.with_name(f".{copy_path.stem}.whatif.tmp.gpkg")
    shutil.copy2(ws.path, tmp)
    try:
        copy = Workspace(tmp)
        layers = {n: copy.read_optional(n) for n in LAYERS}
        for name, gdf in apply_plan(layers, plan, audit=audit, targets=load_targets(ws=ws)).items():
            copy.write(name, gdf, source="civgis plan --what-if", action="what-if")
        _append_history(copy, _history_rows(plan.as_of, tasks=task_states(plan.tasks, layers, date=plan.as_of)))
        tmp.replace(copy_path)
    finally:
        tmp.unlink(missing_ok=True)
    return copy_path


# ---------------------------------------------------------------------- history
def read_history(ws) -> pd.DataFrame:
    """The snapshots stored in a workspace (empty when there are none)."""
    path = Path(getattr(ws, "path", ws))
    if HISTORY_TABLE not in {str(n) for n, _ in pyogrio.list_layers(path)}:
        return pd.DataFrame(columns=_HISTORY_COLUMNS)
    return pd.DataFrame(pyogrio.read_dataframe(path, layer=HISTORY_TABLE, read_geometry=False))


_HISTORY_COLUMNS = ["snapshot_date", "kind", "key", "name_zh", "zone_id", "road_class", "value", "passed", "state",
                    "detail"]


def plan_of_record(history: pd.DataFrame) -> pd.DataFrame | None:
    """The tasks of the latest snapshot that has tasks (None when there is none)."""
    t = history[history["kind"] == "task"] if len(history) else history
    if not len(t):
        return None
    last = t[t["snapshot_date"] == t["snapshot_date"].max()].drop_duplicates("key", keep="last")  # rows are appended
    return pd.DataFrame([json.loads(d) for d in last["detail"]])


def _history_rows(date, *, indicators: pd.DataFrame | None = None, ledger_totals: dict | None = None,
                  tasks: pd.DataFrame | None = None) -> pd.DataFrame:
    day = pd.Timestamp(date).date().isoformat()
    rows = []
    if indicators is not None:
        for r in indicators.itertuples():
            rows.append(dict(kind="indicator", key=r.indicator, name_zh=r.name_zh, zone_id=r.zone_id, road_class=r.road_class,
                             value=r.value, passed=None if pd.isna(r.passed) else str(bool(r.passed))))
    for k, v in (ledger_totals or {}).items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            rows.append(dict(kind="ledger", key=str(k), value=float(v)))
    if tasks is not None:
        for r in tasks.to_dict("records"):
            detail = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()
                      if k not in ("done", "state")}
            rows.append(dict(kind="task", key=r["task_id"], name_zh=r["task"], zone_id=r["zone_id"],
                             value=r["quantity"], passed=str(bool(r.get("done"))), state=r.get("state"),
                             detail=json.dumps(detail, ensure_ascii=False, default=str)))
    df = pd.DataFrame(rows, columns=_HISTORY_COLUMNS[1:])
    df.insert(0, "snapshot_date", day)
    for c in ("key", "name_zh", "zone_id", "road_class", "passed", "state", "detail"):
        df[c] = df[c].astype(object).where(df[c].notna(), None).astype("string")
    df["value"] = pd.to_numeric(df["value"], errors="coerce").astype(float)
    return df


def _append_history(ws: Workspace, rows: pd.DataFrame) -> None:
    exists = HISTORY_TABLE in {str(n) for n, _ in pyogrio.list_layers(ws.path)}
    with ws.transaction() as staged:
        pyogrio.write_dataframe(rows, staged, layer=HISTORY_TABLE, driver="GPKG", append=exists)


def snapshot(ws: Workspace, *, date=None, inspection_date=None) -> pd.DataFrame:
    """Append a snapshot (indicators, ledger totals, task states) dated ``date`` (default today).

    Returns the task states of the snapshot.
    """
    day = pd.Timestamp(date).date() if date is not None else dt.date.today()
    history = read_history(ws)
    with RunContext(ws, as_of=day) as run:
        indicators = run.indicators
        try:
            totals = run.ledger.totals
        except (WorkspaceError, KeyError, ValueError):
            totals = {}
        layers = {n: run.layers.read_optional(n) for n in LAYERS}
        tasks = plan_of_record(history)
        if tasks is None:
            if inspection_date is None:
                inspection_date, _ = default_inspection_date(load_targets(ws=ws), day)
            tasks = plan_run(run, inspection_date=inspection_date, as_of=day).tasks
        states = task_states(tasks, layers, date=day, indicators=indicators)
    _append_history(ws, _history_rows(day, indicators=indicators, ledger_totals=totals, tasks=states))
    return states


def plan_section(run: RunContext, out_dir, *, rel=str, add=lambda *p: None) -> dict:
    """The report's 达标路径 section: per-indicator gap sentences, tasks, the xlsx and the map,
    and (when the workspace has snapshots) each indicator's trend, the change since the last
    snapshot and the task states."""
    targets = load_targets(ws=run.workspace)
    inspection, note = default_inspection_date(targets, run.as_of)
    plan = plan_run(run, inspection_date=inspection, as_of=run.as_of.date())
    layers = {n: run.layers.read_optional(n) for n in LAYERS}
    out = Path(out_dir)
    files = {"xlsx": write_plan_xlsx(plan, out / "整改任务清单.xlsx"), "png": plan_map_png(plan, layers, out / "达标路径.png")}
    add(*files.values())
    d = plan.to_dict()
    gaps = [g for g in d["gaps"] if g["road_class"] is None or g["sentence"]]
    counts = plan.tasks.groupby(["lead_unit", "class_"]).size().rename("n").reset_index().to_dict("records")
    return {"inspection_date": d["inspection_date"], "note": note, "rule": plan.rule, "gaps": gaps,
            "sentences": plan.sentences(), "n_tasks": len(plan.tasks), "by_unit": counts,
            "tasks": d["tasks"][:200], "files": {k: rel(v) for k, v in files.items()},
            "history": _history_summary(read_history(run.workspace))}


def _history_summary(history: pd.DataFrame) -> dict:
    if not len(history):
        return {"dates": [], "trend": [], "tasks": {}}
    ind = history[(history["kind"] == "indicator") & history["zone_id"].isna() & history["road_class"].isna()
                  & history["passed"].notna()]
    dates = sorted(ind["snapshot_date"].unique())
    wide = ind.pivot_table(index=["key", "name_zh"], columns="snapshot_date", values="value", aggfunc="first")
    trend = []
    for (key, name), row in wide.iterrows():
        vals = [None if pd.isna(row.get(d)) else round(float(row.get(d)), 2) for d in dates]
        change = (vals[-1] - vals[-2]) if len(vals) >= 2 and None not in vals[-2:] else None
        trend.append({"indicator": key, "name_zh": name, "values": vals,
                      "change": None if change is None else round(change, 2)})
    t = history[history["kind"] == "task"]
    last = t[t["snapshot_date"] == t["snapshot_date"].max()] if len(t) else t
    return {"dates": dates, "trend": trend, "tasks": last.groupby("state").size().astype(int).to_dict() if len(last) else {},
            "tasks_date": str(t["snapshot_date"].max()) if len(t) else None}
