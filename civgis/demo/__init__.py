"""The demo county (示范县): a seeded county town, written as a bureau's files and imported for real."""

from civgis.demo.county import (DEFAULT_SEED, DEMO_TODAY, build_demo_workspace, demo_workspace, generate_demo_files,
                                load_manifest)

__all__ = ["DEFAULT_SEED", "DEMO_TODAY", "build_demo_workspace", "demo_workspace", "generate_demo_files",
           "load_manifest"]
