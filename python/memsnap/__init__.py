"""memsnap: memory snapshots and copy-on-write views that reset in O(dirty pages).

Snapshot is an immutable block of memory (a memfd or a file); View maps one,
keeps its writes private and restore() undoes them in O(pages written).
memoryview(view) is the view's memory itself. memsnap.uc puts such views
under a unicorn.Uc as guest RAM with checkpoints of CPU and memory.

Errors raise memsnap.Error, an OSError whose errno is the negated return value
of the C call and whose strerror is ms_strerror's text; Unicorn's errors raise
its subclass UnicornError. See docs/python.md.
"""

from ._memsnap import (
    ACCESS_EXEC,
    ACCESS_NONE,
    ACCESS_READ,
    ACCESS_WRITE,
    ERR_BASE,
    ERR_CORRUPT,
    ERR_FORMAT,
    ERR_MISMATCH,
    ERR_UC_BASE,
    TRACKER_AUTO,
    TRACKER_MPROTECT,
    TRACKER_NONE,
    TRACKER_UFFD_ASYNC,
    TRACKER_UFFD_SYNC,
    Error,
    Snapshot,
    UnicornError,
    View,
    ViewStats,
    error,
    page_size,
    strerror,
    tracker_name,
    tracker_probe,
    tracker_resolve,
    version,
)

__version__ = version()

__all__ = [
    "ACCESS_EXEC",
    "ACCESS_NONE",
    "ACCESS_READ",
    "ACCESS_WRITE",
    "ERR_BASE",
    "ERR_CORRUPT",
    "ERR_FORMAT",
    "ERR_MISMATCH",
    "ERR_UC_BASE",
    "TRACKER_AUTO",
    "TRACKER_MPROTECT",
    "TRACKER_NONE",
    "TRACKER_UFFD_ASYNC",
    "TRACKER_UFFD_SYNC",
    "Error",
    "Snapshot",
    "UnicornError",
    "View",
    "ViewStats",
    "error",
    "page_size",
    "strerror",
    "tracker_name",
    "tracker_probe",
    "tracker_resolve",
    "version",
]
