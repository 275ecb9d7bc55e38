"""Indicator targets (达标目标) and computation parameters, read from an editable TOML file.

The bureau edits ``data/targets.toml``: for each indicator its threshold (``target``), the
``comparison`` (``>=``, ``>``, ``<=``, ``<``), the ``standard`` it comes from, its ``status``
(confirmed / local / unconfirmed, as in the project's standards notes) and the
``responsible_unit``; optional ``by_road_class`` thresholds for the lamp rates. A
``[parameters]`` table holds the distances the indicators use (lamp reach, toilet radius, park
service tiers …) and, optionally, the official urban ``population``; a ``[plan]`` table the
parameters of the pass plan (达标路径: lamp spacing per road class, lead times, the class rule).

A workspace can override any of it with ``<workspace stem>.targets.toml`` beside the workspace
file (``county.targets.toml`` beside ``county.gpkg``); the override is merged entry by entry over
the default file, so it only needs the lines it changes.

Examples
--------
>>> t = load_targets()
>>> t.get("park_area_per_capita").target, t.get("park_area_per_capita").comparison
(8.0, '>')
>>> t.get("park_area_per_capita").passes(8.0)
False
>>> t.parameters["lamp_reach_m"]
25.0
"""

from __future__ import annotations

import math
import operator
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

__all__ = ["DEFAULT_TARGETS_PATH", "COMPARISONS", "COMPARISON_ZH", "TargetsError", "Target", "Parameters",
           "Targets", "workspace_targets_path", "parse_targets", "load_targets", "default_parameters"]

#: The default targets file: ``$CIVGIS_TARGETS`` or ``data/targets.toml`` beside the package.
DEFAULT_TARGETS_PATH = Path(__file__).resolve().parent.parent / "data" / "targets.toml"

COMPARISONS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
COMPARISON_ZH = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}


class TargetsError(ValueError):
    """A targets file is malformed (names the file, the indicator and the key)."""


@dataclass(frozen=True)
class Target:
    """The target of one indicator."""

    indicator: str
    target: float | None = None
    comparison: str = ">="
    standard: str = ""
    status: str = ""
    responsible_unit: str = ""
    by_road_class: dict[str, float] = field(default_factory=dict)

    def threshold(self, road_class: str | None = None) -> float | None:
        """The threshold for a road class (its own, else the overall one); None when there is none."""
        if road_class is not None and road_class in self.by_road_class:
            return self.by_road_class[road_class]
        return self.target

    def passes(self, value, road_class: str | None = None) -> bool | None:
        """True/False against the threshold; None when there is no threshold or no value."""
        threshold = self.threshold(road_class)
        if threshold is None or value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return bool(COMPARISONS[self.comparison](float(value), float(threshold)))

    def label(self, road_class: str | None = None) -> str:
        """The target as the bureau writes it, e.g. ``≥ 98``."""
        threshold = self.threshold(road_class)
        return "" if threshold is None else f"{COMPARISON_ZH[self.comparison]} {threshold:g}"

    def to_dict(self) -> dict:
        return {"indicator": self.indicator, "target": self.target, "comparison": self.comparison,
                "standard": self.standard, "status": self.status, "responsible_unit": self.responsible_unit,
                "by_road_class": dict(self.by_road_class)}


@dataclass(frozen=True)
class Parameters:
    """The computation parameters of the targets file's ``[parameters]`` table — the one place they live.

    Every analysis takes them explicitly (``params=`` / ``tiers=`` …); the defaults are the
    package's ``data/targets.toml``, a workspace's own file may override any of them. Distances in
    metres (projected metric CRS), areas in m², shares in percent everywhere.

    Attributes
    ----------
    lamp_reach_m : float
        A lamp lights the road within this distance.
    lamp_snap_m : float
        A lamp belongs to its nearest road within this distance.
    toilet_radius_m : float
        Public-toilet service radius (indicators and the web map's rings).
    park_tiers : tuple of (min_area_m2, radius_m)
        Park service radius by park size, largest first.
    park_entry_tolerance_m : float
        A street within this distance of a park boundary gives access to it.
    walk_cell_m : float
        Residential land is sampled on this grid for the walking figure.
    green_space_categories, park_categories : tuple of str
        Green land classes counted in 绿地率, and the park classes (公园绿地).
    population : float or None
        The official urban population, when the bureau gives one.

    Examples
    --------
    >>> p = default_parameters()
    >>> p.toilet_radius_m, p.park_tiers, p.park_categories
    (300.0, ((5000.0, 500.0), (1000.0, 300.0)), ('G1',))
    """

    lamp_reach_m: float
    lamp_snap_m: float
    toilet_radius_m: float
    park_tiers: tuple[tuple[float, float], ...]
    park_entry_tolerance_m: float
    walk_cell_m: float
    green_space_categories: tuple[str, ...]
    park_categories: tuple[str, ...]
    population: float | None = None

    @classmethod
    def from_mapping(cls, raw: dict, where: str = "targets") -> "Parameters":
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n != "population" and n not in raw]
        if missing:
            raise TargetsError(f"{where}: [parameters] 缺少 missing {', '.join(missing)}")
        values = {n: raw[n] for n in names if n in raw}
        try:
            for n in ("lamp_reach_m", "lamp_snap_m", "toilet_radius_m", "park_entry_tolerance_m", "walk_cell_m"):
                values[n] = float(values[n])
            values["park_tiers"] = tuple((float(a), float(r)) for a, r in values["park_tiers"])
            for n in ("green_space_categories", "park_categories"):
                values[n] = tuple(str(c) for c in values[n])
            if values.get("population") is not None:
                values["population"] = float(values["population"])
        except (TypeError, ValueError):
            raise TargetsError(f"{where}: [parameters] 数值格式错误 a parameter is not a number or list as in "
                               f"data/targets.toml (park_tiers: [[min_area_m2, radius_m], ...])") from None
        return cls(**values)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class Targets:
    """All targets plus the computation parameters, and the files they were read from."""

    targets: dict[str, Target]
    parameters: dict
    sources: list[Path] = field(default_factory=list)
    plan: dict = field(default_factory=dict)

    @property
    def params(self) -> Parameters:
        """The computation parameters as one object (see :class:`Parameters`)."""
        return Parameters.from_mapping(self.parameters, ", ".join(str(p) for p in self.sources) or "targets")

    def get(self, indicator: str) -> Target:
        """The target of an indicator (an empty one, judging nothing, when the file has none)."""
        return self.targets.get(indicator) or Target(indicator)

    def to_dict(self) -> dict:
        return {"targets": {k: v.to_dict() for k, v in self.targets.items()}, "parameters": dict(self.parameters),
                "sources": [str(p) for p in self.sources], "plan": dict(self.plan)}


