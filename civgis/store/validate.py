"""Conforming and validating layers against the catalogue.

Two steps, both pure functions on GeoDataFrames:

* :func:`conform` maps source columns to catalogue fields (explicit ``--field`` mappings first,
  then the catalogue's Chinese aliases), converts types, and turns Chinese value labels into codes
  (``故障`` → ``broken``, ``是`` → ``True``). What cannot be converted becomes a :class:`Problem`.
* :func:`validate_layer` checks geometry and content: invalid or empty geometry, wrong geometry
  type, missing CRS, swapped latitude/longitude, features outside the workspace extent, duplicate
  ids, unknown category values, missing required fields and empty layers.

Every problem names the layer, the feature (its id, else its row) and the field, and says how
to fix it. Errors block an import; warnings are reported.

Examples
--------
>>> import geopandas as gpd
>>> from shapely.geometry import Point
>>> raw = gpd.GeoDataFrame({"编号": ["L1", "L1"], "状态": ["正常", "坏了"]},
...                        geometry=[Point(0, 0), Point(1, 1)], crs=4527)
>>> gdf, problems = conform(raw, "lamps")
>>> list(gdf.columns)
['lamp_id', 'status', 'geometry']
>>> [p.code for p in problems + validate_layer(gdf, "lamps")]
['unknown_value', 'duplicate_id', 'duplicate_id']
"""

from __future__ import annotations

import difflib
import datetime as dt
import re
from dataclasses import asdict, dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from civgis.store.catalogue import FieldSpec, LayerSpec, layer_spec, load_catalogue

__all__ = ["TRUE_WORDS", "FALSE_WORDS", "GEOMETRY_TYPE_IDS", "ACCEPTED_GEOMETRY", "DATE_FORMATS_ZH",
           "MAX_EXACT_INT", "FUTURE_SLACK", "Problem",
           "ValidationError", "errors", "FeatureLabels", "feature_labels", "conform", "SAMPLE_IDS",
           "unknown_value_problems", "combine", "check",
           "validate_layer", "LIFECYCLE_FIELDS", "check_case_lifecycle", "check_future_dates", "repair_geometry",
           "check_stored_layer", "stored_layer_problems", "validate_workspace"]

TRUE_WORDS = {"true", "t", "yes", "y", "1", "1.0", "是", "有", "√", "✓", "对", "已机扫", "机扫"}
FALSE_WORDS = {"false", "f", "no", "n", "0", "0.0", "否", "无", "×", "✗", "不是", "未机扫"}

#: the date spellings accepted (year first, four digits): anything else, e.g. ``26-03-01``, is refused
DATE_FORMATS_ZH = "YYYY-MM-DD、YYYY/MM/DD、YYYY.MM.DD、YYYY年MM月DD日，可带时间 HH:MM 或 HH:MM:SS"
_DATE_RE = re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
                      r"(?:Z|[+-]\d{2}:?\d{2})?$")
#: control characters refused in text (tab, line feed and carriage return are allowed)
_CONTROL_RE = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
#: integers beyond 2**53 lose digits as floats and overflow Int64 when summed: refused as out of range
MAX_EXACT_INT = 2 ** 53
#: how far after the as-of time a case date may lie (clock skew of the reporting devices)
FUTURE_SLACK = pd.Timedelta(days=1)

# shapely.get_type_id → name
GEOMETRY_TYPE_IDS = ["Point", "LineString", "LinearRing", "Polygon", "MultiPoint", "MultiLineString",
                     "MultiPolygon", "GeometryCollection"]

