"""Python's cyclic garbage collector paused around work that allocates many objects and frees them itself.

Building a page of a thousand visits, or a point-in-village index of tens of thousands of polygons, allocates
tens of thousands of dicts, lists and arrays that are not in reference cycles: reference counting frees them. But
every 700 allocations the collector walks the young objects, and every tenth of those passes the older ones too;
on the sync feed's bench a page of 1,000 visits took 55-60 ms of CPU with the collector running and 44-48 ms
without (docs/performance.md). The collector runs again as soon as the work is done. It is one switch for the
process: with threaded workers another thread may run without it for those milliseconds, which costs nothing
either.
"""

import gc
from contextlib import contextmanager


@contextmanager
def collector_paused():
    """No cyclic garbage collection inside the ``with`` block (as it was before it, after)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
