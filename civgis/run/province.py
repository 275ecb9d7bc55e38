"""A province (or a city of many counties) on Dask: every county's indicators, audit, ledger and plan.

A provincial housing and urban-rural department (住建厅) holds one workspace per county.
``run_province(workspaces, out_dir)`` runs each county as one task on a ``dask.distributed``
cluster — a :class:`distributed.LocalCluster` of worker processes by default, or the cluster behind
any scheduler address — and writes

- ``province.csv`` / ``province.xlsx`` (sheet 县区排名): one row per county, its indicators against
  its own targets (its ``<stem>.targets.toml``), ranked — fewest failing indicators first, then the
  highest pass rate, then the name — with the audit (责任区覆盖率, 空白, 重叠), the ledger totals
  (案件数, 超期未结, 结案率) and the number of plan tasks; a county that failed is listed last with
  its error line;
- ``province_indicators.csv`` (and sheet 指标明细): every county-wide indicator row of every
  county (the rows ``civgis indicators`` prints); 达标 is 达标/未达标, 无数据 when the value is
  missing (数值 left empty, never 0) and — when there is no target;
- with ``report=True``, each county's readiness report in ``reports/<county>/``.

Each task computes exactly what a single-county run computes (one
:class:`~civgis.run.context.RunContext` per county), so the numbers equal ``civgis indicators``,
``civgis audit``, ``civgis ledger`` and ``civgis plan`` on that county alone. A county whose cases
live in a Parquet table too large for memory (``<stem>.inspections.parquet`` beside the
workspace, a file or a folder of parts) has its ledger totals counted on the same cluster,
partition by partition (:func:`civgis.analysis.scale.zone_totals_dask`).

The workspaces must be readable by the workers at the same paths (a shared file system on a
real cluster), and the workers need civgis installed.

Examples
--------
The ranking of two counties computed elsewhere (``run_province`` makes these on the cluster;
tests/test_province.py runs it on a LocalCluster):

>>> def county(name, passed):
...     rows = pd.DataFrame({"indicator": ["a", "b"], "name_zh": ["甲", "乙"], "scope": "city", "road_class": None,
...                          "value": [1.0, 2.0], "unit": "%", "target": 1.5, "comparison": ">=",
...                          "passed": pd.array(passed, dtype="boolean"), "responsible_unit": "", "note": ""})
...     return CountyResult(path=f"/data/{name}.gpkg", county=name, indicators=rows)
>>> ranking, _ = province_tables([county("东县", [True, False]), county("西县", [True, True])])
>>> ranking[["排名", "县区", "达标", "未达标"]].to_dict("records")
[{'排名': 1, '县区': '西县', '达标': 2, '未达标': 0}, {'排名': 2, '县区': '东县', '达标': 1, '未达标': 1}]
"""

from __future__ import annotations

import contextlib
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from civgis.errors import one_line
from civgis.progress import progress as progress_bar
from civgis.store.spreadsheets import write_csv, write_xlsx

__all__ = ["CountyResult", "ProvinceResult", "RANKING_ZH", "INDICATOR_ZH", "PARQUET_SUFFIX", "county_workspaces",
           "county_name", "run_county", "province_tables", "run_province", "cases_parquet"]

#: the case table beside a workspace that is counted on Dask instead of the inspections layer
PARQUET_SUFFIX = ".inspections.parquet"

#: ranking column → Chinese header
RANKING_ZH = {"rank": "排名", "county": "县区", "workspace": "工作空间", "status": "状态", "n_judged": "参评指标",
              "n_passed": "达标", "n_failed": "未达标", "n_no_data": "无数据", "pass_rate": "达标率(%)",
              "coverage_ratio": "责任区覆盖率(%)", "n_gaps": "空白区块", "n_overlaps": "重叠区块",
              "unassigned": "未划入责任区的部件", "cases": "案件数", "overdue": "超期未结", "closure_rate": "结案率(%)",
              "on_time_rate": "按期结案率(%)", "cases_source": "案件来源", "plan_tasks": "整改任务",
              "report": "报告", "seconds": "用时(秒)", "error": "错误"}