# Geometry types accepted for each catalogue geometry (multi-part is fine).
ACCEPTED_GEOMETRY = {
    "Point": {"Point"},
    "LineString": {"LineString", "MultiLineString"},
    "Polygon": {"Polygon", "MultiPolygon"},
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: where (layer, feature, field), what, and how to fix it."""

    layer: str
    feature: str | None
    field: str | None
    code: str
    message: str
    hint: str = ""
    severity: str = "error"

    def __str__(self) -> str:
        where = f"图层 {self.layer}"
        if self.feature is not None:
            where += f" 要素 {self.feature}"
        if self.field is not None:
            where += f" 字段 {self.field}"
        level = "错误" if self.severity == "error" else "警告"
        text = f"[{level}] {where}: {self.message}"
        return f"{text} — {self.hint}" if self.hint else text

    def to_dict(self) -> dict:
        return asdict(self)


class ValidationError(Exception):
    """Input refused: carries every problem found; nothing was written."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        shown = "\n".join(f"  {p}" for p in errors[:20])
        more = f"\n  … 另有 {len(errors) - 20} 个错误 ({len(errors) - 20} more errors)" if len(errors) > 20 else ""
        super().__init__(f"{len(errors)} 个错误，未写入任何数据 ({len(errors)} errors; nothing was written):\n{shown}{more}")


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def _spec(layer: str | LayerSpec) -> LayerSpec:
    return layer if isinstance(layer, LayerSpec) else layer_spec(layer)


class FeatureLabels:
    """Names features in messages: the id where there is one, else the 1-based row ("第12行").

    Built lazily: a million valid features cost nothing; only reported features are named.
    """

    def __init__(self, gdf: pd.DataFrame, spec: LayerSpec):
        self._ids = gdf[spec.id_field] if spec.id_field and spec.id_field in gdf else None
        self._positions = pd.Series(np.arange(1, len(gdf) + 1), index=gdf.index)

    def __getitem__(self, index) -> str:
        if self._ids is not None and pd.notna(self._ids[index]):
            return str(self._ids[index])
        return f"第{self._positions[index]}行"

    def at(self, position: int) -> str:
        return self[self._positions.index[position]]


def feature_labels(gdf: pd.DataFrame, spec: LayerSpec) -> FeatureLabels:
    return FeatureLabels(gdf, spec)


# ---------------------------------------------------------------------- conform
def conform(gdf: gpd.GeoDataFrame, layer: str | LayerSpec, *, field_map: dict[str, str] | None = None,
            value_map: dict[str, dict[str, str]] | None = None) -> tuple[gpd.GeoDataFrame, list[Problem]]:
    """Rename columns to catalogue fields, convert types and coded values.

    Parameters
    ----------
    gdf : GeoDataFrame
        The source as read (any column names).
    layer : str or LayerSpec
        Catalogue layer.
    field_map : dict, optional
        Explicit ``{source column: catalogue field}`` mappings (``--field 源字段=target``);
        they win over the catalogue's aliases.
    value_map : dict, optional
        ``{field: {source value: code}}`` (``--map FIELD 源值=code`` and the workspace vocabulary);
        they win over the catalogue's labels and value aliases.

    Returns
    -------
    (GeoDataFrame, list of Problem)
        Catalogue fields first (in catalogue order), then the source's other columns unchanged.
    """
    spec = _spec(layer)
    problems: list[Problem] = []
    gdf = _rename_columns(gdf, spec, field_map or {}, problems)
    labels = None
    if spec.id_field and spec.id_field in gdf:
        gdf[spec.id_field] = _to_str(gdf[spec.id_field])
    labels = feature_labels(gdf, spec)
    value_map = value_map or {}
    problems += _check_control_characters(gdf, spec, labels)
    for name, fspec in spec.fields.items():
        if name in gdf:
            gdf[name] = _convert(gdf[name], fspec, spec, labels, problems, value_map.get(name))
    ordered = [f for f in spec.fields if f in gdf]
    others = [c for c in gdf.columns if c not in ordered and c != gdf.geometry.name]
    return gdf[ordered + others + [gdf.geometry.name]], problems


def _check_control_characters(gdf, spec: LayerSpec, labels) -> list[Problem]:
    """NUL and other control characters would be cut or mangled by GDAL/Excel: refuse them."""
    problems = []
    for column in gdf.columns:
        if column == gdf.geometry.name or not (gdf[column].dtype == object
                                               or pd.api.types.is_string_dtype(gdf[column])):
            continue
        if not _has_control_character(gdf[column]):
            continue   # the usual case, in one pass of the regex over the column's text
        text = gdf[column].map(lambda v: v if isinstance(v, str) else None).astype("string")
        bad = text.str.contains(_CONTROL_RE, regex=True).fillna(False).astype(bool)
        for idx in bad[bad].index:
            code = ", ".join(f"U+{ord(ch):04X}" for ch in sorted(set(re.findall(_CONTROL_RE, text[idx]))))
            problems.append(Problem(spec.name, labels[idx], str(column), "control_character",
                                    f"文本含控制字符 the text contains control characters ({code})",
                                    "delete them in the source file (often a NUL byte from a broken export)"))
    return problems


def _has_control_character(column: pd.Series) -> bool:
    """Whether any text value of ``column`` holds a character of :data:`_CONTROL_RE` (a one-character class,
    so the values joined end to end hold one exactly when a value does)."""
    values = column.to_numpy(dtype=object)
    try:
        text = "".join(values)
    except TypeError:   # missing values (None, NaN, pd.NA) or non-text among them
        text = "".join(v for v in values if isinstance(v, str))
    return re.search(_CONTROL_RE, text) is not None


def _rename_columns(gdf, spec: LayerSpec, field_map: dict[str, str], problems: list[Problem]):
    for source, target in field_map.items():
        if source not in gdf.columns:
            problems.append(Problem(spec.name, None, source, "missing_source_column",
                                    f"映射的源字段不存在 mapped source column {source!r} is not in the file",
                                    f"columns are: {', '.join(map(str, gdf.columns))}"))
        if target not in spec.fields:
            problems.append(Problem(spec.name, None, target, "unknown_target_field",
                                    f"目标字段不在图层目录中 {target!r} is not a field of {spec.name}",
                                    f"fields are: {', '.join(spec.fields)}"))
    aliases = spec.alias_map()
    rename: dict[str, str] = {}
    taken: set[str] = set()
    geometry_name = gdf.geometry.name
    # explicit mappings first, then exact field names, then aliases
    candidates = [(c, field_map[c]) for c in gdf.columns if c in field_map and field_map[c] in spec.fields]
    candidates += [(c, c) for c in gdf.columns if c in spec.fields and c not in field_map]
    candidates += [(c, aliases[str(c).strip().lower()]) for c in gdf.columns
                   if c != geometry_name and c not in field_map and c not in spec.fields
                   and str(c).strip().lower() in aliases]
    for column, target in candidates:
        if target in taken or column in rename:
            if column not in rename:
                problems.append(Problem(spec.name, None, str(column), "ambiguous_column",
                                        f"字段 {column!r} 与已映射的 {target} 重复，已忽略 (another column already maps to {target})",
                                        "use --field to say which column is meant", "warning"))
            continue
        rename[column] = target
        taken.add(target)
    # columns whose own name is a catalogue field but which were not chosen must not collide
    collide = [c for c in gdf.columns if c in taken and c not in rename]
    out = gdf.rename(columns={c: f"{c}_source" for c in collide}).rename(columns=rename)
    return out


def _to_str(series: pd.Series) -> pd.Series:
    """Text without the '.0' that spreadsheets add to whole numbers, blanks as missing."""
    if pd.api.types.is_float_dtype(series):
        whole = series.notna() & (series == np.round(series))
        text = series.astype("string")
        text = text.where(~whole, series[whole].astype("Int64").astype("string"))
        return text
    text = series.astype("string").str.strip()
    return text.where(text != "", pd.NA)


def _convert(col: pd.Series, fspec: FieldSpec, spec: LayerSpec, labels: pd.Series,
             problems: list[Problem], value_map: dict[str, str] | None = None) -> pd.Series:
    if fspec.type == "str":
        out = _to_str(col)
        if fspec.values:
            out = _to_codes(out, fspec, spec, labels, problems, value_map or {})
        return out
    present = col.notna() & (col.astype("string").str.strip() != "")   # what a blank-or-parsed check needs
    if fspec.type in ("int", "float"):
        out = pd.to_numeric(col, errors="coerce").astype(float)
        bad = present & out.isna()
        if fspec.type == "int":
            bad |= out.notna() & np.isfinite(out) & (out != np.round(out))
        _report(bad, labels, spec, fspec, "bad_number",
                lambda v: f"不是{'整数' if fspec.type == 'int' else '数字'} not a number: {v!r}",
                "fix the value or leave it blank", col, problems)
        huge = out.notna() & ~bad & (~np.isfinite(out) | (out.abs() > MAX_EXACT_INT))
        _report(huge, labels, spec, fspec, "out_of_range",
                lambda v: f"数值超出可用范围 {v} is not a usable number (infinite or beyond ±2^53)",
                "check the value and its unit", col, problems)
        out = out.where(~bad & ~huge)
        out = out.round().astype("Int64") if fspec.type == "int" else out.astype(float)
        if fspec.min is not None or fspec.max is not None:
            lo = -np.inf if fspec.min is None else fspec.min
            hi = np.inf if fspec.max is None else fspec.max
            outside = out.notna() & ((out < lo) | (out > hi))
            _report(outside, labels, spec, fspec, "out_of_range",
                    lambda v: f"数值超出范围 {v} is outside [{fspec.min}, {fspec.max}]",
                    "check the unit (metres) and the value", col, problems)
        return out
    if fspec.type == "bool":
        text = col.astype("string").str.strip().str.lower()
        out = pd.Series(pd.NA, index=col.index, dtype="boolean")
        out[text.isin(TRUE_WORDS).fillna(False)] = True
        out[text.isin(FALSE_WORDS).fillna(False)] = False
        if pd.api.types.is_bool_dtype(col):
            out = col.astype("boolean")
        bad = present & out.isna()
        _report(bad, labels, spec, fspec, "bad_bool", lambda v: f"不是 是/否 值 not yes/no: {v!r}",
                "use 是/否 (or true/false, 1/0)", col, problems)
        return out
    if fspec.type == "datetime":
        if pd.api.types.is_datetime64_any_dtype(col):
            out = col
        else:
            out = _parse_dates(col)
        if getattr(out.dt, "tz", None) is not None:
            out = out.dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)
        bad = present & out.isna()
        _report(bad, labels, spec, fspec, "bad_date", lambda v: f"无法识别或有歧义的日期 not a date, or ambiguous: {v!r}",
                f"accepted: {DATE_FORMATS_ZH} (four-digit year first; 26-03-01 could be 2026 or 2001)",
                col, problems)
        return out.astype("datetime64[ms]")
    raise AssertionError(fspec.type)


