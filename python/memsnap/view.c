/*
 * memsnap.View: an ms_view, with its memory as a writable buffer.
 *
 * Buffers (memoryview(view)) point straight at the view's memory. The view
 * cannot be closed while one is exported (BufferError, as mmap does), and no
 * buffer is handed out while protect() may have left pages unreadable or
 * read-only: a store through such a buffer would fault the interpreter
 * instead of raising. A restore gives every page its full access back.
 */
#include <errno.h>

#include "binding.h"

#define VIEW_OPEN(self)                                                                            \
	do {                                                                                       \
		if (!(self)->view)                                                                 \
			return msp_closed("view");                                                 \
	} while (0)

static PyObject *view_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"snapshot", "shared", "tracker", NULL};
	PyObject *snap_obj;
	int shared = 0, tracker = MS_TRACKER_AUTO;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|$pi:View", kwlist, &snap_obj, &shared,
					 &tracker))
		return NULL;
	ms_snapshot *snap;
	if (!msp_snapshot_get(snap_obj, &snap))
		return NULL;
	if (tracker < 0 || tracker >= MS_TRACKER_COUNT_)
		return msp_raise(-EINVAL);
	MspView *self = (MspView *)type->tp_alloc(type, 0);
	if (!self)
		return NULL;
	int err = ms_view_new_tracked(snap, shared ? MS_VIEW_SHARED : MS_VIEW_COW,
				      (ms_tracker)tracker, &self->view);
	if (err) {
		Py_DECREF(self);
		return msp_raise(err);
	}
	return (PyObject *)self;
}

