"""The installed version, from package metadata (the bottom layer: any module may import it)."""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _dist_version

__all__ = ["version"]


def version() -> str:
    """The installed distribution's version (package metadata), or ``0+unknown`` in a bare checkout."""
    try:
        return _dist_version("civgis")
    except PackageNotFoundError:
        return "0+unknown"