def _parse_dates(col: pd.Series) -> pd.Series:
    """Dates spelled year-first with four digits (:data:`DATE_FORMATS_ZH`); anything else → NaT.

    Date objects (from an Excel date cell) are taken as they are; ``26-03-01`` or ``03/01/26``
    are refused rather than guessed (dateutil would read 2001-03-26).
    """
    is_date = col.map(lambda v: isinstance(v, (dt.date, pd.Timestamp)))
    text = col.where(~is_date).astype("string").str.strip()
    text = text.str.replace("年", "-", regex=False).str.replace("月", "-", regex=False).str.replace(
        "日", "", regex=False).str.strip()
    good = text.str.match(_DATE_RE).fillna(False).astype(bool)
    parsed = pd.to_datetime(text.where(good), errors="coerce", format="mixed", utc=None)
    if is_date.any():
        objects = pd.to_datetime(col.where(is_date), errors="coerce", format="mixed")
        if getattr(parsed.dt, "tz", None) is None and getattr(objects.dt, "tz", None) is None:
            parsed = parsed.where(~is_date, objects)
    return parsed


def _to_codes(text: pd.Series, fspec: FieldSpec, spec: LayerSpec, labels: pd.Series,
              problems: list[Problem], value_map: dict[str, str]) -> pd.Series:
    """Codes from codes, Chinese labels, value aliases and ``value_map``; unknown values once each."""
    lookup = {alias.lower(): code for alias, code in fspec.value_aliases.items()}
    lookup.update({code.lower(): code for code in fspec.values})
    lookup.update({label.lower(): code for code, label in fspec.values.items()})
    lookup.update({str(src).strip().lower(): code for src, code in value_map.items()})
    key = text.str.lower()
    out = key.map(lookup).astype("string")
    bad = text.notna() & out.isna()
    if bad.any():
        problems += unknown_value_problems(text[bad], fspec, spec, labels)
    return out.where(~bad, text)