static void view_dealloc(MspView *self)
{
	if (self->weakrefs)
		PyObject_ClearWeakRefs((PyObject *)self);
	ms_view_free(self->view);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static int view_getbuffer(MspView *self, Py_buffer *buf, int flags)
{
	if (!self->view) {
		msp_closed("view");
		buf->obj = NULL;
		return -1;
	}
	if (self->restricted) {
		PyErr_SetString(PyExc_BufferError,
				"view has pages made inaccessible or read-only by protect(); "
				"restore() gives them back their access");
		buf->obj = NULL;
		return -1;
	}
	if (PyBuffer_FillInfo(buf, (PyObject *)self, ms_view_data(self->view),
			      (Py_ssize_t)ms_view_size(self->view), 0, flags))
		return -1;
	self->exports++;
	return 0;
}

static void view_releasebuffer(MspView *self, Py_buffer *buf)
{
	(void)buf;
	self->exports--;
}

static PyObject *view_restore(MspView *self, PyObject *unused)
{
	(void)unused;
	VIEW_OPEN(self);
	int pages = ms_view_restore(self->view);
	if (pages < 0)
		return msp_raise(pages);
	self->restricted = 0;
	return PyLong_FromLong(pages);
}

static PyObject *view_restore_to(MspView *self, PyObject *arg)
{
	VIEW_OPEN(self);
	ms_snapshot *snap;
	if (!msp_snapshot_get(arg, &snap))
		return NULL;
	int pages = ms_view_restore_to(self->view, snap);
	if (pages < 0)
		return msp_raise(pages);
	self->restricted = 0;
	return PyLong_FromLong(pages);
}

static PyObject *view_take_snapshot(MspView *self, PyObject *unused)
{
	(void)unused;
	VIEW_OPEN(self);
	ms_snapshot *snap;
	int err = ms_view_take_snapshot(self->view, &snap);
	if (err)
		return msp_raise(err);
	return msp_snapshot_wrap(snap);
}

static PyObject *view_checkpoint(MspView *self, PyObject *unused)
{
	(void)unused;
	VIEW_OPEN(self);
	ms_snapshot *snap;
	int err = ms_view_checkpoint(self->view, &snap);
	if (err)
		return msp_raise(err);
	return msp_snapshot_wrap(snap);
}

static PyObject *view_protect(MspView *self, PyObject *args)
{
	size_t offset, len;
	unsigned access;
	if (!PyArg_ParseTuple(args, "O&O&I:protect", msp_size, &offset, msp_size, &len, &access))
		return NULL;
	VIEW_OPEN(self);
	int restricts = !(access & MS_ACCESS_WRITE);
	if (restricts && self->exports) {
		PyErr_SetString(PyExc_BufferError,
				"cannot take access away while buffers of the view are exported");
		return NULL;
	}
	int err = ms_view_protect(self->view, offset, len, access);
	if (err)
		return msp_raise(err);
	if (restricts)
		self->restricted = 1;
	Py_RETURN_NONE;
}

static PyObject *view_range_call(MspView *self, PyObject *args, const char *fmt,
				 int (*fn)(ms_view *, size_t, size_t))
{
	size_t offset, len;
	if (!PyArg_ParseTuple(args, fmt, msp_size, &offset, msp_size, &len))
		return NULL;
	VIEW_OPEN(self);
	int err = fn(self->view, offset, len);
	if (err)
		return msp_raise(err);
	Py_RETURN_NONE;
}

static PyObject *view_note_written(MspView *self, PyObject *args)
{
	return view_range_call(self, args, "O&O&:note_written", ms_view_note_written);
}

static PyObject *view_set_hot_pages(MspView *self, PyObject *arg)
{
	VIEW_OPEN(self);
	int enable = PyObject_IsTrue(arg);
	if (enable < 0)
		return NULL;
	int err = ms_view_set_hot_pages(self->view, enable);
	if (err)
		return msp_raise(err);
	Py_RETURN_NONE;
}

static PyObject *view_dirty_ranges(MspView *self, PyObject *unused)
{
	(void)unused;
	VIEW_OPEN(self);
	long n = ms_view_dirty_ranges(self->view, NULL, 0);
	if (n < 0)
		return msp_raise((int)n);
	ms_range *ranges = PyMem_Malloc(((size_t)n + 1) * sizeof *ranges);
	if (!ranges)
		return PyErr_NoMemory();
	long got = ms_view_dirty_ranges(self->view, ranges, (size_t)n);
	if (got < 0) {
		PyMem_Free(ranges);
		return msp_raise((int)got);
	}
	if (got > n)
		got = n;
	PyObject *list = PyList_New(got);
	for (long i = 0; list && i < got; i++) {
		PyObject *t =
		    Py_BuildValue("(nn)", (Py_ssize_t)ranges[i].offset, (Py_ssize_t)ranges[i].len);
		if (!t) {
			Py_CLEAR(list);
			break;
		}
		PyList_SET_ITEM(list, i, t);
	}
	PyMem_Free(ranges);
	return list;
}

static PyObject *view_dirty_count(MspView *self, PyObject *unused)
{
	(void)unused;
	VIEW_OPEN(self);
	long n = ms_view_dirty_count(self->view);
	if (n < 0)
		return msp_raise((int)n);
	return PyLong_FromLong(n);
}

static PyStructSequence_Field view_stats_fields[] = {
    {"restores", "restores done"},
    {"pages_restored", "pages copied back, over all restores"},
    {"last_restore_pages", "pages the last restore put back"},
    {"snapshots_taken", "snapshots taken from the view"},
    {NULL, NULL},
};

static PyStructSequence_Desc view_stats_desc = {
    "memsnap.ViewStats", "Statistics of a View (ms_view_stats).", view_stats_fields, 4};

PyTypeObject MspViewStats_Type;

static PyObject *view_stats(MspView *self, PyObject *unused)
{
	(void)unused;
	VIEW_OPEN(self);
	ms_view_stats st;
	int err = ms_view_get_stats(self->view, &st);
	if (err)
		return msp_raise(err);
	PyObject *out = PyStructSequence_New(&MspViewStats_Type);
	if (!out)
		return NULL;
	const uint64_t values[] = {st.restores, st.pages_restored, st.last_restore_pages,
				   st.snapshots_taken};
	for (Py_ssize_t i = 0; i < 4; i++) {
		PyObject *v = PyLong_FromUnsignedLongLong(values[i]);
		if (!v) {
			Py_DECREF(out);
			return NULL;
		}
		PyStructSequence_SET_ITEM(out, i, v);
	}
	return out;
}

static PyObject *view_verify(MspView *self, PyObject *unused)
{
	(void)unused;
	VIEW_OPEN(self);
	long n = ms_view_verify(self->view, NULL, 0);
	if (n < 0)
		return msp_raise((int)n);
	size_t *missed = PyMem_Malloc(((size_t)n + 1) * sizeof *missed);
	if (!missed)
		return PyErr_NoMemory();
	long got = ms_view_verify(self->view, missed, (size_t)n);
	if (got < 0) {
		PyMem_Free(missed);
		return msp_raise((int)got);
	}
	if (got > n)
		got = n;
	PyObject *list = PyList_New(got);
	for (long i = 0; list && i < got; i++) {
		PyObject *v = PyLong_FromSize_t(missed[i]);
		if (!v) {
			Py_CLEAR(list);
			break;
		}
		PyList_SET_ITEM(list, i, v);
	}
	PyMem_Free(missed);
	return list;
}

static PyObject *view_close(MspView *self, PyObject *unused)
{
	(void)unused;
	if (self->exports) {
		PyErr_SetString(PyExc_BufferError,
				"cannot close a view while buffers of it are exported");
		return NULL;
	}
	ms_view_free(self->view);
	self->view = NULL;
	Py_RETURN_NONE;
}

static PyObject *view_enter(PyObject *self, PyObject *unused)
{
	(void)unused;
	return Py_NewRef(self);
}

static PyObject *view_exit(MspView *self, PyObject *args)
{
	(void)args;
	return view_close(self, NULL);
}

static PyObject *view_get_snapshot(MspView *self, void *closure)
{
	(void)closure;
	VIEW_OPEN(self);
	return msp_snapshot_wrap(ms_snapshot_ref(ms_view_snapshot(self->view)));
}

static PyObject *view_get_size(MspView *self, void *closure)
{
	(void)closure;
	VIEW_OPEN(self);
	return PyLong_FromSize_t(ms_view_size(self->view));
}

static PyObject *view_get_shared(MspView *self, void *closure)
{
	(void)closure;
	VIEW_OPEN(self);
	return PyBool_FromLong(ms_view_mode_of(self->view) == MS_VIEW_SHARED);
}

static PyObject *view_get_tracker(MspView *self, void *closure)
{
	(void)closure;
	VIEW_OPEN(self);
	return PyUnicode_FromString(ms_tracker_name(ms_view_tracker(self->view)));
}

static PyObject *view_get_closed(MspView *self, void *closure)
{
	(void)closure;
	return PyBool_FromLong(self->view == NULL);
}

static Py_ssize_t view_len(MspView *self)
{
	if (!self->view) {
		msp_closed("view");
		return -1;
	}
	return (Py_ssize_t)ms_view_size(self->view);
}

static PyObject *view_repr(MspView *self)
{
	if (!self->view)
		return PyUnicode_FromString("<memsnap.View closed>");
	return PyUnicode_FromFormat(
	    "<memsnap.View size=%zu %s tracker=%s>", ms_view_size(self->view),
	    ms_view_mode_of(self->view) == MS_VIEW_SHARED ? "shared" : "cow",
	    ms_tracker_name(ms_view_tracker(self->view)));
}

static PyMethodDef view_methods[] = {
    {"restore", (PyCFunction)view_restore, METH_NOARGS,
     "restore() -> int\n\nMake the view equal its snapshot again, O(dirty pages); every page "
     "gets read/write access back. Returns the pages put back (0 on shared views)."},
    {"restore_to", (PyCFunction)view_restore_to, METH_O,
     "restore_to(snapshot: Snapshot) -> int\n\nMake the view equal `snapshot` (same size) and "
     "make it the view's snapshot. O(dirty + differing pages) within one family. Returns the "
     "pages put back."},
    {"take_snapshot", (PyCFunction)view_take_snapshot, METH_NOARGS,
     "take_snapshot() -> Snapshot\n\nThe view's current content, unchanged by later writes. "
     "O(dirty pages) for a tracked view (stores only those pages)."},
    {"checkpoint", (PyCFunction)view_checkpoint, METH_NOARGS,
     "checkpoint() -> Snapshot\n\ntake_snapshot(), and make it the snapshot restore() returns "
     "to. O(dirty pages)."},
    {"protect", (PyCFunction)view_protect, METH_VARARGS,
     "protect(offset: int, length: int, access: int) -> None\n\nSet the ACCESS_* of a "
     "page-aligned range. Taking write access away needs no buffer exported (BufferError), and "
     "no buffer is exported until restore()."},
    {"note_written", (PyCFunction)view_note_written, METH_VARARGS,
     "note_written(offset: int, length: int) -> None\n\nDeclare a range written by a writer "
     "the tracker cannot see; it is restored like any dirty page."},
    {"set_hot_pages", (PyCFunction)view_set_hot_pages, METH_O,
     "set_hot_pages(enable: bool) -> None\n\nKeep pages rewritten every iteration writable "
     "and untracked (fault-driven trackers); restores stay exact."},
    {"dirty_ranges", (PyCFunction)view_dirty_ranges, METH_NOARGS,
     "dirty_ranges() -> list[tuple[int, int]]\n\nThe (offset, length) runs of pages written "
     "since the last restore, sorted. O(dirty pages)."},
    {"dirty_count", (PyCFunction)view_dirty_count, METH_NOARGS,
     "dirty_count() -> int\n\nPages written since the last restore."},
    {"stats", (PyCFunction)view_stats, METH_NOARGS, "stats() -> ViewStats\n\nThe statistics."},
    {"verify", (PyCFunction)view_verify, METH_NOARGS,
     "verify() -> list[int]\n\nOffsets of pages that differ from the snapshot but are not "
     "known dirty (writes the tracker missed); empty when tracking is exact. O(size)."},
    {"close", (PyCFunction)view_close, METH_NOARGS,
     "close() -> None\n\nUnmap the view now (BufferError while buffers are exported). Later "
     "calls raise ValueError; closing twice is allowed."},
    {"__enter__", view_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)view_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef view_getset[] = {
    {"snapshot", (getter)view_get_snapshot, NULL,
     "The snapshot the view restores to (a new Snapshot reference).", NULL},
    {"size", (getter)view_get_size, NULL, "Size in bytes.", NULL},
    {"shared", (getter)view_get_shared, NULL, "Whether the view is shared (not copy-on-write).",
     NULL},
    {"tracker", (getter)view_get_tracker, NULL, "The name of the tracker in use.", NULL},
    {"closed", (getter)view_get_closed, NULL, "Whether close() was called.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyBufferProcs view_as_buffer = {
    .bf_getbuffer = (getbufferproc)view_getbuffer,
    .bf_releasebuffer = (releasebufferproc)view_releasebuffer,
};

static PySequenceMethods view_as_sequence = {
    .sq_length = (lenfunc)view_len,
};

PyTypeObject MspView_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "memsnap.View",
    .tp_basicsize = sizeof(MspView),
    .tp_dealloc = (destructor)view_dealloc,
    .tp_repr = (reprfunc)view_repr,
    .tp_as_sequence = &view_as_sequence,
    .tp_as_buffer = &view_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "View(snapshot, *, shared=False, tracker=TRACKER_AUTO)\n\n"
	      "A mapping of a snapshot (ms_view). Copy-on-write by default: writes stay private "
	      "and restore() undoes them in O(dirty pages). memoryview(view) is the memory "
	      "itself, no copy. The view holds its own reference to the snapshot. A context "
	      "manager; close() or garbage collection unmaps it.",
    .tp_weaklistoffset = offsetof(MspView, weakrefs),
    .tp_methods = view_methods,
    .tp_getset = view_getset,
    .tp_new = view_new,
};

int msp_view_init_types(PyObject *module)
{
	if (PyType_Ready(&MspView_Type))
		return -1;
	if (PyStructSequence_InitType2(&MspViewStats_Type, &view_stats_desc))
		return -1;
	if (PyModule_AddObjectRef(module, "View", (PyObject *)&MspView_Type) ||
	    PyModule_AddObjectRef(module, "ViewStats", (PyObject *)&MspViewStats_Type))
		return -1;
	return 0;
}
