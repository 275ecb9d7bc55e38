"""A case's state at an instant — the one rule every case count in civgis uses.

:func:`case_states` decides, for every inspection case and one instant ``as_of``, whether it is
in scope, closed on time, closed late, overdue or open within its deadline, how many days it is
overdue, and its one responsibility zone. The ledger, the zone summary, the hotspot zone ranking,
the patrol maps and the report all aggregate this table, so "超期" is the same number everywhere.

Definitions
-----------
``as_of`` (统计截止时间) is an instant; a date without a time means the *end* of that day
(``2026-03-10`` → 2026-03-10 23:59:59.999999), so cases reported on that day count.

* in scope (纳入统计): ``reported_at ≤ as_of``; every other flag is False outside the scope.
* closed (已结案): status ``closed`` and ``closed_at ≤ as_of`` (a case closed after ``as_of``
  was still open at ``as_of``);
  closed on time (按期结案): closed and ``closed_at ≤ deadline``;
  closed late (超期结案): closed and ``closed_at > deadline``.
* open (未结案): in scope and not closed;
  overdue (超期未结, "超期" everywhere in civgis): open and ``deadline < as_of``;
  open within deadline (在办未超期): open and ``deadline ≥ as_of``.
* days overdue (超期天数) = ``(as_of − deadline) / 24 h`` for overdue cases;
  days to close (结案用时) = ``(closed_at − reported_at) / 24 h`` for closed ones.
* zone (责任区): the zone whose polygon the point intersects (a point on a shared border counts
  as inside); in an overlap of several zones the smallest ``zone_id`` (string order); outside
  every zone ``zone_id`` is missing and ``zone_name`` is "未划分责任区".

Examples
--------
>>> import geopandas as gpd, pandas as pd
>>> from shapely.geometry import Point, box
>>> zones = gpd.GeoDataFrame({"zone_id": ["Z2", "Z1"]}, geometry=[box(0, 0, 10, 10), box(5, 0, 20, 10)], crs=4527)
>>> t = pd.Timestamp
>>> cases = gpd.GeoDataFrame({
...     "case_id": ["A", "B", "C", "D"], "status": ["closed", "open", "open", "closed"],
...     "reported_at": [t("2026-03-01"), t("2026-03-01"), t("2026-03-05"), t("2026-03-01")],
...     "deadline": [t("2026-03-02"), t("2026-03-02"), t("2026-03-06"), t("2026-03-02")],
...     "closed_at": [t("2026-03-03"), pd.NaT, pd.NaT, t("2026-03-09")]},
...     geometry=[Point(1, 1), Point(7, 5), Point(15, 5), Point(50, 50)], crs=4527)
>>> s = case_states(cases, "2026-03-04", zones)
>>> s["outcome"].tolist()
['closed_late', 'overdue', <NA>, 'overdue']
>>> s["zone_id"].tolist()          # B lies in both zones: the smallest id wins
['Z2', 'Z1', 'Z1', <NA>]
>>> s["days_overdue"].round(2).tolist()
[nan, 3.0, nan, 3.0]
>>> zone_counts(s, ["overdue", "closed_late"], ["Z1", "Z2"]).to_dict(orient="index")
{'Z1': {'overdue': 1, 'closed_late': 0}, 'Z2': {'overdue': 0, 'closed_late': 1}}
"""

from __future__ import annotations

import datetime as dt
import re

import geopandas as gpd
import numpy as np
import pandas as pd

from civgis.analysis.spatial import query_first

__all__ = ["checked_states", "UNZONED", "NO_UNIT", "DAY", "STATE_FLAGS", "OUTCOMES", "as_of_instant", "assign_zones",
           "case_states", "states_at", "zone_counts", "natural_key", "parse_cases"]

#: label of cases outside every responsibility zone
UNZONED = "未划分责任区"
#: label of a zone without a unit
NO_UNIT = "（未填责任单位）"

DAY = pd.Timedelta(days=1)

#: the boolean columns of :func:`case_states`
STATE_FLAGS = ["in_scope", "closed", "closed_on_time", "closed_late", "open", "overdue", "open_within_deadline"]
#: the four outcomes of a case in scope, in ledger order
OUTCOMES = ["closed_on_time", "closed_late", "overdue", "open_within_deadline"]