#: indicator-row column → Chinese header (the 指标明细 table)
INDICATOR_ZH = {"county": "县区", "indicator": "指标代码", "name_zh": "指标", "road_class": "道路等级代码",
                "value": "数值", "unit": "单位", "target": "目标值", "comparison": "比较", "passed": "达标",
                "responsible_unit": "责任单位", "note": "说明"}


@dataclass
class CountyResult:
    """What one county's task returns (plain data: it travels from a worker to the client).

    Attributes
    ----------
    path : str
        The workspace.
    county : str
        Its name (:func:`county_name`).
    indicators : DataFrame or None
        ``compute_indicators(ws, zones=True)`` — city and zone rows.
    audit : dict or None
        ``AuditResult.to_dict()["summary"]`` plus ``unassigned`` (number of features outside every zone).
    ledger : dict or None
        ``Ledger.totals`` (or :func:`civgis.analysis.scale.totals_from_zone_counts` for a Parquet table);
        None when the workspace has no cases.
    cases_source : str
        ``"workspace"``, ``"parquet"`` or ``""`` (no cases).
    plan : dict or None
        ``{"n_tasks", "inspection_date"}`` of the pass plan.
    report : str
        The report's index page ("" when not written).
    error : str
        One line when the county failed ("" otherwise); ``section_errors`` names failed parts.
    seconds, cpu_seconds : float
        Wall-clock time of the task and the CPU time of the thread that ran it.
    """

    path: str
    county: str = ""
    indicators: pd.DataFrame | None = None
    audit: dict | None = None
    ledger: dict | None = None
    cases_source: str = ""
    plan: dict | None = None
    report: str = ""
    error: str = ""
    section_errors: dict[str, str] = field(default_factory=dict)
    seconds: float = float("nan")
    cpu_seconds: float = float("nan")


@dataclass
class ProvinceResult:
    """The province run: the ranking, the indicator rows, each county's result and the files written."""

    ranking: pd.DataFrame
    indicators: pd.DataFrame
    counties: list[CountyResult]
    files: dict[str, Path] = field(default_factory=dict)


# ---------------------------------------------------------------------- inputs
def county_workspaces(sources, *, exclude=None) -> list[Path]:
    """The workspaces named by ``sources``: ``.gpkg`` files, folders, or list files (one path a line).

    A folder gives every ``*.gpkg`` in it and in its sub-folders (sorted; hidden files and anything
    under ``exclude`` — the output folder, whose reports hold ``hotspots.gpkg`` — skipped); a text file (``.txt``, ``.lst``, ``.csv``) gives one
    workspace per non-empty line not starting with ``#``, relative to the list file's folder.

    Raises
    ------
    FileNotFoundError
        Naming the first source that does not exist.
    ValueError
        When no workspace was found.
    """
    found: list[Path] = []
    for source in [sources] if isinstance(sources, (str, Path)) else sources:
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(2, "找不到县区工作空间或清单 no such workspace, folder or list", str(path))
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.gpkg") if not any(part.startswith(".") for part in p.parts))
        elif path.suffix.lower() in {".txt", ".lst", ".csv"}:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
            found += [(path.parent / s.strip()) for s in lines if s.strip() and not s.lstrip().startswith("#")]
        else:
            found.append(path)
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if exclude is not None:
        skip = Path(exclude).resolve()
        unique = [p for p in unique if not p.is_relative_to(skip)]
    if not unique:
        raise ValueError(f"没有找到县区工作空间 (.gpkg) no county workspace found in {', '.join(map(str, [sources]))}")
    return unique


