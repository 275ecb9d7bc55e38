"""civgis — spatial data and numbers for a county's National Civilized City campaign.

Data flows one way: load and validate (``catalogue``, ``coords``, ``crs``, ``io``, ``conform``,
``validate``, ``workspace``) → analyse (``indicators``, ``network``, ``audit``, ``ledger``,
``hotspots``, ``greening``) → render (``maps``, ``printmaps``, ``report``).
"""

__version__ = "0.1.0"

from .workspace import Workspace, WorkspaceError  # noqa: E402

__all__ = ["Workspace", "WorkspaceError", "__version__"]


def __getattr__(name):
    """``civgis.indicators(ws)`` and friends without importing the sub-module first."""
    if name in ("indicators", "network", "targets", "audit", "ledger", "hotspots", "greening", "report", "demo"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'civgis' has no attribute {name!r}")
