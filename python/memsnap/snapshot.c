/*
 * memsnap.Snapshot: one reference to an ms_snapshot.
 */
#include <errno.h>

#include "binding.h"

#define SNAP_OPEN(self)                                                                            \
	do {                                                                                       \
		if (!(self)->snap)                                                                 \
			return msp_closed("snapshot");                                             \
	} while (0)

PyObject *msp_snapshot_wrap(ms_snapshot *snap)
{
	MspSnapshot *self = PyObject_New(MspSnapshot, &MspSnapshot_Type);
	if (!self) {
		ms_snapshot_unref(snap);
		return NULL;
	}
	self->snap = snap;
	self->weakrefs = NULL;
	return (PyObject *)self;
}

int msp_snapshot_get(PyObject *obj, ms_snapshot **out)
{
	if (!PyObject_TypeCheck(obj, &MspSnapshot_Type)) {
		PyErr_Format(PyExc_TypeError, "expected a memsnap.Snapshot, not %.100s",
			     Py_TYPE(obj)->tp_name);
		return 0;
	}
	if (!((MspSnapshot *)obj)->snap) {
		msp_closed("snapshot");
		return 0;
	}
	*out = ((MspSnapshot *)obj)->snap;
	return 1;
}

static void snapshot_dealloc(MspSnapshot *self)
{
	if (self->weakrefs)
		PyObject_ClearWeakRefs((PyObject *)self);
	ms_snapshot_unref(self->snap);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *snapshot_zeroed(PyObject *cls, PyObject *arg)
{
	(void)cls;
	size_t size;
	if (!msp_size(arg, &size))
		return NULL;
	ms_snapshot *snap;
	int err = ms_snapshot_zeroed(size, &snap);
	if (err)
		return msp_raise(err);
	return msp_snapshot_wrap(snap);
}

static PyObject *snapshot_from_bytes(PyObject *cls, PyObject *arg)
{
	(void)cls;
	Py_buffer buf;
	if (PyObject_GetBuffer(arg, &buf, PyBUF_SIMPLE))
		return NULL;
	ms_snapshot *snap;
	int err;
	PyThreadState *ts = PyEval_SaveThread();
	err = ms_snapshot_from_buffer(buf.len ? buf.buf : NULL, (size_t)buf.len, &snap);
	PyEval_RestoreThread(ts);
	PyBuffer_Release(&buf);
	if (err)
		return msp_raise(err);
	return msp_snapshot_wrap(snap);
}

static PyObject *snapshot_from_file(PyObject *cls, PyObject *arg)
{
	(void)cls;
	PyObject *path;
	if (!PyUnicode_FSConverter(arg, &path))
		return NULL;
	ms_snapshot *snap;
	int err = ms_snapshot_from_file(PyBytes_AS_STRING(path), &snap);
	Py_DECREF(path);
	if (err)
		return msp_raise(err);
	return msp_snapshot_wrap(snap);
}

static PyObject *snapshot_from_view(PyObject *cls, PyObject *arg)
{
	(void)cls;
	if (!PyObject_TypeCheck(arg, &MspView_Type)) {
		PyErr_Format(PyExc_TypeError, "expected a memsnap.View, not %.100s",
			     Py_TYPE(arg)->tp_name);
		return NULL;
	}
	return PyObject_CallMethod(arg, "take_snapshot", NULL);
}

static PyObject *snapshot_size(MspSnapshot *self, void *closure)
{
	(void)closure;
	SNAP_OPEN(self);
	return PyLong_FromSize_t(ms_snapshot_size(self->snap));
}

static PyObject *snapshot_depth(MspSnapshot *self, void *closure)
{
	(void)closure;
	SNAP_OPEN(self);
	return PyLong_FromSize_t(ms_snapshot_depth(self->snap));
}

static PyObject *snapshot_own_bytes(MspSnapshot *self, void *closure)
{
	(void)closure;
	SNAP_OPEN(self);
	return PyLong_FromSize_t(ms_snapshot_own_bytes(self->snap));
}

static PyObject *snapshot_closed(MspSnapshot *self, void *closure)
{
	(void)closure;
	return PyBool_FromLong(self->snap == NULL);
}

static Py_ssize_t snapshot_len(MspSnapshot *self)
{
	if (!self->snap) {
		msp_closed("snapshot");
		return -1;
	}
	return (Py_ssize_t)ms_snapshot_size(self->snap);
}

static PyObject *snapshot_read(MspSnapshot *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"offset", "length", NULL};
	size_t offset = 0;
	Py_ssize_t length = -1;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|O&n:read", kwlist, msp_size, &offset, &length))
		return NULL;
	SNAP_OPEN(self);
	size_t size = ms_snapshot_size(self->snap);
	if (length < 0)
		length = offset <= size ? (Py_ssize_t)(size - offset) : 0;
	PyObject *out = PyBytes_FromStringAndSize(NULL, length);
	if (!out)
		return NULL;
	int err = ms_snapshot_read(self->snap, offset, PyBytes_AS_STRING(out), (size_t)length);
	if (err) {
		Py_DECREF(out);
		return msp_raise(err);
	}
	return out;
}