#: how many feature ids an unknown-value message shows
SAMPLE_IDS = 3


def unknown_value_problems(values: pd.Series, fspec: FieldSpec, spec: LayerSpec, labels) -> list[Problem]:
    """One problem per distinct unknown value: its count, a few feature ids and the ``--map`` line to add.

    The suggested code is the code whose label or alias shares the longest run of characters
    with the value (difflib); ``代码`` when nothing is alike.
    """
    allowed = "、".join(f"{code} {label}" for code, label in fspec.values.items())
    names = {**{label: code for code, label in fspec.values.items()}, **fspec.value_aliases}
    out = []
    for value, index in values.groupby(values, sort=False).groups.items():
        count = len(index)
        sample = [labels[i] for i in index[:SAMPLE_IDS]]
        feature = sample[0] if count == 1 else f"{'、'.join(sample)} 等 {count} 个要素"
        near = difflib.get_close_matches(str(value), list(names), n=1, cutoff=0.3)
        code = names[near[0]] if near else "代码"
        guess = f"（最接近：{code} {fspec.values[code]}，请核实）" if near else ""
        out.append(Problem(spec.name, feature, fspec.name, "unknown_value",
                           f"未知的取值 unknown value {value!r}（{count} 个要素）",
                           f"add  --map {fspec.name} {value}={code}{guess}  or put \"{value}\" = \"{code}\" "
                           f"under [{spec.name}.{fspec.name}] in the workspace's .vocabulary.toml; allowed: {allowed}"))
    return out


