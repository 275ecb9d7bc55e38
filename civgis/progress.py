"""One progress bar for every long job (the bottom layer: any module may import it).

The bar goes to standard error and only when it is a terminal, so logs and pipes stay free of
carriage returns. ``CIVGIS_PROGRESS=1`` forces it on (a notebook, a demo recording),
``CIVGIS_PROGRESS=0`` forces it off; ``enabled=False`` turns it off for one call (``--quiet``).

Examples
--------
>>> bar = progress(range(3), desc="示例", enabled=False)
>>> sum(bar)
3
"""

from __future__ import annotations

import os
import sys

from tqdm.auto import tqdm

# tqdm starts a monitor thread with the first bar, even a disabled one; a live thread makes the
# process pools fall back from fork (the patrol maps to spawn, which re-imports everything and
# copies the layers into every worker: the demo's 12 s → 35 s; the web maps to one process). civgis's bars
# are updated by the job itself, so the monitor has nothing to do.
tqdm.monitor_interval = 0

__all__ = ["progress", "progress_enabled"]


def progress_enabled(enabled: bool = True) -> bool | None:
    """Whether a bar shows: ``False`` off, ``True`` forced on, ``None`` on only at a terminal."""
    forced = os.environ.get("CIVGIS_PROGRESS")
    if not enabled or forced == "0":
        return False
    if forced == "1":
        return True
    return None


def progress(iterable=None, *, total: int | None = None, desc: str = "", unit: str = "个",
             enabled: bool = True) -> tqdm:
    """A tqdm bar on stderr for ``iterable`` (or ``total`` manual steps); see the module docstring."""
    shown = progress_enabled(enabled)
    return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True,
                disable=None if shown is None else not shown, leave=False)
