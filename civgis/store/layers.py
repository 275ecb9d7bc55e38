"""A read-once snapshot of a workspace: every layer read at most once, all from one version of the file.

A report or any multi-step job reads the same layers many times (the first release read 9 layers
54 times per report). :class:`Layers` answers the read side of :class:`~civgis.store.workspace.Workspace`
(``read``, ``read_optional``, ``has``, ``crs``, ``raster_uri``, ``extent``, ``summary``, ``path``)
from an in-memory cache filled on first use, so analyses written against a workspace accept a
snapshot unchanged.

Consistency: a workspace commits a change by renaming a new file over the old one, so a snapshot
pins the version it was opened on with a hard link to the file (a copy where a link is not
possible); an import that commits meanwhile does not mix into the run.

Examples
--------
>>> import tempfile, geopandas as gpd
>>> from shapely.geometry import box
>>> from civgis.store.workspace import Workspace
>>> ws = Workspace.create(tempfile.mkdtemp() + "/county.gpkg", crs=4527)
>>> ws.write("built_up", gpd.GeoDataFrame(geometry=[box(0, 0, 1000, 1000)], crs=4527))
>>> with Layers(ws) as layers:
...     a = layers.read("built_up")
...     ws.write("built_up", gpd.GeoDataFrame(geometry=[box(0, 0, 10, 10)], crs=4527))  # a later import
...     float(layers.read("built_up").area.sum())                                      # the pinned version
1000000.0
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
from pyproj import CRS

from civgis.store.workspace import Workspace, apply_catalogue_dtypes

__all__ = ["Layers"]


class Layers:
    """The read side of a workspace, pinned to one version of its file, each layer read once.

    Parameters
    ----------
    ws : Workspace or path
        The workspace to snapshot.

    Attributes
    ----------
    workspace : Workspace
        The live workspace (writes go there; reads come from the snapshot).
    path : Path
        The live workspace's path (for messages and report metadata).
    reads : dict[str, int]
        How many times each layer was read from disk (1 at most; tests and benches check it).
    """

    def __init__(self, ws: Workspace | str | os.PathLike):
        self.workspace = ws if isinstance(ws, Workspace) else Workspace(ws)
        self.path = self.workspace.path
        self._pinned_path, self._own_dir = _pin(self.workspace.path)
        self._pinned = _Pinned(self._pinned_path)
        self._frames: dict[str, gpd.GeoDataFrame] = {}
        self._raw: dict[str, gpd.GeoDataFrame] = {}
        self._crs: CRS | None = self._pinned.crs
        self.reads: dict[str, int] = {}
        self._owner_pid = os.getpid()

    # ------------------------------------------------------------------ the Workspace read API
    @property
    def crs(self) -> CRS | None:
        return self._crs

    def has(self, layer: str) -> bool:
        return self._pinned.has(layer)

    def read_raw(self, layer: str) -> gpd.GeoDataFrame:
        """A copy of the table as GDAL gives it (:meth:`Workspace.read_raw`); read from disk the first time only.

        :meth:`read` types a copy of it, so validation and the analyses read a table once between them.
        """
        if layer not in self._raw:
            self._raw[layer] = self._pinned.read_raw(layer)
            self.reads[layer] = self.reads.get(layer, 0) + 1
        return self._raw[layer].copy()

    def read(self, layer: str, *, columns: list[str] | None = None, bbox=None) -> gpd.GeoDataFrame:
        """A copy of the layer (callers may change it freely); read from disk the first time only."""
        if layer not in self._frames:
            spec = self._pinned._readable_spec(layer)
            self._frames[layer] = apply_catalogue_dtypes(self.read_raw(layer), spec)
        gdf = self._frames[layer]
        if bbox is not None:
            gdf = gdf.cx[bbox[0]:bbox[2], bbox[1]:bbox[3]]
        if columns is not None:
            gdf = gdf[[c for c in columns if c in gdf.columns] + [gdf.geometry.name]]
        return gdf.copy()

    def read_optional(self, layer: str, **kwargs) -> gpd.GeoDataFrame | None:
        return self.read(layer, **kwargs) if self.has(layer) else None

    def raster_uri(self, layer: str = "canopy") -> str | None:
        return self._pinned.raster_uri(layer)

    def layers(self) -> list[str]:
        return self._pinned.layers()

    def extent(self, buffer_m: float = 0.0):
        return self._pinned.extent(buffer_m)

    def summary(self) -> pd.DataFrame:
        return self._pinned.summary()

    def meta(self) -> dict[str, str]:
        return self._pinned.meta()

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Drop the pinned file (the live workspace is untouched); only the process that pinned it does.

        A report forks a process that reads this snapshot (its patrol maps): that process must not
        remove the file the parent still reads.
        """
        if os.getpid() != getattr(self, "_owner_pid", os.getpid()):
            return
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None
        elif self._pinned_path != self.path:
            Path(self._pinned_path).unlink(missing_ok=True)
        self._pinned_path = self.path

    def __enter__(self) -> "Layers":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: nothing left to clean reliably
            pass

    def __repr__(self) -> str:
        return f"Layers({str(self.path)!r})"


class _Pinned(Workspace):
    """A snapshot's file: it does not change, so what it lists and holds is looked up once.

    A report asked for the layer list 14 times, each a GeoPackage listing and a raster open
    (0.1 s on the demo); the table list, the rasters, the extent, the summary and the metadata
    (the CRS and the log come from it) are each read once here. Results are copies.
    """

    def __init__(self, path):
        super().__init__(path)
        self._looked_up: dict[tuple, object] = {}

    def _once(self, key: tuple, compute):
        if key not in self._looked_up:
            self._looked_up[key] = compute()
        return self._looked_up[key]

    def _stored_tables(self) -> set[str]:
        return set(self._once(("tables",), super()._stored_tables))

    def raster_uri(self, layer: str = "canopy") -> str | None:
        return self._once(("raster_uri", layer), lambda: super(_Pinned, self).raster_uri(layer))

    def extent(self, buffer_m: float = 0.0):
        return self._once(("extent", buffer_m), lambda: super(_Pinned, self).extent(buffer_m))

    def summary(self) -> pd.DataFrame:
        return self._once(("summary",), super().summary).copy()

    def meta(self) -> dict[str, str]:
        return dict(self._once(("meta",), super().meta))


def _pin(path: Path) -> tuple[Path, Path | None]:
    """A path that keeps this version of ``path``: a hard link in a private folder, else a copy."""
    own = Path(tempfile.mkdtemp(prefix="civgis-snapshot-"))
    target = own / path.name
    try:
        os.link(path, target)
    except OSError:  # another file system, or links not allowed: a copy is just as consistent
        try:
            shutil.copy2(path, target)
        except OSError:
            shutil.rmtree(own, ignore_errors=True)
            return path, None
    return target, own