def county_name(path, built_up_names=()) -> str:
    """The county's name: from its built-up area (``示范县建成区`` → ``示范县``), else the file's stem
    (its folder's name when the stem is the generic ``county``)."""
    from civgis.render.ledger_xlsx import county_of  # lazy: only the name helper of the ledger workbook

    name = county_of(built_up_names)
    if name:
        return name
    p = Path(path)
    return p.parent.name if p.stem.lower() in {"county", "workspace", "ws"} and p.parent.name else p.stem


def cases_parquet(path) -> Path | None:
    """``<stem>.inspections.parquet`` beside the workspace (file or folder), when it exists."""
    p = Path(path)
    candidate = p.with_name(p.stem + PARQUET_SUFFIX)
    return candidate if candidate.exists() else None


# ---------------------------------------------------------------------- one county (runs on a worker)
def _audit_summary(audit) -> dict:
    summary = audit.to_dict()["summary"]
    summary["unassigned"] = int(sum(len(v) for v in audit.unassigned.values()))
    return summary


def run_county(path, *, as_of=None, plan: bool = True, report_dir=None, patrol_maps: bool = False,
               count_parquet: bool = True) -> CountyResult:
    """One county, as a single ``civgis`` run would compute it; never raises (errors are in the result).

    Parameters
    ----------
    path : path
        The county workspace (.gpkg).
    as_of : date-like, optional
        The instant case states are counted at (default the end of today).
    plan : bool
        Also build the pass plan (``civgis plan``; its inspection date from the targets file).
    report_dir : path, optional
        Write the readiness report there (``civgis report``).
    patrol_maps : bool
        Include the patrol maps in the report.
    count_parquet : bool
        Count a ``<stem>.inspections.parquet`` here (False: the caller counts it on the cluster).
    """
    import time

    from civgis.analysis.cases import as_of_instant  # lazy: the task imports the analyses on the worker
    from civgis.run.context import RunContext  # lazy: the task imports the analyses on the worker
    from civgis.store.workspace import Workspace  # lazy: the task imports the analyses on the worker

    started, cpu = time.perf_counter(), time.thread_time()
    result = CountyResult(path=str(path), county=county_name(path))
    try:
        T = as_of_instant(as_of)
        _check_readable(path)
        ws = Workspace(path)
        with RunContext(ws, as_of=T) as run:
            result.county = county_name(path, run.layers.read("built_up")["name"].tolist())
            result.indicators = run.indicators
            result.audit = _section(result, "audit", lambda: _audit_summary(run.audit))
            result.ledger, result.cases_source = _ledger_totals(result, run, path, count_parquet)
            if plan:
                result.plan = _section(result, "plan", lambda: _plan_summary(run))
            if report_dir is not None:  # the same run: the report reuses the analyses above
                result.report = _section(result, "report", lambda: _report(run, report_dir, patrol_maps)) or ""
    except Exception as exc:  # a bad county is reported in the province table; the others still run
        result.error = one_line(exc)
        result.section_errors["trace"] = traceback.format_exc(limit=4)
    result.seconds = time.perf_counter() - started
    result.cpu_seconds = time.thread_time() - cpu
    return result


def _check_readable(path) -> None:
    """Fail with the workspace's own path (not a snapshot's) when it is missing or not a GeoPackage."""
    import pyogrio

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(2, "工作空间不存在 no such workspace", str(p))
    try:
        pyogrio.list_layers(p)
    except Exception as exc:  # pyogrio's DataSourceError: not a GeoPackage at all
        raise ValueError(f"无法打开工作空间（不是 GeoPackage？） cannot open the workspace: "
                         f"{one_line(exc).split(';')[0]}") from None


def _section(result: CountyResult, name: str, compute):
    try:
        return compute()
    except Exception as exc:  # one failed part (a malformed layer) does not drop the county's other numbers
        result.section_errors[name] = one_line(exc)
        return None


