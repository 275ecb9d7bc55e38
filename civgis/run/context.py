"""The per-run context: a workspace read once, each analysis computed once, shared by every output.

A report (or a notebook session) asks for the same analyses from several places: the zone table
needs the indicators, the county map needs the audit, the patrol maps need the ledger's case
states. :class:`RunContext` holds a :class:`~civgis.store.layers.Layers` snapshot and computes each
analysis on first use, so every number a run writes comes from one result object — the one the
CLI prints for the same workspace and instant.

Examples
--------
On the demo county (cached after its first build), the ledger's zones and the zone table of
one run count the same overdue cases, because both come from the run's one ``case_states``
(the ledger's total also counts the cases outside every zone, 未划分责任区):

>>> from civgis.demo import demo_workspace
>>> with RunContext(demo_workspace(), as_of="2026-11-28") as run:
...     by_zone = run.ledger.by_zone
...     in_zones = int(by_zone.loc[by_zone["zone_id"].isin(run.zone_summary["zone_id"]), "overdue"].sum())
...     in_zones == int(run.zone_summary["cases_overdue"].sum()), run.ledger.totals["overdue"] >= in_zones
(True, True)
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import pandas as pd

from civgis.analysis.cases import as_of_instant, case_states
from civgis.store.layers import Layers
from civgis.store.workspace import Workspace

if TYPE_CHECKING:
    from civgis.analysis.audit import AuditResult
    from civgis.analysis.greening import GreeningPlan
    from civgis.analysis.ledger import Ledger
    from civgis.store.validate import Problem

# The analyses are imported when first computed, not with this module: a report forks its patrol
# maps right after reading the layers, and the patrol maps need none of them (the indicators alone
# bring in scipy; ~0.2 s that every report spent serially, before the fork, on the demo).

__all__ = ["RunContext"]


class RunContext:
    """One run over one workspace at one instant.

    Parameters
    ----------
    ws : Workspace
        The workspace; it is pinned (:class:`Layers`) for the run.
    as_of : date-like, optional
        The instant case states are counted at (a date alone means the end of that day, as in
        ``civgis ledger``); default now.
    sites : int
        Sites the greening plan chooses.
    validation : list of Problem, optional
        Validation already run by the caller (``civgis demo`` validates before reporting).

    Attributes
    ----------
    layers : Layers
        The read-once snapshot every analysis reads.
    as_of : pandas.Timestamp
        The resolved instant.
    """

    def __init__(self, ws: Workspace, *, as_of=None, sites: int = 5, validation: list[Problem] | None = None):
        self.workspace = ws
        self.layers = ws if isinstance(ws, Layers) else Layers(ws)
        self.as_of: pd.Timestamp = as_of_instant(as_of)
        self.sites = sites
        if validation is not None:
            self.__dict__["validation"] = validation

    @cached_property
    def validation(self) -> list["Problem"]:
        from civgis.store.validate import validate_workspace  # lazy: after the report's fork (see above)

        return validate_workspace(self.layers)

    @cached_property
    def indicators(self) -> pd.DataFrame:
        """City and per-zone indicator rows (``civgis indicators --zones``); city rows only without zones."""
        from civgis.analysis.indicators import compute_indicators  # lazy: after the report's fork (see above)

        return compute_indicators(self.layers, zones=self.layers.has("zones"))

    @cached_property
    def audit(self) -> "AuditResult":
        from civgis.analysis.audit import audit_workspace  # lazy: after the report's fork (see above)

        return audit_workspace(self.layers)

    @cached_property
    def case_states(self) -> pd.DataFrame:
        """Every case's state at the run's instant and its one zone (:func:`case_states`), once per run."""
        return case_states(self.layers.read("inspections"), self.as_of, self.layers.read_optional("zones"))

    @cached_property
    def ledger(self) -> "Ledger":
        from civgis.analysis.ledger import ledger_workspace  # lazy: after the report's fork (see above)

        return ledger_workspace(self.layers, as_of=self.as_of, states=self.case_states)

    @cached_property
    def zone_summary(self) -> pd.DataFrame:
        from civgis.analysis.zones import zone_summary  # lazy: after the report's fork (see above)

        states = self.case_states if self.layers.has("inspections") else None
        return zone_summary(self.layers, as_of=self.as_of, states=states)

    @cached_property
    def greening(self) -> "GreeningPlan":
        from civgis.analysis.greening import plan_greening  # lazy: after the report's fork (see above)

        return plan_greening(self.layers, sites=self.sites)

    def close(self) -> None:
        if self.layers is not self.workspace:
            self.layers.close()

    def __enter__(self) -> "RunContext":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