def _report(mask: pd.Series, labels: pd.Series, spec: LayerSpec, fspec: FieldSpec, code: str,
            message, hint: str, values: pd.Series, problems: list[Problem]) -> None:
    if not mask.any():
        return
    for idx in mask[mask.fillna(False)].index:
        problems.append(Problem(spec.name, labels[idx], fspec.name, code, message(values[idx]), hint))


def combine(conform_problems: list[Problem], validate_problems: list[Problem]) -> list[Problem]:
    """Both lists, without a 'missing value' for a field whose value was already refused by conform."""
    refused = {(p.feature, p.field) for p in conform_problems}
    return conform_problems + [p for p in validate_problems
                               if not (p.code == "missing_value" and (p.feature, p.field) in refused)]


def check(gdf: gpd.GeoDataFrame, layer: str | LayerSpec, *, field_map=None, value_map=None, repair: bool = False,
          **validate_kwargs) -> tuple[gpd.GeoDataFrame, list[Problem], int]:
    """Conform, optionally repair, and validate: ``(conformed frame, problems, repaired count)``."""
    conformed, problems = conform(gdf, layer, field_map=field_map, value_map=value_map)
    repaired = 0
    if repair:
        conformed, repaired = repair_geometry(conformed, layer)
    return conformed, combine(problems, validate_layer(conformed, layer, **validate_kwargs)), repaired


# ---------------------------------------------------------------------- validate
def validate_layer(gdf: gpd.GeoDataFrame, layer: str | LayerSpec, *, extent=None,
                   existing_ids=None, check_crs: bool = True, as_of=None) -> list[Problem]:
    """Every problem in one conformed layer (see the module docstring for the checks).

    Parameters
    ----------
    extent : (minx, miny, maxx, maxy), optional
        Workspace extent in ``gdf``'s CRS; features entirely outside it are errors.
    existing_ids : iterable, optional
        Ids already stored (for ``--append``); a repeated id is an error.
    as_of : datetime-like, optional
        For cases: dates later than this (default now) plus :data:`FUTURE_SLACK` are errors.
    """
    spec = _spec(layer)
    problems: list[Problem] = []
    if len(gdf) == 0:
        return [Problem(spec.name, None, None, "empty_layer", "图层为空 the layer has no features",
                        "check the file and, for a multi-layer source, --src-layer")]
    if check_crs and gdf.crs is None:
        problems.append(Problem(spec.name, None, None, "missing_crs", "缺少坐标系 the data has no CRS",
                                "give it with --crs (e.g. --crs EPSG:4490 for CGCS2000 lon/lat)"))
    labels = feature_labels(gdf, spec)
    problems += _check_fields(gdf, spec, labels, existing_ids)
    problems += check_case_lifecycle(gdf, spec, labels)
    problems += check_future_dates(gdf, spec, labels, as_of=as_of)
    problems += _check_geometry(gdf, spec, labels)
    if gdf.crs is not None and gdf.crs.is_geographic:
        problems += _check_lonlat(gdf, spec, labels)
    if extent is not None:
        problems += _check_extent(gdf, spec, labels, extent)
    return problems