def _ledger_totals(result: CountyResult, run, path, count_parquet: bool) -> tuple[dict | None, str]:
    parquet = cases_parquet(path)
    if parquet is not None:
        if not count_parquet:
            return None, "parquet"
        from civgis.analysis.scale import totals_from_zone_counts, zone_totals_dask  # lazy: Dask only for Parquet

        zones = run.layers.read_optional("zones")
        return _section(result, "ledger", lambda: totals_from_zone_counts(
            zone_totals_dask(parquet, zones, as_of=run.as_of), run.as_of)), "parquet"
    if run.layers.read_optional("inspections") is None:
        return None, ""
    return _section(result, "ledger", lambda: dict(run.ledger.totals)), "workspace"


def _plan_summary(run) -> dict:
    from civgis.run.plan import default_inspection_date, plan_run  # lazy: the plan only when asked for
    from civgis.store.targets import load_targets  # lazy: the plan only when asked for

    inspection, _ = default_inspection_date(load_targets(ws=run.workspace), run.as_of)
    plan = plan_run(run, inspection_date=inspection, as_of=run.as_of.date())
    return {"n_tasks": int(len(plan.tasks)), "inspection_date": str(plan.inspection_date)}


def _report(run, report_dir, patrol_maps: bool) -> str:
    from civgis.run.report import write_report  # lazy: the report only when asked for

    out = write_report(run.workspace, report_dir, patrol_maps=patrol_maps, run=run)
    return str(out.index)


# ---------------------------------------------------------------------- the province tables
def _judged(ind: pd.DataFrame) -> pd.DataFrame:
    """County-wide overall rows (no road class): the rows counted as passed/failed."""
    return ind[(ind["scope"] == "city") & ind["road_class"].isna()]


def _pct(value) -> float:
    return float("nan") if value is None or pd.isna(value) else 100.0 * float(value)


def _county_row(c: CountyResult) -> dict:
    row = {"county": c.county, "workspace": c.path, "status": "失败" if c.error else "完成",
           "cases_source": {"workspace": "工作空间", "parquet": "Parquet (Dask)", "": "无案件"}[c.cases_source],
           "report": c.report, "seconds": round(c.seconds, 1),
           "error": c.error or "；".join(f"{k}: {v}" for k, v in c.section_errors.items() if k != "trace")}
    if c.indicators is not None:
        j = _judged(c.indicators)
        passed = j["passed"].astype("boolean")
        row.update(n_judged=int(passed.notna().sum()), n_passed=int(passed.fillna(False).sum()),
                   n_failed=int((~passed).fillna(False).sum()), n_no_data=int(j["value"].isna().sum()))
        row["pass_rate"] = 100.0 * row["n_passed"] / row["n_judged"] if row["n_judged"] else float("nan")
        for r in j.itertuples():
            row[f"{r.name_zh}({r.unit})"] = r.value
    if c.audit is not None:
        row.update(coverage_ratio=_pct(c.audit.get("coverage_ratio")), n_gaps=c.audit["n_gaps"],
                   n_overlaps=c.audit["n_overlaps"], unassigned=c.audit["unassigned"])
    if c.ledger is not None:
        row.update(cases=c.ledger["cases"], overdue=c.ledger["overdue"], closure_rate=_pct(c.ledger["closure_rate"]),
                   on_time_rate=_pct(c.ledger["on_time_rate"]))
    if c.plan is not None:
        row["plan_tasks"] = c.plan["n_tasks"]
    return row


