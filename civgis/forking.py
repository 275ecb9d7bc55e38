"""When a worker process may be forked (the bottom layer: any module may import it).

Forking copies only the calling thread: a lock another thread holds at that instant (a logging
handler's, the allocator's, a GDAL cache's) stays locked forever in the child, which then hangs
or crashes. So the report's background sections and the map pools fork only while this
process runs a single thread, and otherwise choose another way (in this process, or spawn).

Examples
--------
>>> fork_is_safe() in (True, False)
True
"""

from __future__ import annotations

import multiprocessing as mp
import threading

__all__ = ["fork_is_safe"]


def fork_is_safe() -> bool:
    """True where the platform can fork and no other thread is alive to be cut off in the child."""
    return "fork" in mp.get_all_start_methods() and threading.active_count() == 1
