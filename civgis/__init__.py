"""civgis — spatial data, numbers, maps and a plan of action for a county's National Civilized City campaign.

The package is built in layers, data flowing one way (a test enforces it):

``civgis.store``
    the layer catalogue, targets, CRS and coordinate systems, importers, validation, the
    workspace (one GeoPackage) and the read-once :class:`~civgis.store.layers.Layers` snapshot;
``civgis.analysis``
    indicators, the walking network, the zone audit, zones, the case ledger, hot spots, trends,
    greening — GeoDataFrames/arrays in, result objects out;
``civgis.render``
    web maps, patrol maps, figures, workbooks and the report page;
``civgis.run``
    the per-run context and the jobs that write an output folder (the readiness report);
``civgis.cli``
    the ``civgis`` command (argparse only).

Examples
--------
>>> import civgis
>>> civgis.__version__ == civgis.version()
True
>>> civgis.indicators is civgis.compute_indicators
True
"""

from importlib import import_module

from civgis._version import version

__version__ = version()

# Names resolve on first use (PEP 562): importing everything costs ~4 s (geopandas, scipy, folium,
# matplotlib) and every ``civgis`` command — ``civgis --help`` too — imports this package first.
_EXPORTS = {
    "AuditResult": "civgis.analysis.audit", "audit_workspace": "civgis.analysis.audit",
    "GreeningPlan": "civgis.analysis.greening", "plan_greening": "civgis.analysis.greening",
    "HotspotResult": "civgis.analysis.hotspots", "hotspots": "civgis.analysis.hotspots",
    "hotspots_workspace": "civgis.analysis.hotspots",
    "compute_indicators": "civgis.analysis.indicators",
    "Ledger": "civgis.analysis.ledger", "build_ledger": "civgis.analysis.ledger",
    "ledger_workspace": "civgis.analysis.ledger",
    "import_file": "civgis.store.importers",
    "Layers": "civgis.store.layers",
    "Targets": "civgis.store.targets", "load_targets": "civgis.store.targets",
    "Workspace": "civgis.store.workspace", "WorkspaceError": "civgis.store.workspace",
    "RunContext": "civgis.run.context",
    "write_report": "civgis.run.report",
}
#: the layer sub-packages
_SUBPACKAGES = ("analysis", "render", "run", "store", "demo", "cli")

__all__ = sorted([*_EXPORTS, *_SUBPACKAGES, "__version__", "indicators", "version"])


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
    elif name == "indicators":  # ``civgis.indicators(ws)``: the table of ``civgis indicators``
        value = import_module("civgis.analysis.indicators").compute_indicators
    elif name in _SUBPACKAGES:
        value = import_module(f"civgis.{name}")
    else:
        raise AttributeError(f"module 'civgis' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
