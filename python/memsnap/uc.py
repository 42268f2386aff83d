"""memsnap.uc: guest RAM of a unicorn.Uc on memsnap views, with checkpoints.

    rt = memsnap.uc.attach(uc)
    rt.map(0x10000, 64 << 20)          # 64 MiB of zeroed guest RAM
    cp = rt.checkpoint()
    rt.run(begin, until)
    rt.restore(cp)                     # O(pages written), CPU included

Lifetime: the runtime holds its engine open, and each checkpoint holds its
runtime. Once a Uc has been attached, memsnap closes its engine when the Uc
is collected, after freeing the runtime's state, so the two can be collected
in any order, also together in a reference cycle (a hook closure that refers
to the runtime makes one).
"""

import weakref

from ._memsnap import (
    TRACK_EXACT,
    TRACK_HOOK,
    STATE_VERIFY,
    STATE_VERIFY_REGIONS,
    Checkpoint,
    Runtime,
    Stats,
    _attach,
    error,
)

__all__ = [
    "TRACK_EXACT",
    "TRACK_HOOK",
    "STATE_VERIFY",
    "STATE_VERIFY_REGIONS",
    "Checkpoint",
    "Runtime",
    "Stats",
    "attach",
]

_EBUSY = 16


def _engine_handle(uc):
    """The uc_engine pointer of a unicorn.Uc, as an int."""
    handle = getattr(uc, "_uch", None)
    if handle is None:
        if not hasattr(uc, "_uch"):
            raise TypeError("expected a unicorn.Uc, not %s" % type(uc).__name__)
        raise ValueError("the engine is closed")
    value = getattr(handle, "value", handle)
    if not isinstance(value, int) or value == 0:
        raise ValueError("the engine is closed")
    return value


def _take_close(uc):
    """Take over closing uc's engine from the unicorn binding.

    The binding closes an engine when its Uc is collected: from a weak
    reference callback kept in a table of its class (Unicorn 2.0), or from a
    weakref.finalize stored on the Uc (later bindings). Dropping that
    reference, or detaching the finalizer, leaves the close to our own
    callback, which frees the runtime's state first. Returns the function
    that closes the engine given its handle, or None when neither is found
    (then our callback, registered later, runs first anyway: CPython calls an
    object's weak reference callbacks newest first)."""
    manager = getattr(type(uc), "_cleanup", None)
    refs = getattr(manager, "_refs", None)
    if isinstance(refs, dict):
        for key, ref in list(refs.items()):
            if ref() is uc:
                release = getattr(ref, "_class", type(uc)).release_handle
                del refs[key]
                return release
    for value in list(getattr(uc, "__dict__", {}).values()):
        if isinstance(value, weakref.finalize) and value.alive:
            _, func, args, kwargs = value.detach()
            return lambda handle: func(*args, **kwargs)
    return None


class _EngineGuard:
    """Closes an attached engine once its Uc is gone, after freeing the
    state of whichever runtime is attached to it."""

    __slots__ = ("key", "table", "handle", "release", "attachment", "ref")

    def __init__(self, uc, key):
        self.key = key
        self.table = _guards  # reachable even while the module is torn down
        self.handle = uc._uch
        self.attachment = None
        self.release = _take_close(uc)
        self.ref = weakref.ref(uc, self._gone)

    def _gone(self, ref):
        self.table.pop(self.key, None)
        if self.attachment is not None:
            self.attachment.detach()
            self.attachment = None
        if self.release is not None:
            self.release(self.handle)


# Engine handle -> guard, for every attached engine still open. Module
# state: the guards must outlive any cycle of engines and runtimes.
_guards = {}


def attach(uc):
    """Attach memsnap to a unicorn.Uc and return its Runtime.

    Guest RAM mapped through the runtime (Runtime.map) is copy-on-write memsnap
    memory; Runtime.checkpoint() and Runtime.restore() save and put back CPU,
    memory map and memory in O(pages written). One runtime per engine at a
    time: Error(EBUSY) while another is open. TypeError if `uc` is not a
    unicorn.Uc, ValueError if its engine is closed.
    """
    key = _engine_handle(uc)
    guard = _guards.get(key)
    if guard is not None and guard.ref() is not uc:
        guard = None  # a stale entry: its engine was closed elsewhere
    if guard is not None and guard.attachment is not None and guard.attachment.attached:
        raise error(-_EBUSY)
    runtime = _attach(uc, key)
    if guard is None:
        guard = _EngineGuard(uc, key)
        _guards[key] = guard
    guard.attachment = runtime._attachment
    return runtime