# ---------------------------------------------------------------------- as_of
def as_of_instant(as_of=None, *, like: pd.Series | None = None) -> pd.Timestamp:
    """The ledger's instant: ``None`` → the end of today; a date (no time) → the end of that day.

    Matches the time zone of ``like`` (a datetime column) when given.
    """
    if as_of is None:
        ts = pd.Timestamp.now().normalize() + DAY - pd.Timedelta(microseconds=1)
    elif isinstance(as_of, dt.date) and not isinstance(as_of, dt.datetime):
        ts = pd.Timestamp(as_of) + DAY - pd.Timedelta(microseconds=1)
    elif isinstance(as_of, str) and len(as_of.strip()) <= 10:
        try:
            ts = pd.Timestamp(dt.date.fromisoformat(as_of.strip())) + DAY - pd.Timedelta(microseconds=1)
        except ValueError:
            raise ValueError(f"统计截止日期无法识别 cannot read as_of {as_of!r}; use YYYY-MM-DD") from None
    else:
        try:
            ts = pd.Timestamp(as_of)
        except (ValueError, TypeError):
            raise ValueError(f"统计截止日期无法识别 cannot read as_of {as_of!r}; use YYYY-MM-DD") from None
    tz = getattr(like.dt, "tz", None) if like is not None else None
    if tz is not None and ts.tzinfo is None:
        ts = ts.tz_localize(tz)
    elif tz is None and ts.tzinfo is not None:
        ts = ts.tz_convert(None)
    return ts


# ---------------------------------------------------------------------- zones
def assign_zones(cases: gpd.GeoDataFrame, zones: gpd.GeoDataFrame | None) -> pd.DataFrame:
    """Zone of each case point: ``zone_id, zone_name, unit, staff, phone`` indexed like ``cases``.

    Point-in-polygon by STRtree (``intersects``: border points count); in an overlap the smallest
    ``zone_id`` wins; outside every zone → ``zone_id`` missing and ``zone_name`` "未划分责任区".
    """
    n = len(cases)
    if zones is None or len(zones) == 0 or n == 0:
        return _zone_columns(cases.index, None, np.full(n, -1))
    if "zone_id" not in zones:
        raise ValueError("图层 zones 缺少字段 zone_id (layer zones: missing field zone_id)")
    if cases.crs is not None and zones.crs is not None and not cases.crs.equals(zones.crs):
        zones = zones.to_crs(cases.crs)
    zone_ids = zones["zone_id"].astype("string").to_numpy(dtype=object)
    missing = pd.isna(zone_ids)
    if missing.any():
        raise ValueError(f"图层 zones 第{int(np.flatnonzero(missing)[0]) + 1}行 字段 zone_id 为空 (zone_id is empty)")
    # each case's zone: in an overlap the smallest zone_id (sorted as text), -1 outside every zone
    zone_of = query_first(np.asarray(zones.geometry.values), np.asarray(cases.geometry.values),
                          rank=zone_ids.astype(str))
    return _zone_columns(cases.index, zones, zone_of)


def _zone_columns(index: pd.Index, zones: gpd.GeoDataFrame | None, zone_of: np.ndarray) -> pd.DataFrame:
    """``zone_id, zone_name, unit, staff, phone`` of each case from the position of its zone (-1: none)."""
    inside = zone_of >= 0

    def column(name, outside=pd.NA, blank=None):
        values = np.full(len(zone_of), outside, dtype=object)
        if zones is not None and name in zones and inside.any():
            of_zone = zones[name].astype("string").to_numpy(dtype=object)[zone_of[inside]]
            if blank is not None:   # a zone without this field: its stand-in
                of_zone = np.where(pd.isna(of_zone), blank[inside], of_zone)
            values[inside] = of_zone
        elif blank is not None:
            values[inside] = blank[inside]
        return pd.array(values, dtype="string")

    zone_id = column("zone_id")
    return pd.DataFrame({"zone_id": zone_id,
                         "zone_name": column("name", UNZONED, blank=zone_id.to_numpy(dtype=object)),
                         "unit": column("unit", UNZONED, blank=np.full(len(zone_of), NO_UNIT, dtype=object)),
                         "staff": column("staff"), "phone": column("phone")}, index=index)