def _check_fields(gdf, spec: LayerSpec, labels, existing_ids) -> list[Problem]:
    problems = []
    for name in spec.required_fields:
        fspec = spec.fields[name]
        if name not in gdf:
            aliases = "、".join(fspec.aliases)
            problems.append(Problem(spec.name, None, name, "missing_field",
                                    f"缺少必填字段 required field {name} ({fspec.label()}) is missing",
                                    f"name a column {name} or one of {aliases}, or map it with --field 源字段={name}"))
            continue
        missing = gdf[name].isna()
        for idx in missing[missing].index:
            problems.append(Problem(spec.name, labels[idx], name, "missing_value",
                                    f"必填字段为空 required field {fspec.label()} is empty", "fill it in"))
    if spec.id_field and spec.id_field in gdf:
        ids = gdf[spec.id_field]
        dup = ids.notna() & ids.duplicated(keep=False)
        for idx in dup[dup].index:
            problems.append(Problem(spec.name, labels[idx], spec.id_field, "duplicate_id",
                                    f"编号重复 duplicate id {ids[idx]!r}", "every feature needs its own id"))
        if existing_ids is not None:
            clash = ids.isin(set(existing_ids))
            for idx in clash[clash].index:
                problems.append(Problem(spec.name, labels[idx], spec.id_field, "duplicate_id",
                                        f"编号已存在于工作空间 id {ids[idx]!r} is already stored",
                                        "--append refuses repeated ids; import without --append to replace the layer"))
    return problems


#: the case life cycle fields (立案 → 结案): a layer with all of them is checked by :func:`check_case_lifecycle`
LIFECYCLE_FIELDS = ("status", "reported_at", "deadline", "closed_at")


def check_case_lifecycle(gdf, spec: LayerSpec, labels) -> list[Problem]:
    """立案 → 结案 in order: a closed case has a 结案时间, an open one none; 时限 and 结案 not before 上报.

    Applies to layers with ``status`` (open/closed), ``reported_at``, ``deadline`` and ``closed_at``
    (the inspection cases); the ledger counts on these rules.
    """
    if not all(f in spec.fields for f in LIFECYCLE_FIELDS) or not all(f in gdf for f in LIFECYCLE_FIELDS[:3]):
        return []
    status = gdf["status"].astype("string").str.strip().str.lower()
    reported = pd.to_datetime(gdf["reported_at"], errors="coerce")
    deadline = pd.to_datetime(gdf["deadline"], errors="coerce")
    closed_at = (pd.to_datetime(gdf["closed_at"], errors="coerce") if "closed_at" in gdf
                 else pd.Series(pd.NaT, index=gdf.index))
    rules = [
        ((status == "closed") & closed_at.isna(), "closed_at", "closed_without_time",
         "已结案但没有结案时间 closed case without 结案时间", "fill in 结案时间 or set 状态 to 未结案"),
        ((status == "open") & closed_at.notna(), "closed_at", "open_with_close_time",
         "未结案却有结案时间 open case with a 结案时间", "set 状态 to 已结案 or clear 结案时间"),
        (closed_at.notna() & reported.notna() & (closed_at < reported), "closed_at", "closed_before_reported",
         "结案时间早于上报时间 closed before it was reported", "check both dates"),
        (deadline.notna() & reported.notna() & (deadline < reported), "deadline", "deadline_before_reported",
         "处置时限早于上报时间 deadline before it was reported", "check both dates"),
    ]
    problems = []
    for mask, fname, code, message, hint in rules:
        for idx in mask[mask.fillna(False).astype(bool)].index:
            problems.append(Problem(spec.name, labels[idx], fname, code, message, hint))
    return problems