static PyObject *snapshot_save(MspSnapshot *self, PyObject *arg)
{
	SNAP_OPEN(self);
	PyObject *path;
	if (!PyUnicode_FSConverter(arg, &path))
		return NULL;
	int err;
	/* Another thread may close this object while the GIL is released. */
	ms_snapshot *snap = ms_snapshot_ref(self->snap);
	PyThreadState *ts = PyEval_SaveThread();
	err = ms_snapshot_save(snap, PyBytes_AS_STRING(path));
	PyEval_RestoreThread(ts);
	ms_snapshot_unref(snap);
	Py_DECREF(path);
	if (err)
		return msp_raise(err);
	Py_RETURN_NONE;
}

static PyObject *snapshot_clone(MspSnapshot *self, PyObject *unused)
{
	(void)unused;
	SNAP_OPEN(self);
	ms_snapshot *snap, *src = ms_snapshot_ref(self->snap);
	int err;
	PyThreadState *ts = PyEval_SaveThread();
	err = ms_snapshot_clone(src, &snap);
	PyEval_RestoreThread(ts);
	ms_snapshot_unref(src);
	if (err)
		return msp_raise(err);
	return msp_snapshot_wrap(snap);
}

static PyObject *snapshot_close(MspSnapshot *self, PyObject *unused)
{
	(void)unused;
	ms_snapshot_unref(self->snap);
	self->snap = NULL;
	Py_RETURN_NONE;
}

static PyObject *snapshot_enter(PyObject *self, PyObject *unused)
{
	(void)unused;
	return Py_NewRef(self);
}

static PyObject *snapshot_exit(MspSnapshot *self, PyObject *args)
{
	(void)args;
	return snapshot_close(self, NULL);
}

static PyObject *snapshot_repr(MspSnapshot *self)
{
	if (!self->snap)
		return PyUnicode_FromString("<memsnap.Snapshot closed>");
	return PyUnicode_FromFormat("<memsnap.Snapshot size=%zu depth=%zu>",
				    ms_snapshot_size(self->snap), ms_snapshot_depth(self->snap));
}

static PyMethodDef snapshot_methods[] = {
    {"zeroed", snapshot_zeroed, METH_O | METH_CLASS,
     "zeroed(size: int) -> Snapshot\n\nA snapshot of `size` zero bytes (rounded up to the page "
     "size) in an anonymous memfd; costs no memory until written. O(1)."},
    {"from_bytes", snapshot_from_bytes, METH_O | METH_CLASS,
     "from_bytes(data) -> Snapshot\n\nA snapshot holding a copy of a bytes-like object, padded "
     "with zeros to the page size. O(len(data))."},
    {"from_file", snapshot_from_file, METH_O | METH_CLASS,
     "from_file(path) -> Snapshot\n\nA snapshot backed by the file at `path` (mapped, not "
     "copied: pages are read when touched). O(1)."},
    {"from_view", snapshot_from_view, METH_O | METH_CLASS,
     "from_view(view: View) -> Snapshot\n\nview.take_snapshot(): the view's current content, "
     "O(dirty pages) for a tracked view."},
    {"read", MSP_KW(snapshot_read), METH_VARARGS | METH_KEYWORDS,
     "read(offset: int = 0, length: int = -1) -> bytes\n\nA copy of `length` bytes at "
     "`offset` (to the end when length < 0). Raises Error(EINVAL) outside the snapshot."},
    {"save", (PyCFunction)snapshot_save, METH_O,
     "save(path) -> None\n\nWrite the content to `path` atomically; load it with from_file. "
     "O(size)."},
    {"clone", (PyCFunction)snapshot_clone, METH_NOARGS,
     "clone() -> Snapshot\n\nAn independent copy in a new memfd. O(size)."},
    {"close", (PyCFunction)snapshot_close, METH_NOARGS,
     "close() -> None\n\nDrop this reference now (views and runtimes keep their own). Later "
     "calls raise ValueError; closing twice is allowed."},
    {"__enter__", snapshot_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)snapshot_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef snapshot_getset[] = {
    {"size", (getter)snapshot_size, NULL, "Size in bytes, a multiple of the page size.", NULL},
    {"depth", (getter)snapshot_depth, NULL,
     "How many snapshots this one is stacked on (0 for a plain snapshot).", NULL},
    {"own_bytes", (getter)snapshot_own_bytes, NULL,
     "Bytes of memory that belong to this snapshot alone.", NULL},
    {"closed", (getter)snapshot_closed, NULL, "Whether close() was called.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods snapshot_as_sequence = {
    .sq_length = (lenfunc)snapshot_len,
};

PyTypeObject MspSnapshot_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "memsnap.Snapshot",
    .tp_basicsize = sizeof(MspSnapshot),
    .tp_dealloc = (destructor)snapshot_dealloc,
    .tp_repr = (reprfunc)snapshot_repr,
    .tp_as_sequence = &snapshot_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An immutable block of memory in a memfd or a file (ms_snapshot).\n\n"
	      "Made by Snapshot.zeroed, from_bytes, from_file, from_view, or taken from a "
	      "View. Views map it; checkpoints share its pages. A context manager; close() or "
	      "garbage collection drops the reference.",
    .tp_weaklistoffset = offsetof(MspSnapshot, weakrefs),
    .tp_methods = snapshot_methods,
    .tp_getset = snapshot_getset,
};

int msp_snapshot_init_types(PyObject *module)
{
	if (PyType_Ready(&MspSnapshot_Type))
		return -1;
	return PyModule_AddObjectRef(module, "Snapshot", (PyObject *)&MspSnapshot_Type);
}
