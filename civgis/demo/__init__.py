"""The demo county (示范县): a seeded county town, written as a bureau's files and imported for real.

``common`` (constants, name pools, geometry helpers) ← ``assets`` (lamps, toilets, cases) ←
``plan`` (the town plan: roads, lots, zones, green, the warp) ← ``manifest`` (planted facts) ←
``files`` (the bureau's files) ← ``workspace`` (imported through the real importers, cached).
"""

from civgis.demo.common import DEFAULT_SEED, DEMO_TODAY
from civgis.demo.files import generate_demo_files
from civgis.demo.manifest import load_manifest
from civgis.demo.workspace import build_demo_workspace, demo_workspace

__all__ = ["DEFAULT_SEED", "DEMO_TODAY", "build_demo_workspace", "demo_workspace", "generate_demo_files",
           "load_manifest"]