def workspace_targets_path(ws) -> Path:
    """Where a workspace's own targets file lives: ``<stem>.targets.toml`` beside the workspace."""
    path = Path(getattr(ws, "path", ws))
    return path.with_name(f"{path.stem}.targets.toml")


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise TargetsError(f"目标文件不存在 targets file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise TargetsError(f"目标文件格式错误 targets file {path} is not valid TOML: {exc}") from None


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _number(value, path, indicator, key):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TargetsError(f"{path}: indicators.{indicator}.{key} must be a number, not {value!r}")
    return float(value)


def parse_targets(raw: dict, sources: list[Path] | None = None) -> Targets:
    """Build :class:`Targets` from the parsed TOML (validated: comparisons, numbers)."""
    where = ", ".join(str(p) for p in sources or []) or "targets"
    targets: dict[str, Target] = {}
    for name, entry in raw.get("indicators", {}).items():
        if not isinstance(entry, dict):
            raise TargetsError(f"{where}: [indicators.{name}] must be a table")
        comparison = entry.get("comparison", ">=")
        if comparison not in COMPARISONS:
            raise TargetsError(f"{where}: indicators.{name}.comparison must be one of {list(COMPARISONS)}, "
                               f"not {comparison!r}")
        target = entry.get("target")
        by_class = entry.get("by_road_class", {}) or {}
        targets[name] = Target(
            indicator=name,
            target=None if target is None else _number(target, where, name, "target"),
            comparison=comparison,
            standard=str(entry.get("standard", "")),
            status=str(entry.get("status", "")),
            responsible_unit=str(entry.get("responsible_unit", "")),
            by_road_class={str(k): _number(v, where, name, f"by_road_class.{k}") for k, v in by_class.items()},
        )
    parameters = dict(raw.get("parameters", {}))
    if "park_tiers" in parameters:
        try:
            parameters["park_tiers"] = tuple((float(a), float(r)) for a, r in parameters["park_tiers"])
        except (TypeError, ValueError):
            raise TargetsError(f"{where}: parameters.park_tiers must be a list of [min_area_m2, radius_m] pairs") from None
    plan = raw.get("plan", {})
    if not isinstance(plan, dict):
        raise TargetsError(f"{where}: [plan] must be a table")
    return Targets(targets=targets, parameters=parameters, sources=list(sources or []), plan=dict(plan))


def load_targets(path: str | os.PathLike | None = None, ws=None) -> Targets:
    """Read the targets: the default file, with a workspace's own file (or ``path``) merged over it.

    Parameters
    ----------
    path : path-like, optional
        An explicit targets file, merged over the default file.
    ws : Workspace or path, optional
        When given (and ``path`` is not), ``<workspace stem>.targets.toml`` beside it is merged over
        the default file if it exists.

    Returns
    -------
    Targets
    """
    default = Path(os.environ.get("CIVGIS_TARGETS") or DEFAULT_TARGETS_PATH)
    raw = _read_toml(default)
    sources = [default]
    override = Path(path) if path is not None else (workspace_targets_path(ws) if ws is not None else None)
    if override is not None and (path is not None or override.exists()):
        if override.resolve() != default.resolve():
            raw = _merge(raw, _read_toml(override))
            sources.append(override)
    return parse_targets(raw, sources)


def default_parameters() -> Parameters:
    """The parameters of the default targets file (``$CIVGIS_TARGETS`` or the package's ``data/targets.toml``)."""
    return load_targets().params
