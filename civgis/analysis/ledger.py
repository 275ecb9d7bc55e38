"""The rectification ledger (整改工作台账): inspection cases by category, zone, unit and month.

:func:`build_ledger` is a pure function of the case points and the responsibility zones;
:func:`ledger_workspace` reads them from a workspace; :func:`write_ledger_xlsx` writes the
ledger a bureau prints (Chinese headers, one sheet per view, frozen header row, real Excel
dates, category codes with their Chinese labels).

Definitions
-----------
Every case's state comes from :func:`civgis.analysis.cases.case_states` — the one rule for
"in scope", "closed on time", "closed late", "overdue" (超期未结), "open within deadline", "days
overdue" and a case's one zone (the zone summary, hotspot ranking, patrol maps and report use the
same). The ledger adds:

* closure rate (结案率) = closed ÷ all cases in scope;
  on-time rate (按期结案率) = closed on time ÷ closed.
* days to close (结案用时, days, fractional) = ``(closed_at − reported_at) / 24 h``; the median is
  taken over closed cases.

``unit`` (责任单位), ``staff`` (责任人) and ``phone`` come from the case's zone.

Examples
--------
>>> import geopandas as gpd, pandas as pd
>>> from shapely.geometry import Point, box
>>> zones = gpd.GeoDataFrame({"zone_id": ["Z1"], "name": ["城关一区"], "unit": ["一中队"],
...                           "staff": ["张三"], "phone": ["138"]}, geometry=[box(0, 0, 100, 100)], crs=4527)
>>> t = pd.Timestamp
>>> cases = gpd.GeoDataFrame({
...     "case_id": ["A", "B", "C"], "category": ["0102", "0102", "0501"],
...     "reported_at": [t("2026-03-01"), t("2026-03-02"), t("2026-03-03")],
...     "deadline": [t("2026-03-02"), t("2026-03-03"), t("2026-03-04")],
...     "closed_at": [t("2026-03-01 12:00"), pd.NaT, pd.NaT],
...     "status": ["closed", "open", "open"]}, geometry=[Point(1, 1), Point(2, 2), Point(500, 500)], crs=4527)
>>> ledger = build_ledger(cases, zones, as_of="2026-03-03")
>>> ledger.totals["closed_on_time"], ledger.totals["overdue"], ledger.totals["open_within_deadline"]
(1, 1, 1)
>>> ledger.totals["median_days_to_close"]
0.5
>>> ledger.overdue["staff"].tolist()
['张三']
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from civgis.analysis.cases import (DAY, NO_UNIT, UNZONED, as_of_instant, assign_zones, case_states, checked_states,
                                   natural_key)
from civgis.store.catalogue import layer_spec

__all__ = ["UNZONED", "NO_UNIT", "DAY", "MEASURES", "HEADERS_ZH", "OUTCOME_ZH", "SHEETS_ZH", "Ledger",
           "as_of_instant", "assign_zones", "build_ledger", "natural_key", "ledger_workspace"]

#: the per-view count and rate columns, in order
MEASURES = ["cases", "closed", "closed_on_time", "closed_late", "open", "open_within_deadline", "overdue",
            "closure_rate", "on_time_rate", "median_days_to_close"]

#: Chinese headers of every column the ledger shows
HEADERS_ZH = {
    "category": "案件类别代码", "category_zh": "案件类别", "zone_id": "责任区编号", "zone_name": "责任区",
    "unit": "责任单位", "staff": "责任人", "phone": "联系电话", "month": "月份",
    "cases": "案件数", "closed": "已结案", "closed_on_time": "按期结案", "closed_late": "超期结案",
    "open": "未结案", "open_within_deadline": "在办未超期", "overdue": "超期未结",
    "closure_rate": "结案率", "on_time_rate": "按期结案率", "median_days_to_close": "结案用时中位数(天)",
    "case_id": "案件编号", "reported_at": "上报时间", "deadline": "处置时限", "closed_at": "结案时间",
    "status": "状态", "outcome": "办理结果", "days_to_close": "结案用时(天)", "days_overdue": "超期天数",
}

#: Chinese label of each case outcome
OUTCOME_ZH = {"closed_on_time": "按期结案", "closed_late": "超期结案", "overdue": "超期未结",
              "open_within_deadline": "在办未超期"}

SHEETS_ZH = {"totals": "汇总", "by_category": "按类别", "by_zone": "按责任区", "by_unit": "按责任单位",
             "by_month": "按月份", "overdue": "超期案件", "cases": "案件明细"}


@dataclass
class Ledger:
    """The ledger: one DataFrame per view plus county totals.

    Attributes
    ----------
    as_of : Timestamp
        The instant the ledger describes.
    by_category, by_zone, by_unit, by_month : DataFrame
        Key columns then :data:`MEASURES` (counts, ``closure_rate`` and ``on_time_rate`` as
        fractions 0–1, ``median_days_to_close`` in days). ``by_zone`` lists every zone (zero
        rows too) and "未划分责任区" last when cases fall outside all zones; ``by_month`` lists every
        month from the first to the last report (``month`` = first day of the month).
    overdue : DataFrame
        Overdue cases, most overdue first, with their zone, unit, staff and phone.
    cases : DataFrame
        Every case in scope with its zone, ``outcome``, ``days_to_close`` and ``days_overdue``.
    totals : dict
        The county-wide measures plus ``excluded_after_as_of`` and ``as_of``.
    """

    as_of: pd.Timestamp
    by_category: pd.DataFrame
    by_zone: pd.DataFrame
    by_unit: pd.DataFrame
    by_month: pd.DataFrame
    overdue: pd.DataFrame
    cases: pd.DataFrame
    totals: dict

    def views(self) -> dict[str, pd.DataFrame]:
        return {"by_category": self.by_category, "by_zone": self.by_zone, "by_unit": self.by_unit,
                "by_month": self.by_month, "overdue": self.overdue}

    def to_dict(self) -> dict:
        """JSON-ready: totals, the views and the overdue list as records (dates as ISO strings)."""
        out = {"as_of": self.as_of.isoformat(), "totals": _jsonable(self.totals)}
        for name, df in self.views().items():
            out[name] = [_jsonable(r) for r in df.to_dict(orient="records")]
        return out


def _jsonable(record: dict) -> dict:
    out = {}
    for key, value in record.items():
        if isinstance(value, (pd.Timestamp, dt.datetime, dt.date)):
            value = None if pd.isna(value) else value.isoformat()
        elif isinstance(value, (np.integer,)):
            value = int(value)
        elif isinstance(value, (float, np.floating)):
            value = None if np.isnan(value) else float(value)
        elif value is pd.NA or value is pd.NaT:
            value = None
        out[key] = value
    return out


# ---------------------------------------------------------------------- building
def build_ledger(cases: gpd.GeoDataFrame, zones: gpd.GeoDataFrame | None = None, *, as_of=None,
                 states: pd.DataFrame | None = None) -> Ledger:
    """Build the ledger from inspection cases and responsibility zones (definitions: module docstring).

    Parameters
    ----------
    cases : GeoDataFrame
        The ``inspections`` layer: ``case_id, category, reported_at, deadline, closed_at, status``
        and point geometry (same CRS as ``zones``, or reprojected to it).
    zones : GeoDataFrame or None
        The ``zones`` layer: ``zone_id, name, unit, staff, phone``; None puts every case in
        "未划分责任区".
    as_of : date, datetime, str or None
        The ledger's instant (a date means the end of that day; None the end of today).
    states : DataFrame, optional
        ``case_states(cases, as_of, zones)`` when the caller already has it (a run computes it
        once for the ledger, the zone table and the maps); computed here otherwise.

    Returns
    -------
    Ledger

    Raises
    ------
    ValueError
        Naming the layer, case and field: a closed case without ``closed_at``, an open case with
        one, an unknown status, a missing ``reported_at``/``deadline``.
    """
    if "category" not in cases:
        raise ValueError("图层 inspections 缺少字段 missing field(s): category")
    states = (case_states(cases.reset_index(drop=True), as_of, zones) if states is None
              else checked_states(states, cases).reset_index(drop=True))
    T = states.attrs["as_of"]
    excluded = int((~states["in_scope"]).sum())
    df = states[states["in_scope"]].copy()
    overdue = df["overdue"].to_numpy(dtype=bool)
    labels = layer_spec("inspections").fields["category"].values
    df["category_zh"] = df["category"].map(lambda c: labels.get(c, c)).astype("string")
    reported = df["reported_at"]
    if getattr(reported.dt, "tz", None) is not None:
        reported = reported.dt.tz_localize(None)
    df["month"] = reported.dt.to_period("M").dt.to_timestamp()

    # views
    by_category = _aggregate(df, ["category", "category_zh"]).sort_values("category", kind="stable")
    by_zone = _zone_view(df, zones)
    by_unit = _unit_view(df, zones)
    by_month = _aggregate(df, ["month"])
    if len(by_month):
        months = pd.date_range(by_month["month"].min(), by_month["month"].max(), freq="MS")
        by_month = by_month.set_index("month").reindex(months).rename_axis("month").reset_index()
        by_month = _fill_zero(by_month)
    overdue_list = df[overdue][["case_id", "category", "category_zh", "zone_id", "zone_name", "unit", "staff",
                                "phone", "reported_at", "deadline", "days_overdue"]]
    overdue_list = overdue_list.sort_values(["days_overdue", "case_id"], ascending=[False, True],
                                            kind="stable").reset_index(drop=True)
    totals = _measures(df)
    totals.update({"excluded_after_as_of": excluded, "as_of": T})
    case_table = df[["case_id", "category", "category_zh", "zone_id", "zone_name", "unit", "staff", "phone",
                     "reported_at", "deadline", "closed_at", "status", "outcome", "days_to_close",
                     "days_overdue"]].reset_index(drop=True)
    return Ledger(as_of=T, by_category=by_category.reset_index(drop=True), by_zone=by_zone, by_unit=by_unit,
                  by_month=by_month.reset_index(drop=True), overdue=overdue_list, cases=case_table, totals=totals)


def _measures(df: pd.DataFrame) -> dict:
    outcome = df["outcome"]
    n = int(len(df))
    counts = {k: int((outcome == k).sum()) for k in OUTCOME_ZH}
    closed = counts["closed_on_time"] + counts["closed_late"]
    days = df["days_to_close"].dropna()
    return {"cases": n, "closed": closed, "closed_on_time": counts["closed_on_time"],
            "closed_late": counts["closed_late"], "open": n - closed,
            "open_within_deadline": counts["open_within_deadline"], "overdue": counts["overdue"],
            "closure_rate": closed / n if n else float("nan"),
            "on_time_rate": counts["closed_on_time"] / closed if closed else float("nan"),
            "median_days_to_close": float(days.median()) if len(days) else float("nan")}


def _aggregate(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The measures per group (vectorised groupby on outcome indicators)."""
    if df.empty:
        return pd.DataFrame(columns=keys + MEASURES)
    flags = pd.DataFrame({k: (df["outcome"] == k).astype(int) for k in OUTCOME_ZH}, index=df.index)
    flags[keys] = df[keys]
    flags["days_to_close"] = df["days_to_close"]
    grouped = flags.groupby(keys, sort=True, dropna=False)
    out = grouped[list(OUTCOME_ZH)].sum()
    out["cases"] = grouped.size()
    out["median_days_to_close"] = grouped["days_to_close"].median()
    out = out.reset_index()
    return _derive(out)[keys + MEASURES]