def _datetimes(cases: pd.DataFrame, name: str) -> pd.Series:
    col = cases[name]
    if pd.api.types.is_datetime64_any_dtype(col):
        return col
    try:
        return pd.to_datetime(col, format="mixed")
    except (ValueError, TypeError):
        parsed = pd.to_datetime(col, format="mixed", errors="coerce")
        bad = parsed.isna() & col.notna()
        idx = bad[bad].index[0]
        raise ValueError(f"图层 inspections 要素 {cases['case_id'][idx]} 字段 {name}: "
                         f"无法识别的时间 cannot read {col[idx]!r} as a date/time") from None


def _check_cases(df: pd.DataFrame) -> None:
    def fail(mask, field, message):
        if mask.any():
            ids = df.loc[mask.to_numpy(dtype=bool), "case_id"].astype(str).tolist()
            more = f" 等 {len(ids)} 件 ({len(ids)} cases)" if len(ids) > 1 else ""
            raise ValueError(f"图层 inspections 要素 {ids[0]}{more} 字段 {field}: {message}")

    fail(df["reported_at"].isna(), "reported_at", "上报时间为空 reported_at is empty")
    fail(df["deadline"].isna(), "deadline", "处置时限为空 deadline is empty")
    fail(~df["status"].isin(["open", "closed"]).fillna(False), "status",
         "状态应为 open(未结案) 或 closed(已结案) status must be open or closed")
    fail((df["status"] == "closed") & df["closed_at"].isna(), "closed_at",
         "已结案但结案时间为空 closed case without closed_at")
    fail((df["status"] == "open") & df["closed_at"].notna(), "closed_at",
         "未结案却有结案时间 open case with a closed_at; fix the status or the time")


_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def _cn_to_int(text: str) -> int:
    """一 → 1, 十二 → 12, 二十三 → 23 (up to 99)."""
    if "十" in text:
        tens, _, ones = text.partition("十")
        return (_CN_DIGITS.get(tens, 1) if tens else 1) * 10 + (_CN_DIGITS.get(ones, 0) if ones else 0)
    return _CN_DIGITS.get(text, 0)


def natural_key(text) -> tuple:
    """Sort key reading Arabic and Chinese numerals as numbers: 一中队 < 二中队 < 十中队."""
    parts = re.split(r"(\d+|[零〇一二两三四五六七八九十]+)", str(text))
    return tuple((0, int(p), "") if p.isdigit() else (0, _cn_to_int(p), "") if p and p[0] in "零〇一二两三四五六七八九十"
                 else (1, 0, p) for p in parts if p)


def parse_cases(cases: pd.DataFrame) -> pd.DataFrame:
    """The case columns the state rule reads, parsed and checked.

    Returns ``case_id, category, reported_at, deadline, closed_at, status`` (times as datetimes,
    status stripped and lower-case) indexed like ``cases``.

    Raises
    ------
    ValueError
        Naming the layer, case and field: a missing column, an unreadable time, a closed case
        without ``closed_at``, an open case with one, an unknown status, a missing
        ``reported_at``/``deadline``.
    """
    required = ["case_id", "reported_at", "deadline", "status"]
    missing = [c for c in required if c not in cases]
    if missing:
        raise ValueError(f"图层 inspections 缺少字段 missing field(s): {', '.join(missing)}")
    df = pd.DataFrame({
        "case_id": cases["case_id"].astype("string"),
        "category": cases["category"].astype("string") if "category" in cases else pd.Series(pd.NA, index=cases.index, dtype="string"),
        "reported_at": _datetimes(cases, "reported_at"),
        "deadline": _datetimes(cases, "deadline"),
        "closed_at": _datetimes(cases, "closed_at") if "closed_at" in cases else pd.Series(pd.NaT, index=cases.index),
        "status": cases["status"].astype("string").str.strip().str.lower(),
    }, index=cases.index)
    if df["closed_at"].isna().all() and getattr(df["reported_at"].dt, "tz", None) is not None:
        df["closed_at"] = df["closed_at"].dt.tz_localize(df["reported_at"].dt.tz)
    _check_cases(df)
    return df