def check_future_dates(gdf, spec: LayerSpec, labels, *, as_of=None) -> list[Problem]:
    """Case dates (上报, 结案) later than ``as_of`` (default now) + :data:`FUTURE_SLACK` are errors.

    A deadline may lie ahead; a report or a closing in 2099 is a typing error or a wrong clock.
    """
    if not all(f in spec.fields for f in LIFECYCLE_FIELDS):
        return []
    limit = pd.Timestamp(as_of if as_of is not None else dt.datetime.now()) + FUTURE_SLACK
    problems = []
    for name in ("reported_at", "closed_at"):
        if name not in gdf:
            continue
        late = (pd.to_datetime(gdf[name], errors="coerce") > limit).fillna(False).astype(bool)
        for idx in late[late].index:
            problems.append(Problem(spec.name, labels[idx], name, "date_in_future",
                                    f"日期晚于当前时间 the date lies after {limit - FUTURE_SLACK:%Y-%m-%d %H:%M}",
                                    "check the year (e.g. 2099) and the device clock"))
    return problems


def _check_geometry(gdf, spec: LayerSpec, labels) -> list[Problem]:
    problems = []
    geoms = gdf.geometry.values
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    for idx in np.flatnonzero(missing):
        problems.append(Problem(spec.name, labels.at(idx), "geometry", "empty_geometry",
                                "几何为空 the feature has no geometry", "draw it or delete the row"))
    types = shapely.get_type_id(geoms)
    accepted = [GEOMETRY_TYPE_IDS.index(name) for name in ACCEPTED_GEOMETRY[spec.geometry]]
    wrong = ~missing & ~np.isin(types, accepted)
    for idx in np.flatnonzero(wrong):
        problems.append(Problem(spec.name, labels.at(idx), "geometry", "wrong_geometry_type",
                                f"几何类型错误 {GEOMETRY_TYPE_IDS[types[idx]]}, expected {spec.geometry}",
                                f"the {spec.name} layer holds {spec.geometry} features; check you chose the right layer"))
    invalid = ~missing & ~shapely.is_valid(geoms)
    for idx in np.flatnonzero(invalid):
        reason = shapely.is_valid_reason(geoms[idx])
        problems.append(Problem(spec.name, labels.at(idx), "geometry", "invalid_geometry",
                                f"几何无效 invalid geometry: {reason}", "re-run with --repair (applies make_valid)"))
    return problems


def _check_lonlat(gdf, spec: LayerSpec, labels) -> list[Problem]:
    """In a lon/lat CRS: coordinates beyond ±180/±90, or that look swapped (lat first) for China."""
    problems = []
    x0, y0, x1, y1 = (shapely.bounds(gdf.geometry.values).T if len(gdf) else np.zeros((4, 0)))
    out_of_range = (np.abs(y0) > 90) | (np.abs(y1) > 90) | (np.abs(x0) > 180) | (np.abs(x1) > 180)
    # A Chinese lat (18–54) in the x slot with a Chinese lon (73–135) in the y slot is a swap.
    swapped = (x0 >= 3) & (x1 <= 54) & (y0 >= 73) & (y1 <= 136)
    for idx in np.flatnonzero(out_of_range | swapped):
        problems.append(Problem(spec.name, labels.at(idx), "geometry", "swapped_lonlat",
                                "坐标疑似经纬度颠倒或不是经纬度 coordinates look like swapped latitude/longitude",
                                "swap the columns (--lon/--lat) or give the right --crs"))
    return problems


def _check_extent(gdf, spec: LayerSpec, labels, extent) -> list[Problem]:
    minx, miny, maxx, maxy = extent
    b = shapely.bounds(gdf.geometry.values)
    outside = (b[:, 0] > maxx) | (b[:, 2] < minx) | (b[:, 1] > maxy) | (b[:, 3] < miny)
    outside &= ~np.isnan(b[:, 0])
    return [Problem(spec.name, labels.at(idx), "geometry", "outside_extent",
                    "要素位于工作空间范围之外 the feature lies outside the workspace extent",
                    "check its coordinates and coordinate system (--coords gcj02/bd09, --crs)")
            for idx in np.flatnonzero(outside)]