def province_tables(counties: list[CountyResult]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ranking (Chinese headers, one row per county) and the county-wide indicator rows.

    Ranking: counties that ran, by fewest failing indicators (overall rows with a target), then the
    highest pass rate, then the name; ties share a rank (1, 2, 2, 4). Failed counties come last,
    without a rank. A missing value stays missing (无数据 in the indicator table), never 0.
    """
    rows = pd.DataFrame([_county_row(c) for c in counties])
    rows["county"] = _distinct(rows["county"], rows["workspace"])
    fixed = [c for c in RANKING_ZH if c != "rank"]
    for col in fixed:
        if col not in rows:
            rows[col] = np.nan
    ok = rows["status"] == "完成"
    done = rows[ok].sort_values(["n_failed", "pass_rate", "county"], ascending=[True, False, True],
                                na_position="last", kind="stable")
    key = done["n_failed"].astype(str) + "|" + done["pass_rate"].round(9).astype(str)
    position = pd.Series(np.arange(1, len(done) + 1), index=done.index)
    done.insert(0, "rank", position.groupby(key.to_numpy()).transform("min").astype("Int64"))
    failed = rows[~ok].sort_values("county", kind="stable")
    failed.insert(0, "rank", pd.array([pd.NA] * len(failed), dtype="Int64"))
    rows = pd.concat([done, failed]) if len(failed) else done
    indicator_cols = [c for c in rows.columns if c not in RANKING_ZH]
    order = ["rank", "county", "status", "n_judged", "n_passed", "n_failed", "n_no_data", "pass_rate",
             *indicator_cols, "coverage_ratio", "n_gaps", "n_overlaps", "unassigned", "cases", "overdue",
             "closure_rate", "on_time_rate", "cases_source", "plan_tasks", "seconds", "report", "workspace", "error"]
    for col in ("n_judged", "n_passed", "n_failed", "n_no_data", "n_gaps", "n_overlaps", "unassigned", "cases",
                "overdue", "plan_tasks"):
        rows[col] = pd.array(rows[col].to_numpy(dtype=float), dtype="Int64")   # counts stay integers; NA stays NA
    ranking = rows[order].rename(columns=RANKING_ZH).reset_index(drop=True)
    return ranking, _indicator_rows(counties)


def _distinct(names: pd.Series, paths: pd.Series) -> list[str]:
    """County names, made distinct: a name two workspaces share gets the workspace's folder (or stem)."""
    dup = names.duplicated(keep=False)
    tags = [Path(p).parent.name if Path(p).stem.lower() == "county" else Path(p).stem for p in paths]
    return [f"{n}（{t}）" if d else n for n, t, d in zip(names, tags, dup)]


def _indicator_rows(counties: list[CountyResult]) -> pd.DataFrame:
    from civgis.analysis.cases import natural_key  # lazy: sort helper only

    names = _distinct(pd.Series([c.county for c in counties]), pd.Series([c.path for c in counties]))
    frames = [c.indicators[c.indicators["scope"] == "city"].assign(county=name)
              for name, c in sorted(zip(names, counties), key=lambda nc: natural_key(nc[0]))
              if c.indicators is not None]
    if not frames:
        return pd.DataFrame(columns=list(INDICATOR_ZH.values()))
    rows = pd.concat(frames, ignore_index=True)[list(INDICATOR_ZH)]
    rows["passed"] = [("无数据" if pd.isna(v) else "—" if pd.isna(p) else "达标" if p else "未达标")
                      for v, p in zip(rows["value"], rows["passed"].astype(object))]   # 数值 stays a number column
    return rows.rename(columns=INDICATOR_ZH)


def write_province(ranking: pd.DataFrame, indicators: pd.DataFrame, out_dir) -> dict[str, Path]:
    """``province.csv``, ``province_indicators.csv`` and ``province.xlsx`` (sheets 县区排名, 指标明细)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"csv": out / "province.csv", "indicators_csv": out / "province_indicators.csv",
             "xlsx": out / "province.xlsx"}
    write_csv(ranking, files["csv"])
    write_csv(indicators, files["indicators_csv"])
    write_xlsx({"县区排名": ranking, "指标明细": indicators}, files["xlsx"])
    return files


# ---------------------------------------------------------------------- the cluster
@contextlib.contextmanager
def province_client(scheduler: str | None = None, *, workers: int = 2):
    """A ``distributed.Client``: on ``scheduler`` (an address) or on a new LocalCluster of
    ``workers`` single-threaded worker processes (closed on exit)."""
    from distributed import Client, LocalCluster

    if scheduler:
        client = Client(scheduler)
        try:
            yield client
        finally:
            client.close()
        return
    import logging

    import dask

    with dask.config.set({"distributed.worker.profile.enabled": False}), LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      memory_limit=0, silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield client


def run_province(workspaces, out_dir, *, scheduler: str | None = None, workers: int = 2, client=None,
                 as_of=None, plan: bool = True, report: bool = False, patrol_maps: bool = False,
                 progress: bool = True) -> ProvinceResult:
    """Run every county as a task on a Dask cluster and write the province tables (module docstring).

    Parameters
    ----------
    workspaces : list of path
        County workspaces (:func:`county_workspaces` expands folders and lists).
    out_dir : path
        Where ``province.csv``, ``province.xlsx``, ``province_indicators.csv`` (and ``reports/``) go.
    scheduler : str, optional
        A ``dask.distributed`` scheduler address (``tcp://host:8786``); default a LocalCluster.
    workers : int
        Worker processes of the LocalCluster (ignored with ``scheduler`` or ``client``).
    client : distributed.Client, optional
        An existing client (then neither a cluster is started nor closed).
    as_of, plan, report, patrol_maps :
        As for :func:`run_county` (one instant for every county).
    progress : bool
        A progress bar on a terminal.
    """
    from civgis.analysis.cases import as_of_instant  # lazy: resolve the instant once for every county

    paths = [Path(p) for p in workspaces]
    T = as_of_instant(as_of)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = _report_dirs(paths)
    with (contextlib.nullcontext(client) if client is not None
          else province_client(scheduler, workers=workers)) as c:
        futures = {c.submit(run_county, str(p), as_of=T, plan=plan, patrol_maps=patrol_maps, count_parquet=False,
                            report_dir=str(out / "reports" / names[i]) if report else None, pure=False,
                            key=f"county-{i}-{names[i]}"): i
                   for i, p in enumerate(paths)}
        results = _gather(c, futures, paths, progress)
        for r in results:   # big case tables: counted on the cluster, partition by partition
            if r.cases_source == "parquet" and not r.error:
                _count_parquet_on(c, r, T)
    ranking, indicators = province_tables(results)
    files = write_province(ranking, indicators, out)
    return ProvinceResult(ranking=ranking, indicators=indicators, counties=results, files=files)


def _report_dirs(paths: list[Path]) -> list[str]:
    """One report folder name per county (the county name from its path; duplicates numbered)."""
    from civgis.store.inert import safe_stem  # lazy: file-name helper only

    seen: dict[str, int] = {}
    names = []
    for p in paths:
        base = safe_stem(county_name(p))
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return names


def _gather(client, futures: dict, paths: list[Path], progress: bool) -> list[CountyResult]:
    from distributed import as_completed

    results: list[CountyResult | None] = [None] * len(paths)
    bar = progress_bar(total=len(paths), desc="县区 counties", unit="县", enabled=progress)
    for future in as_completed(list(futures)):
        i = futures[future]
        try:
            results[i] = future.result()
        except Exception as exc:  # a worker that died (out of memory …): the county is reported, the rest run
            results[i] = CountyResult(path=str(paths[i]), county=county_name(paths[i]),
                                      error=f"任务失败 task failed: {one_line(exc)}")
        bar.set_postfix_str(results[i].county)
        bar.update(1)
    bar.close()
    return results


def _count_parquet_on(client, result: CountyResult, as_of) -> None:
    from civgis.analysis.scale import totals_from_zone_counts, zone_totals_dask  # lazy: Dask only for Parquet
    from civgis.store.workspace import Workspace  # lazy: zones of the county, read on the client

    def count():
        zones = Workspace(result.path).read_optional("zones")
        return totals_from_zone_counts(zone_totals_dask(cases_parquet(result.path), zones, as_of=as_of,
                                                        client=client), as_of)

    result.ledger = _section(result, "ledger", count)
