"""glibc's heap handed back to the system while a node runs: see `trim_heap`."""

from __future__ import annotations

import ctypes
import functools
import threading
import time

HEAP_TRIM_INTERVAL_S = 30.0


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library if it is glibc (whose heap `trim_heap` trims), else None."""
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def trim_heap() -> None:
    """Hand the free pages inside glibc's heap back to the system (`malloc_trim`). glibc returns
    memory only from the top of its heap on its own, so the holes that message churn leaves (models
    and payloads freed around ones still alive) stay resident: a vehicle under `stress` held 0.3 MB
    more a minute for half an hour (bench/soak.py) while what it had allocated stayed level, and one
    trim took it back by 3.7 MB. Other C libraries are left to their own policy."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def keep_heap_trimmed(interval_s: float = HEAP_TRIM_INTERVAL_S) -> None:
    """`trim_heap` every `interval_s`, on a daemon thread; nothing under another C library. Every
    node started by `rampart` runs it (`nodes.cli.main`): without it the fusion's RSS rose by 16% in
    the soak's minutes 5-10 on a busy machine, with it +0.4% over minutes 5-29. A trim holds glibc's
    locks while it walks the heap, so an allocating thread may wait a few milliseconds every 30 s."""
    if _glibc() is None:
        return

    def trim_forever() -> None:
        while True:
            time.sleep(interval_s)
            trim_heap()

    threading.Thread(target=trim_forever, name="heap-trim", daemon=True).start()