def repair_geometry(gdf: gpd.GeoDataFrame, layer: str | LayerSpec) -> tuple[gpd.GeoDataFrame, int]:
    """``make_valid`` the invalid geometries, keeping only the parts of the layer's dimension.

    Returns the repaired frame and how many features were changed.
    """
    spec = _spec(layer)
    geoms = gdf.geometry.values
    invalid = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
    if not invalid.any():
        return gdf, 0
    fixed = shapely.make_valid(geoms[invalid])
    dim = {"Point": 0, "LineString": 1, "Polygon": 2}[spec.geometry]
    fixed = _keep_dimension(fixed, dim)
    out = gdf.copy()
    out.loc[invalid, out.geometry.name] = fixed
    return out, int(invalid.sum())


def _keep_dimension(geoms: np.ndarray, dim: int) -> np.ndarray:
    """From make_valid's GeometryCollections keep only the parts of the wanted dimension."""
    parts, index = shapely.get_parts(geoms, return_index=True)
    keep = shapely.get_dimensions(parts) == dim
    out = np.array([None] * len(geoms), dtype=object)
    for i in range(len(geoms)):  # a handful of repaired features, not a hot path
        mine = parts[keep & (index == i)]
        out[i] = shapely.union_all(mine) if len(mine) else None
    return out


# ---------------------------------------------------------------------- workspace
def check_stored_layer(ws, name: str, *, extent=None) -> tuple[gpd.GeoDataFrame, list[Problem]]:
    """Every catalogue rule on a stored layer as it is on disk (it may have been edited in QGIS).

    The stored values are read without the catalogue's type conversion and conformed again, so
    a text in a number field, a date that is no date, a value outside its range, or a coded
    field holding anything but a code (``maybe``; also a Chinese label such as ``故障`` where the
    code ``broken`` belongs) are errors — then the geometry, id, required-field and life-cycle
    checks of :func:`validate_layer`. Returns the layer (with catalogue types) and the problems.
    """
    return ws.read(name), stored_layer_problems(ws, name, extent=extent)


def stored_layer_problems(ws, name: str, *, extent=None) -> list[Problem]:
    """The problems :func:`check_stored_layer` finds, without reading the layer a second time for its result."""
    spec = layer_spec(name)
    raw = ws.read_raw(name)   # a run's snapshot reads each table from disk once, for this and for ws.read
    conformed, problems = conform(raw.copy(), spec)
    labels = feature_labels(conformed, spec)
    for fname, fspec in spec.fields.items():
        if not fspec.values or fname not in raw:
            continue
        text = _to_str(raw[fname])
        converted = conformed[fname].astype("string")
        relabelled = text.notna() & converted.notna() & (text != converted) & converted.isin(list(fspec.values))
        for idx in relabelled[relabelled.fillna(False).astype(bool)].index:
            problems.append(Problem(name, labels[idx], fname, "label_not_code",
                                    f"存的是中文名称而不是代码 stored {text[idx]!r}, the code is {converted[idx]!r}",
                                    f"set it to {converted[idx]} (the analysis counts codes)"))
    return combine(problems, validate_layer(conformed, spec, extent=extent))


def validate_workspace(ws, *, repair: bool = False, extent_margin_m: float = 5000.0) -> list[Problem]:
    """Validate every stored layer; with ``repair`` fix invalid geometries in place (atomically).

    Also warns about catalogue layers the workspace does not have yet.
    """

    problems: list[Problem] = []
    stored = set(ws.layers())   # one listing of the file, not one per catalogue layer
    extent = ws.extent(buffer_m=extent_margin_m) if "built_up" in stored else None
    for name, spec in load_catalogue().items():
        if name not in stored:
            problems.append(Problem(name, None, None, "layer_missing", f"尚未导入图层 {spec.title_zh}",
                                    f"civgis import {ws.path} {name} FILE", "warning"))
            continue
        if spec.kind != "vector":
            continue
        found = stored_layer_problems(ws, name, extent=None if name == "built_up" else extent)
        if repair and any(p.code == "invalid_geometry" for p in found):
            fixed, count = repair_geometry(ws.read(name), spec)
            ws.write(name, fixed, source=str(ws.path), action="repair")
            found = [p for p in found if p.code != "invalid_geometry"] + [
                Problem(name, None, "geometry", "repaired", f"已修复 {count} 个无效几何 repaired {count} geometries",
                        "", "warning")]
        problems += found
    return problems
