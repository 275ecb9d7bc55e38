"""A workspace's cache of derived arrays that do not change between runs (walking network, sample grid).

What is cached is keyed on its inputs, never on time: the key is a SHA-256 of the input layers'
geometries (WKB), the attributes that matter and the parameters (:func:`content_key`). A changed
layer or parameter gives a new key, so a stale entry is never read — it is simply not found and
replaced. Only the newest entry of each kind is kept.

Where: a folder beside the GeoPackage, ``.<stem>.cache/`` (like the workspace's lock file), one
``<kind>-<key>.npz`` per entry, written to a temporary name and renamed (``os.replace``), so a
reader never sees half a file. The GeoPackage itself is never touched: caching needs neither the
workspace lock nor a transaction.

Read-only workspaces: when the GeoPackage or its folder is not writable (the rules of
:func:`civgis.store.workspace.Workspace.transaction`), nothing is written; existing entries are
still read. A cache that cannot be read or written (corrupt file, full disk) is a miss, never an
error — the caller computes the arrays as if there were no cache.

Examples
--------
>>> import tempfile, numpy as np
>>> from pathlib import Path
>>> gpkg = Path(tempfile.mkdtemp()) / "county.gpkg"; gpkg.write_bytes(b"")
0
>>> cache = WorkspaceCache.for_path(gpkg)
>>> key = content_key(np.arange(3), 20.0)
>>> cache.get("demo", key) is None
True
>>> cache.put("demo", key, {"x": np.arange(3.0)})
True
>>> cache.get("demo", key)["x"].tolist()
[0.0, 1.0, 2.0]
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import uuid
from pathlib import Path

import numpy as np
import shapely

__all__ = ["WorkspaceCache", "NO_CACHE", "content_key", "workspace_cache"]

#: bump when the layout of a cached entry changes (old entries are then never read)
CACHE_FORMAT = 1
_NAME = re.compile(r"^[a-z0-9_]+$")


def content_key(*parts) -> str:
    """SHA-256 (hex, 32 characters) of the inputs: arrays, geometries, GeoDataFrames, numbers, strings.

    Geometries hash by their WKB (so a moved vertex changes the key), arrays by dtype, shape and
    bytes, GeoDataFrames/GeoSeries by their geometries; ``None`` and other scalars by ``repr``.
    """
    h = hashlib.sha256(f"civgis-cache-{CACHE_FORMAT}".encode())
    for part in parts:
        _update(h, part)
    return h.hexdigest()[:32]


def _update(h, part) -> None:
    geoms = getattr(part, "geometry", None)
    if geoms is not None and not isinstance(part, shapely.Geometry):
        part = np.asarray(geoms.values if hasattr(geoms, "values") else geoms, dtype=object)
    if isinstance(part, shapely.Geometry):
        part = np.array([part], dtype=object)
    if isinstance(part, np.ndarray) and part.dtype == object:
        wkb = shapely.to_wkb(part, hex=False, output_dimension=2, include_srid=False)
        h.update(b"G%d;" % len(wkb))
        for w in wkb:
            h.update(b"-" if w is None else w)
        return
    if isinstance(part, np.ndarray):
        a = np.ascontiguousarray(part)
        h.update(f"A{a.dtype.str}{a.shape};".encode())
        h.update(a.tobytes())
        return
    if isinstance(part, (list, tuple)):
        h.update(f"L{len(part)};".encode())
        for p in part:
            _update(h, p)
        return
    h.update(f"S{part!r};".encode())


class WorkspaceCache:
    """Cached arrays of one workspace (see the module notes).

    Parameters
    ----------
    folder : Path or None
        The cache folder; None disables the cache (every ``get`` misses, ``put`` does nothing).
    writable : bool
        False for a read-only workspace: entries are read but never written.
    """

    def __init__(self, folder: Path | None, *, writable: bool = True):
        self.folder = Path(folder) if folder is not None else None
        self.writable = bool(writable and folder is not None)
        self.hits: dict[str, int] = {}
        self.misses: dict[str, int] = {}

    @classmethod
    def for_path(cls, gpkg) -> "WorkspaceCache":
        """The cache of the workspace file ``gpkg`` (``.<stem>.cache/`` beside the resolved file)."""
        target = Path(gpkg).resolve()
        folder = target.with_name(f".{target.stem}.cache")
        writable = (target.exists() and os.access(target, os.W_OK)
                    and os.access(target.parent, os.W_OK | os.X_OK))
        return cls(folder, writable=writable)

    def _path(self, kind: str, key: str) -> Path:
        if not _NAME.match(kind) or not re.fullmatch(r"[0-9a-f]+", key):
            raise ValueError(f"bad cache entry name {kind!r}/{key!r}")
        return self.folder / f"{kind}-{key}.npz"

    def get(self, kind: str, key: str) -> dict[str, np.ndarray] | None:
        """The arrays stored under ``kind``/``key``, or None (missing, unreadable or disabled)."""
        if self.folder is None:
            return None
        path = self._path(kind, key)
        try:
            with np.load(path, allow_pickle=False) as z:
                out = {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError, KeyError):
            self.misses[kind] = self.misses.get(kind, 0) + 1
            return None
        self.hits[kind] = self.hits.get(kind, 0) + 1
        return out

    def put(self, kind: str, key: str, arrays: dict[str, np.ndarray]) -> bool:
        """Store the arrays (atomically) and drop older entries of the same kind; False when not written."""
        if not self.writable:
            return False
        path = self._path(kind, key)
        tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex}.tmp.npz")
        try:
            self.folder.mkdir(exist_ok=True)
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
            return False
        for old in self.folder.glob(f"{kind}-*.npz"):
            if old != path:
                with contextlib.suppress(OSError):
                    old.unlink()
        return True

    def get_or_compute(self, kind: str, key: str, compute) -> dict[str, np.ndarray]:
        """The arrays under ``kind``/``key``; on a miss ``compute()`` (a dict of arrays), stored, and returned.

        A hit and a miss give the same dict (the stored arrays are what ``compute`` returned).
        """
        got = self.get(kind, key)
        if got is None:
            got = {name: np.asarray(value) for name, value in compute().items()}
            self.put(kind, key, got)
        return got

    def geometries(self, kind: str, key: str, compute) -> np.ndarray:
        """An array of geometries under ``kind``/``key``, else ``compute()`` stored as WKB (every double kept,
        so the cached array equals the computed one)."""
        def packed():
            wkb = shapely.to_wkb(np.asarray(compute(), dtype=object), output_dimension=2)
            return {"wkb": np.frombuffer(b"".join(wkb), dtype=np.uint8),
                    "end": np.cumsum([len(w) for w in wkb], dtype=np.int64)}

        got = self.get_or_compute(kind, key, packed)
        buf, end = got["wkb"].tobytes(), got["end"]
        return shapely.from_wkb(np.array([buf[a:b] for a, b in zip(np.r_[0, end[:-1]], end)], dtype=object))

    def __repr__(self) -> str:
        return f"WorkspaceCache({str(self.folder)!r}, writable={self.writable})"


#: the disabled cache (pure functions on frames use it: no workspace, nothing stored)
NO_CACHE = WorkspaceCache(None)


def workspace_cache(ws) -> WorkspaceCache:
    """The cache of a :class:`~civgis.store.workspace.Workspace` or :class:`~civgis.store.layers.Layers`
    (a snapshot caches beside the live file it was taken from); :data:`NO_CACHE` without a path or
    when ``CIVGIS_NO_CACHE`` is set."""
    path = getattr(ws, "path", None)
    if path is None or os.environ.get("CIVGIS_NO_CACHE"):
        return NO_CACHE
    return WorkspaceCache.for_path(path)