def _derive(out: pd.DataFrame) -> pd.DataFrame:
    out["closed"] = out["closed_on_time"] + out["closed_late"]
    out["open"] = out["cases"] - out["closed"]
    cases = out["cases"].astype(float)
    closed = out["closed"].astype(float)
    out["closure_rate"] = (closed / cases).where(cases > 0)
    out["on_time_rate"] = (out["closed_on_time"] / closed).where(closed > 0)
    return out


def _fill_zero(view: pd.DataFrame) -> pd.DataFrame:
    counts = ["cases", "closed", "closed_on_time", "closed_late", "open", "open_within_deadline", "overdue"]
    view[counts] = view[counts].fillna(0).astype("int64")
    return view


def _zone_view(df: pd.DataFrame, zones) -> pd.DataFrame:
    keys = ["zone_id", "zone_name", "unit", "staff", "phone"]
    agg = _aggregate(df.assign(zone_id=df["zone_id"].fillna("")), ["zone_id"])
    if zones is not None and len(zones):
        frame = pd.DataFrame({"zone_id": zones["zone_id"].astype("string")})
        frame["zone_name"] = zones["name"].astype("string").fillna(frame["zone_id"]) if "name" in zones else frame["zone_id"]
        frame["unit"] = zones["unit"].astype("string").fillna(NO_UNIT) if "unit" in zones else NO_UNIT
        for name in ("staff", "phone"):
            frame[name] = zones[name].astype("string") if name in zones else pd.NA
        frame = frame.sort_values("zone_id", kind="stable").drop_duplicates("zone_id")
    else:
        frame = pd.DataFrame({k: pd.Series(dtype="string") for k in keys})
    if (df["zone_id"].isna()).any():
        frame = pd.concat([frame, pd.DataFrame({"zone_id": [""], "zone_name": [UNZONED], "unit": [UNZONED],
                                                "staff": [pd.NA], "phone": [pd.NA]})], ignore_index=True)
    out = frame.merge(agg, on="zone_id", how="left")
    out = _fill_zero(out)
    out["zone_id"] = out["zone_id"].astype("string").replace("", pd.NA)
    return out[keys + MEASURES].reset_index(drop=True)


def _unit_view(df: pd.DataFrame, zones) -> pd.DataFrame:
    agg = _aggregate(df, ["unit"])
    units = []
    if zones is not None and len(zones):
        units = list(set(zones["unit"].astype("string").fillna(NO_UNIT))) if "unit" in zones else [NO_UNIT]
    units = sorted(units, key=natural_key)
    extra = sorted(set(agg["unit"]) - set(units) - {UNZONED}, key=natural_key)
    order = units + extra + ([UNZONED] if (agg["unit"] == UNZONED).any() else [])
    out = pd.DataFrame({"unit": pd.array(order, dtype="string")}).merge(agg, on="unit", how="left")
    return _fill_zero(out)[["unit"] + MEASURES]


# ---------------------------------------------------------------------- workspace
def ledger_workspace(ws, as_of=None, *, states: pd.DataFrame | None = None) -> Ledger:
    """The ledger of a workspace's ``inspections`` and ``zones`` (see :func:`build_ledger`)."""
    return build_ledger(ws.read("inspections"), ws.read_optional("zones"), as_of=as_of, states=states)