def case_states(cases: gpd.GeoDataFrame, as_of=None, zones: gpd.GeoDataFrame | None = None) -> pd.DataFrame:
    """Every case's state at ``as_of`` and its one zone (definitions: module docstring).

    Parameters
    ----------
    cases : GeoDataFrame
        The ``inspections`` layer: ``case_id, reported_at, deadline, closed_at, status`` (and
        ``category``), point geometry.
    as_of : date, datetime, str or None
        The instant (a date means the end of that day; None the end of today).
    zones : GeoDataFrame or None
        The ``zones`` layer; None puts every case in "未划分责任区".

    Returns
    -------
    DataFrame
        Indexed like ``cases``: the parsed case columns (:func:`parse_cases`), the boolean
        :data:`STATE_FLAGS`, ``outcome`` (one of :data:`OUTCOMES`, missing outside the scope),
        ``days_to_close`` and ``days_overdue`` (days, fractional; NaN where they do not apply),
        and ``zone_id, zone_name, unit, staff, phone`` (:func:`assign_zones`). ``attrs["as_of"]``
        holds the resolved instant.
    """
    df = parse_cases(cases)
    T = as_of_instant(as_of, like=df["reported_at"])
    in_scope = (df["reported_at"] <= T).to_numpy(dtype=bool)
    closed = in_scope & ((df["status"] == "closed") & (df["closed_at"] <= T)).to_numpy(dtype=bool, na_value=False)
    on_time = closed & (df["closed_at"] <= df["deadline"]).to_numpy(dtype=bool, na_value=False)
    is_open = in_scope & ~closed
    past = (df["deadline"] < T).to_numpy(dtype=bool, na_value=False)
    flags = {"in_scope": in_scope, "closed": closed, "closed_on_time": on_time, "closed_late": closed & ~on_time,
             "open": is_open, "overdue": is_open & past, "open_within_deadline": is_open & ~past}
    for name in STATE_FLAGS:
        df[name] = flags[name]
    outcome = np.select([flags[k] for k in OUTCOMES], np.array(OUTCOMES, dtype=object), None)
    df["outcome"] = pd.array(outcome, dtype="string")
    df["days_to_close"] = ((df["closed_at"] - df["reported_at"]) / DAY).where(closed)
    df["days_overdue"] = ((T - df["deadline"]) / DAY).where(flags["overdue"])
    df = pd.concat([df, assign_zones(cases, zones)], axis=1)
    df.attrs["as_of"] = T
    return df


def zone_counts(states: pd.DataFrame, columns: list[str], zone_ids) -> pd.DataFrame:
    """Per zone: how many cases have each flag of ``columns`` (the aggregation every consumer uses).

    ``zone_ids`` fixes the rows and their order (zones without cases count 0); cases outside every
    zone are not counted here.
    """
    ids = pd.Index(pd.array(list(zone_ids), dtype="string"), name="zone_id")
    zoned = states[states["zone_id"].notna()]
    counts = zoned[columns].astype(int).groupby(zoned["zone_id"].astype("string")).sum()
    return counts.reindex(ids, fill_value=0).astype(int)


def checked_states(states: pd.DataFrame, cases: pd.DataFrame) -> pd.DataFrame:
    """``states`` if it is :func:`case_states` of ``cases`` (one row per case, the same case ids), else an error."""
    same = len(states) == len(cases) and ("case_id" not in cases or "case_id" not in states or np.array_equal(
        states["case_id"].astype(str).to_numpy(), cases["case_id"].astype(str).to_numpy()))
    if not same:
        raise ValueError(f"case states of {len(states)} cases given for {len(cases)} other cases: "
                         "compute them with case_states() from the same inspections layer")
    return states


def states_at(states: pd.DataFrame, as_of) -> pd.DataFrame:
    """``states`` if :func:`case_states` took them at the instant ``as_of`` resolves to, else an error.

    ``as_of`` resolves as in :func:`case_states` (a date is the end of that day, the cases' time zone).
    """
    instant = as_of_instant(as_of, like=states["reported_at"])
    if states.attrs.get("as_of") != instant:
        raise ValueError(f"case states taken at {states.attrs.get('as_of')} given for {instant}: "
                         "compute them with case_states() at the same as_of")
    return states
