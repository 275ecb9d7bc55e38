"""Demo workspaces: the bureau's files imported through the real importers, and a cached copy for notebooks."""

from __future__ import annotations

import fcntl
import os
import uuid
from pathlib import Path


from civgis.store.importers import import_file
from civgis.store.workspace import Workspace
from civgis.demo.common import DEFAULT_SEED
from civgis.demo.files import generate_demo_files

__all__ = ["build_demo_workspace", "demo_workspace", "demo_cache_dir"]


# ---------------------------------------------------------------------- building workspaces
def build_demo_workspace(out_dir, *, seed: int = DEFAULT_SEED, scale: float = 1.0, progress: bool = False):
    """Generate the raw files into ``out_dir/raw`` and import them into ``out_dir/county.gpkg``.

    Every file goes through the real importer, :func:`civgis.store.importers.import_file`, with the options
    recorded in the manifest (``encoding="gbk"`` for the shapefile, ``coords="gcj02"`` for the
    lamps …), exactly as a user would run ``civgis import``. An existing ``county.gpkg`` is replaced.

    Parameters
    ----------
    out_dir : path
        Output folder: ``raw/`` (the files and ``manifest.json``) and ``county.gpkg``.
    seed, scale
        As for :func:`generate_demo_files`.
    progress : bool
        Print one line per imported file to stderr.

    Returns
    -------
    Workspace

    Examples
    --------
    >>> import tempfile
    >>> ws = build_demo_workspace(tempfile.mkdtemp(), scale=0.2)
    >>> ws.crs.to_epsg(), ws.read("residential").population.sum()
    (4527, np.int64(30000))
    """
    import sys


    out = Path(out_dir)
    raw = out / "raw"
    manifest = generate_demo_files(raw, seed=seed, scale=scale)
    path = out / "county.gpkg"
    tmp = out / f".county.{uuid.uuid4().hex}.gpkg"
    try:
        ws = Workspace.create(tmp, crs=manifest["crs"])
        steps = manifest["imports"]
        for entry in steps:
            report = import_file(ws, entry["layer"], raw / entry["path"], **entry["options"])
            if progress:
                print(f"  导入 {entry['layer']}: {report.count} ← {entry['path']}", file=sys.stderr)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        for extra in out.glob(f".{tmp.name}.lock"):
            extra.unlink(missing_ok=True)
    return Workspace(path)


def demo_workspace(path=None, *, seed: int = DEFAULT_SEED):
    """The demo county workspace, built once and cached in ``path`` (default :func:`demo_cache_dir`).

    Rebuilt when the cached ``county.gpkg`` is missing or older than this module. Safe when
    several notebooks start at once (a file lock serialises the build). The planted facts are
    in ``load_manifest(ws.path.parent)``.

    Examples
    --------
    >>> ws = demo_workspace()
    >>> from civgis.demo import load_manifest
    >>> load_manifest(ws.path.parent)["today"]
    '2026-11-28'
    """

    path = Path(path) if path is not None else demo_cache_dir()
    gpkg = path / "county.gpkg"
    stamp = Path(__file__).stat().st_mtime
    path.mkdir(parents=True, exist_ok=True)
    with open(path / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if gpkg.exists() and gpkg.stat().st_mtime >= stamp and (path / "raw" / "manifest.json").exists():
            return Workspace(gpkg)
        return build_demo_workspace(path, seed=seed)


def demo_cache_dir() -> Path:
    """Where :func:`demo_workspace` caches the demo: ``$CIVGIS_DEMO_DIR``, else the user cache
    (``$XDG_CACHE_HOME/civgis/demo``, default ``~/.cache/civgis/demo``) — never inside the
    installed package, which may be read-only."""
    if os.environ.get("CIVGIS_DEMO_DIR"):
        return Path(os.environ["CIVGIS_DEMO_DIR"]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "civgis" / "demo"


