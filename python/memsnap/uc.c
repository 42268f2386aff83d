/*
 * memsnap.uc.Runtime and Checkpoint: libmemsnap-uc on a unicorn.Uc.
 *
 * The Runtime holds the Uc, so the engine stays open while the runtime or
 * any of its checkpoints lives. Its ms_uc sits in an Attachment, which the
 * engine's finalizer (memsnap/uc.py) frees before it closes the engine: when
 * an engine and its runtime are collected together (a hook that refers to
 * the runtime makes such a cycle), that finalizer runs before either object
 * is cleared, so the ms_uc never outlives the engine.
 */
#include <errno.h>
#include <time.h>

#include "binding.h"

static PyObject *str_hook_exception;

/* ---- Attachment ---------------------------------------------------------- */

static void att_free(MspAttachment *att)
{
	ms_uc_free(att->m);
	att->m = NULL;
}

static void attachment_dealloc(MspAttachment *self)
{
	att_free(self);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *attachment_detach(MspAttachment *self, PyObject *unused)
{
	(void)unused;
	if (self->busy)
		return msp_raise(-EBUSY);
	att_free(self);
	Py_RETURN_NONE;
}

static PyObject *attachment_attached(MspAttachment *self, void *closure)
{
	(void)closure;
	return PyBool_FromLong(self->m != NULL);
}

static PyMethodDef attachment_methods[] = {
    {"detach", (PyCFunction)attachment_detach, METH_NOARGS,
     "detach() -> None\n\nFree the runtime's state (ms_uc_free): unmaps its regions from the "
     "engine, which must still be open. Raises Error(EBUSY) during run()."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef attachment_getset[] = {
    {"attached", (getter)attachment_attached, NULL, "Whether the state is still attached.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject MspAttachment_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "memsnap.uc.Attachment",
    .tp_basicsize = sizeof(MspAttachment),
    .tp_dealloc = (destructor)attachment_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The libmemsnap-uc state of a Runtime (internal: the engine's finalizer frees "
	      "it before closing the engine).",
    .tp_methods = attachment_methods,
    .tp_getset = attachment_getset,
};

/* ---- Runtime ------------------------------------------------------------- */

/* The open ms_uc of `self`, or NULL with an exception: closed, or in use by
 * a run in another thread (a runtime is used by one thread at a time; hooks
 * run in the thread of the run and may call in). */
static ms_uc *rt_get(MspRuntime *self)
{
	ms_uc *m = self->att ? self->att->m : NULL;
	if (!m) {
		msp_closed("runtime");
		return NULL;
	}
	if (self->att->busy && self->att->busy != PyThread_get_thread_ident()) {
		msp_raise(-EBUSY);
		return NULL;
	}
	return m;
}

#define RT_OPEN(self, m)                                                                           \
	ms_uc *m = rt_get(self);                                                                   \
	if (!m)                                                                                    \
	return NULL

PyObject *msp_uc_attach(PyObject *self, PyObject *args)
{
	(void)self;
	PyObject *uc;
	uint64_t handle;
	if (!PyArg_ParseTuple(args, "OO&:_attach", &uc, msp_u64, &handle))
		return NULL;
	if (!handle) {
		PyErr_SetString(PyExc_ValueError, "the engine is closed");
		return NULL;
	}
	MspAttachment *att = PyObject_New(MspAttachment, &MspAttachment_Type);
	if (!att)
		return NULL;
	att->m = NULL;
	att->busy = 0;
	int err = ms_uc_new((uc_engine *)(uintptr_t)handle, &att->m);
	if (err) {
		Py_DECREF(att);
		return msp_raise(err);
	}
	MspRuntime *rt = PyObject_GC_New(MspRuntime, &MspRuntime_Type);
	if (!rt) {
		Py_DECREF(att);
		return NULL;
	}
	rt->att = att;
	rt->uc = Py_NewRef(uc);
	rt->weakrefs = NULL;
	PyObject_GC_Track(rt);
	return (PyObject *)rt;
}

/* Free the ms_uc (before the engine reference goes), unless a run is using
 * it: then the engine stays open too, since this object still holds it. */
static int runtime_clear(MspRuntime *self)
{
	if (self->att && self->att->busy)
		return 0;
	if (self->att)
		att_free(self->att);
	Py_CLEAR(self->uc);
	return 0;
}

static int runtime_traverse(MspRuntime *self, visitproc visit, void *arg)
{
	Py_VISIT(self->uc);
	return 0;
}

static void runtime_dealloc(MspRuntime *self)
{
	PyObject_GC_UnTrack(self);
	if (self->weakrefs)
		PyObject_ClearWeakRefs((PyObject *)self);
	if (self->att)
		att_free(self->att);
	Py_CLEAR(self->att);
	Py_CLEAR(self->uc);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *runtime_map(MspRuntime *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"address", "memory", "perms", NULL};
	uint64_t address;
	PyObject *memory;
	unsigned perms = UC_PROT_ALL;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O&O|I:map", kwlist, msp_u64, &address, &memory,
					 &perms))
		return NULL;
	RT_OPEN(self, m);
	int err;
	if (PyLong_Check(memory)) {
		size_t size;
		if (!msp_size(memory, &size))
			return NULL;
		err = ms_uc_map_zeroed(m, address, size, perms);
	} else {
		ms_snapshot *snap;
		if (!msp_snapshot_get(memory, &snap))
			return NULL;
		err = ms_uc_map(m, address, snap, perms);
	}
	if (err)
		return msp_raise(err);
	Py_RETURN_NONE;
}

static PyObject *runtime_unmap(MspRuntime *self, PyObject *args)
{
	uint64_t address;
	size_t size;
	if (!PyArg_ParseTuple(args, "O&O&:unmap", msp_u64, &address, msp_size, &size))
		return NULL;
	RT_OPEN(self, m);
	int err = ms_uc_unmap(m, address, size);
	if (err)
		return msp_raise(err);
	Py_RETURN_NONE;
}

static PyObject *runtime_protect(MspRuntime *self, PyObject *args)
{
	uint64_t address;
	size_t size;
	unsigned perms;
	if (!PyArg_ParseTuple(args, "O&O&I:protect", msp_u64, &address, msp_size, &size, &perms))
		return NULL;
	RT_OPEN(self, m);
	int err = ms_uc_protect(m, address, size, perms);
	if (err)
		return msp_raise(err);
	Py_RETURN_NONE;
}

static PyObject *runtime_write(MspRuntime *self, PyObject *args)
{
	uint64_t address;
	Py_buffer buf;
	if (!PyArg_ParseTuple(args, "O&y*:write", msp_u64, &address, &buf))
		return NULL;
	ms_uc *m = rt_get(self);
	int err = m ? ms_uc_write(m, address, buf.buf, (size_t)buf.len) : 0;
	PyBuffer_Release(&buf);
	if (!m)
		return NULL;
	if (err)
		return msp_raise(err);
	Py_RETURN_NONE;
}

static PyObject *runtime_read(MspRuntime *self, PyObject *args)
{
	uint64_t address;
	Py_ssize_t size;
	if (!PyArg_ParseTuple(args, "O&n:read", msp_u64, &address, &size))
		return NULL;
	RT_OPEN(self, m);
	if (size < 0)
		return msp_raise(-EINVAL);
	PyObject *out = PyBytes_FromStringAndSize(NULL, size);
	if (!out)
		return NULL;
	int err = ms_uc_read(m, address, PyBytes_AS_STRING(out), (size_t)size);
	if (err) {
		Py_DECREF(out);
		return msp_raise(err);
	}
	return out;
}

static PyObject *runtime_note_written(MspRuntime *self, PyObject *args)
{
	uint64_t address;
	size_t size;
	if (!PyArg_ParseTuple(args, "O&O&:note_written", msp_u64, &address, msp_size, &size))
		return NULL;
	RT_OPEN(self, m);
	int err = ms_uc_note_written(m, address, size);
	if (err)
		return msp_raise(err);
	Py_RETURN_NONE;
}

static PyObject *checkpoint_wrap(MspRuntime *owner, ms_uc_checkpoint *cp)
{
	MspCheckpoint *self = PyObject_GC_New(MspCheckpoint, &MspCheckpoint_Type);
	if (!self) {
		ms_uc_checkpoint_free(cp);
		return NULL;
	}
	self->cp = cp;
	self->owner = (MspRuntime *)Py_NewRef(owner);
	self->weakrefs = NULL;
	PyObject_GC_Track(self);
	return (PyObject *)self;
}

static PyObject *runtime_checkpoint(MspRuntime *self, PyObject *unused)
{
	(void)unused;
	RT_OPEN(self, m);
	ms_uc_checkpoint *cp;
	int err = ms_uc_checkpoint_take(m, &cp);
	if (err)
		return msp_raise(err);
	return checkpoint_wrap(self, cp);
}

/* The checkpoint `arg` if it is an open one of this runtime, else NULL with
 * an exception set (EXDEV for another runtime's, as the C call would). */
static ms_uc_checkpoint *own_checkpoint(MspRuntime *self, PyObject *arg)
{
	if (!PyObject_TypeCheck(arg, &MspCheckpoint_Type)) {
		PyErr_Format(PyExc_TypeError, "expected a memsnap.uc.Checkpoint, not %.100s",
			     Py_TYPE(arg)->tp_name);
		return NULL;
	}
	MspCheckpoint *cp = (MspCheckpoint *)arg;
	if (!cp->cp) {
		msp_closed("checkpoint");
		return NULL;
	}
	if (cp->owner != self) {
		msp_raise(-EXDEV);
		return NULL;
	}
	return cp->cp;
}

static PyObject *runtime_restore(MspRuntime *self, PyObject *arg)
{
	RT_OPEN(self, m);
	ms_uc_checkpoint *cp = own_checkpoint(self, arg);
	if (!cp)
		return NULL;
	int err = ms_uc_checkpoint_restore(m, cp);
	if (err)
		return msp_raise(err);
	Py_RETURN_NONE;
}

static PyObject *runtime_restore_loop(MspRuntime *self, PyObject *args)
{
	PyObject *cp_obj;
	Py_ssize_t n;
	if (!PyArg_ParseTuple(args, "On:_restore_loop", &cp_obj, &n))
		return NULL;
	RT_OPEN(self, m);
	ms_uc_checkpoint *cp = own_checkpoint(self, cp_obj);
	if (!cp)
		return NULL;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (Py_ssize_t i = 0; i < n; i++) {
		int err = ms_uc_checkpoint_restore(m, cp);
		if (err)
			return msp_raise(err);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
	return PyFloat_FromDouble(ns);
}

/* Parse run(begin, until, timeout=0, count=0) from a vectorcall. */
static int run_args(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, uint64_t v[4])
{
	static const char *names[] = {"begin", "until", "timeout", "count"};
	PyObject *slots[4] = {NULL, NULL, NULL, NULL};
	if (nargs > 4) {
		PyErr_SetString(PyExc_TypeError, "run() takes at most 4 arguments");
		return -1;
	}
	for (Py_ssize_t i = 0; i < nargs; i++)
		slots[i] = args[i];
	Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
	for (Py_ssize_t k = 0; k < nkw; k++) {
		const char *key = PyUnicode_AsUTF8(PyTuple_GET_ITEM(kwnames, k));
		if (!key)
			return -1;
		int j = 0;
		while (j < 4 && strcmp(key, names[j]) != 0)
			j++;
		if (j == 4 || slots[j]) {
			PyErr_Format(PyExc_TypeError, "run() got %s keyword argument '%s'",
				     j == 4 ? "an unexpected" : "a repeated", key);
			return -1;
		}
		slots[j] = args[nargs + k];
	}
	for (int j = 0; j < 4; j++) {
		v[j] = 0;
		if (!slots[j]) {
			if (j < 2) {
				PyErr_Format(PyExc_TypeError, "run() missing argument '%s'",
					     names[j]);
				return -1;
			}
			continue;
		}
		if (!msp_u64(slots[j], &v[j]))
			return -1;
	}
	return 0;
}

static PyObject *runtime_run(MspRuntime *self, PyObject *const *args, Py_ssize_t nargs,
			     PyObject *kwnames)
{
	uint64_t v[4];
	if (run_args(args, nargs, kwnames, v))
		return NULL;
	RT_OPEN(self, m);
	if (self->att->busy)
		return msp_raise(-EBUSY);
	/* Hooks of the unicorn binding keep their first exception here and
	 * stop the engine; emu_start raises it, and so does run(). */
	if (PyObject_SetAttr(self->uc, str_hook_exception, Py_None))
		PyErr_Clear();
	self->att->busy = PyThread_get_thread_ident();
	PyThreadState *ts = PyEval_SaveThread();
	int err = ms_uc_run(m, v[0], v[1], v[2], (size_t)v[3]);
	PyEval_RestoreThread(ts);
	self->att->busy = 0;
	if (err)
		return msp_raise(err);
	PyObject *exc = PyObject_GetAttr(self->uc, str_hook_exception);
	if (!exc) {
		PyErr_Clear();
		Py_RETURN_NONE;
	}
	if (exc == Py_None) {
		Py_DECREF(exc);
		Py_RETURN_NONE;
	}
	if (PyObject_SetAttr(self->uc, str_hook_exception, Py_None))
		PyErr_Clear();
	if (PyExceptionInstance_Check(exc))
		PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
	else
		PyErr_SetObject(PyExc_RuntimeError, exc);
	Py_DECREF(exc);
	return NULL;
}

static PyStructSequence_Field uc_stats_fields[] = {
    {"restores", "checkpoint restores"},
    {"last_dirty_pages", "pages the last restore put back"},
    {"total_dirty_pages", "pages put back by all restores"},
    {"code_pages_flushed", "pages whose translated code was dropped"},
    {"runs", "run() calls"},
    {NULL, NULL},
};

static PyStructSequence_Desc uc_stats_desc = {
    "memsnap.uc.Stats", "Statistics of a Runtime (ms_uc_stats).", uc_stats_fields, 5};

PyTypeObject MspUcStats_Type;

static PyObject *runtime_stats(MspRuntime *self, PyObject *unused)
{
	(void)unused;
	RT_OPEN(self, m);
	ms_uc_stats st;
	int err = ms_uc_get_stats(m, &st);
	if (err)
		return msp_raise(err);
	PyObject *out = PyStructSequence_New(&MspUcStats_Type);
	if (!out)
		return NULL;
	const uint64_t values[] = {st.restores, st.last_dirty_pages, st.total_dirty_pages,
				   st.code_pages_flushed, st.runs};
	for (Py_ssize_t i = 0; i < 5; i++) {
		PyObject *v = PyLong_FromUnsignedLongLong(values[i]);
		if (!v) {
			Py_DECREF(out);
			return NULL;
		}
		PyStructSequence_SET_ITEM(out, i, v);
	}
	return out;
}

static PyObject *runtime_verify(MspRuntime *self, PyObject *unused)
{
	(void)unused;
	RT_OPEN(self, m);
	long n = ms_uc_verify(m);
	if (n < 0)
		return msp_raise((int)n);
	return PyLong_FromLong(n);
}

static PyObject *runtime_set_tracking(MspRuntime *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"tracking", "tracker", NULL};
	int tracking, tracker = MS_TRACKER_AUTO;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "i|i:set_tracking", kwlist, &tracking, &tracker))
		return NULL;
	RT_OPEN(self, m);
	if (tracker < 0 || tracker >= MS_TRACKER_COUNT_)
		return msp_raise(-EINVAL);
	int err = ms_uc_set_tracking(m, (ms_uc_tracking)tracking, (ms_tracker)tracker);
	if (err)
		return msp_raise(err);
	Py_RETURN_NONE;
}

/* Open the state at `path_obj` (str, bytes or PathLike), or NULL for None. */
static int open_state(PyObject *path_obj, ms_state **out)
{
	*out = NULL;
	if (path_obj == Py_None)
		return 0;
	PyObject *path;
	if (!PyUnicode_FSConverter(path_obj, &path))
		return -1;
	int err = ms_state_open(PyBytes_AS_STRING(path), 0, out);
	Py_DECREF(path);
	if (err) {
		msp_raise(err);
		return -1;
	}
	return 0;
}

static PyObject *runtime_save(MspRuntime *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"checkpoint", "path", "base", NULL};
	PyObject *cp_obj, *path, *base_obj = Py_None;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "OO&|O:save", kwlist, &cp_obj,
					 PyUnicode_FSConverter, &path, &base_obj))
		return NULL;
	ms_uc_checkpoint *cp = NULL;
	ms_state *base = NULL;
	int err = 0;
	if (rt_get(self) && (cp = own_checkpoint(self, cp_obj)) && open_state(base_obj, &base) == 0)
		err = ms_uc_checkpoint_save(cp, PyBytes_AS_STRING(path), base);
	ms_state_close(base);
	Py_DECREF(path);
	if (PyErr_Occurred())
		return NULL;
	if (err)
		return msp_raise(err);
	Py_RETURN_NONE;
}

static PyObject *runtime_load(MspRuntime *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"path", "base", "verify", NULL};
	PyObject *path, *base_obj = Py_None;
	int verify = 0;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|O$p:load", kwlist, PyUnicode_FSConverter,
					 &path, &base_obj, &verify))
		return NULL;
	ms_uc *m = rt_get(self);
	unsigned flags = verify ? MS_STATE_VERIFY : 0;
	ms_uc_checkpoint *cp = NULL;
	ms_state *st = NULL, *base = NULL;
	int err = 0;
	if (m && base_obj == Py_None)
		err = ms_uc_checkpoint_load(m, PyBytes_AS_STRING(path), flags, &cp);
	else if (m && open_state(base_obj, &base) == 0) {
		err = ms_state_open(PyBytes_AS_STRING(path), flags, &st);
		if (!err)
			err = ms_state_set_base(st, base);
		if (!err)
			err = ms_uc_checkpoint_from_state(m, st, &cp);
	}
	ms_state_close(st);
	ms_state_close(base);
	Py_DECREF(path);
	if (PyErr_Occurred())
		return NULL;
	if (err)
		return msp_raise(err);
	return checkpoint_wrap(self, cp);
}

static PyObject *runtime_close(MspRuntime *self, PyObject *unused)
{
	(void)unused;
	if (self->att && self->att->busy)
		return msp_raise(-EBUSY);
	if (self->att)
		att_free(self->att);
	Py_RETURN_NONE;
}

static PyObject *runtime_enter(PyObject *self, PyObject *unused)
{
	(void)unused;
	return Py_NewRef(self);
}

static PyObject *runtime_exit(MspRuntime *self, PyObject *args)
{
	(void)args;
	return runtime_close(self, NULL);
}

static PyObject *runtime_get_engine(MspRuntime *self, void *closure)
{
	(void)closure;
	if (!self->uc)
		return msp_closed("runtime");
	return Py_NewRef(self->uc);
}

static PyObject *runtime_get_tracking(MspRuntime *self, void *closure)
{
	(void)closure;
	RT_OPEN(self, m);
	return PyLong_FromLong(ms_uc_get_tracking(m));
}

static PyObject *runtime_get_attachment(MspRuntime *self, void *closure)
{
	(void)closure;
	if (!self->att)
		return msp_closed("runtime");
	return Py_NewRef(self->att);
}

static PyObject *runtime_get_closed(MspRuntime *self, void *closure)
{
	(void)closure;
	return PyBool_FromLong(!self->att || !self->att->m);
}

static PyMethodDef runtime_methods[] = {
    {"map", MSP_KW(runtime_map), METH_VARARGS | METH_KEYWORDS,
     "map(address: int, memory: int | Snapshot, perms: int = UC_PROT_ALL) -> None\n\nMap "
     "guest RAM at `address`: a copy-on-write view of `memory` (a Snapshot, which may be "
     "closed afterwards) or of `memory` zero bytes. 4 KiB aligned. O(1). Error EEXIST on "
     "overlap, EINVAL on misalignment."},
    {"unmap", (PyCFunction)runtime_unmap, METH_VARARGS,
     "unmap(address: int, size: int) -> None\n\nUnmap the region that starts at `address` "
     "with exactly `size` bytes (ENOENT if there is none). A restore maps it again."},
    {"protect", (PyCFunction)runtime_protect, METH_VARARGS,
     "protect(address: int, size: int, perms: int) -> None\n\nuc_mem_protect inside one "
     "region; a restore puts the permissions back."},
    {"write", (PyCFunction)runtime_write, METH_VARARGS,
     "write(address: int, data) -> None\n\nWrite a bytes-like object into guest RAM mapped by "
     "memsnap (tracked; EFAULT outside). uc.mem_write is tracked too."},
    {"read", (PyCFunction)runtime_read, METH_VARARGS,
     "read(address: int, size: int) -> bytes\n\nRead guest RAM mapped by memsnap."},
    {"note_written", (PyCFunction)runtime_note_written, METH_VARARGS,
     "note_written(address: int, size: int) -> None\n\nDeclare guest memory written (or about "
     "to be written) by a writer memsnap cannot see."},
    {"checkpoint", (PyCFunction)runtime_checkpoint, METH_NOARGS,
     "checkpoint() -> Checkpoint\n\nRecord CPU context, memory map and memory. O(pages "
     "written since the last checkpoint or restore); pages are shared between checkpoints."},
    {"restore", (PyCFunction)runtime_restore, METH_O,
     "restore(checkpoint: Checkpoint) -> None\n\nPut CPU, memory map and memory back as they "
     "were at `checkpoint`, O(dirty pages). Error(EXDEV) for a checkpoint of another "
     "runtime; ValueError if either is closed."},
    {"_restore_loop", (PyCFunction)runtime_restore_loop, METH_VARARGS,
     "_restore_loop(checkpoint, n: int) -> float\n\nRestore `n` times in a C loop and return "
     "the nanoseconds taken: the C call's cost, for measuring the binding's own."},
    {"run", MSP_KW(runtime_run), METH_FASTCALL | METH_KEYWORDS,
     "run(begin: int, until: int, timeout: int = 0, count: int = 0) -> None\n\nuc.emu_start "
     "made safe for campaigns of any length (ms_uc_run). A guest fault raises UnicornError "
     "(uc_err tells which); an exception raised in a unicorn hook is raised again here, as "
     "emu_start does. The GIL is released while the guest runs."},
    {"stats", (PyCFunction)runtime_stats, METH_NOARGS, "stats() -> Stats\n\nThe statistics."},
    {"verify", (PyCFunction)runtime_verify, METH_NOARGS,
     "verify() -> int\n\nPages of guest RAM that differ from what the last checkpoint or "
     "restore would put back but were not seen written (0 when tracking is exact). O(RAM)."},
    {"set_tracking", MSP_KW(runtime_set_tracking), METH_VARARGS | METH_KEYWORDS,
     "set_tracking(tracking: int, tracker: int = TRACKER_AUTO) -> None\n\nTRACK_EXACT (the "
     "default: every writer seen, through a view tracker) or TRACK_HOOK (guest stores and "
     "write()/note_written only). Before the first map() (EBUSY after)."},
    {"save", MSP_KW(runtime_save), METH_VARARGS | METH_KEYWORDS,
     "save(checkpoint: Checkpoint, path, base=None) -> None\n\nWrite `checkpoint` as an "
     "engine save state at `path`, atomically. With `base` (the path of the state the engine "
     "was loaded from) the file stores only the pages that differ from it. O(RAM) for a full "
     "save."},
    {"load", MSP_KW(runtime_load), METH_VARARGS | METH_KEYWORDS,
     "load(path, base=None, *, verify=False) -> Checkpoint\n\nA checkpoint holding the save "
     "state at `path` (an incremental one needs its `base` path); restore() it to apply it. "
     "RAM is mapped from the file, read when touched. `verify` checks every RAM chunk first. "
     "Error(ERR_MISMATCH) for a state of another architecture or base."},
    {"close", (PyCFunction)runtime_close, METH_NOARGS,
     "close() -> None\n\nUnmap memsnap's regions from the engine and free the state now "
     "(EBUSY during run()). Later calls raise ValueError; closing twice is allowed. The "
     "engine stays open."},
    {"__enter__", runtime_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)runtime_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef runtime_getset[] = {
    {"engine", (getter)runtime_get_engine, NULL, "The unicorn.Uc this runtime is attached to.",
     NULL},
    {"tracking", (getter)runtime_get_tracking, NULL, "TRACK_EXACT or TRACK_HOOK.", NULL},
    {"_attachment", (getter)runtime_get_attachment, NULL, "The C state (internal).", NULL},
    {"closed", (getter)runtime_get_closed, NULL, "Whether close() was called.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject MspRuntime_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "memsnap.uc.Runtime",
    .tp_basicsize = sizeof(MspRuntime),
    .tp_dealloc = (destructor)runtime_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Guest RAM of a unicorn.Uc on memsnap views, with checkpoints (an ms_uc).\n\n"
	      "Made by memsnap.uc.attach(uc). Holds the engine open while it lives. A context "
	      "manager; close() or garbage collection frees it.",
    .tp_traverse = (traverseproc)runtime_traverse,
    .tp_clear = (inquiry)runtime_clear,
    .tp_weaklistoffset = offsetof(MspRuntime, weakrefs),
    .tp_methods = runtime_methods,
    .tp_getset = runtime_getset,
};

/* ---- Checkpoint ---------------------------------------------------------- */

static int checkpoint_traverse(MspCheckpoint *self, visitproc visit, void *arg)
{
	Py_VISIT(self->owner);
	return 0;
}

/* Checkpoints do not need their engine: freeing one after the engine closed
 * is fine, so clearing may drop the owner first. */
static int checkpoint_clear(MspCheckpoint *self)
{
	Py_CLEAR(self->owner);
	return 0;
}

static void checkpoint_dealloc(MspCheckpoint *self)
{
	PyObject_GC_UnTrack(self);
	if (self->weakrefs)
		PyObject_ClearWeakRefs((PyObject *)self);
	ms_uc_checkpoint_free(self->cp);
	Py_CLEAR(self->owner);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *checkpoint_regions(MspCheckpoint *self, PyObject *unused)
{
	(void)unused;
	if (!self->cp)
		return msp_closed("checkpoint");
	long n = ms_uc_checkpoint_regions(self->cp, NULL, 0);
	if (n < 0)
		return msp_raise((int)n);
	uc_mem_region *regions = PyMem_Malloc(((size_t)n + 1) * sizeof *regions);
	if (!regions)
		return PyErr_NoMemory();
	long got = ms_uc_checkpoint_regions(self->cp, regions, (size_t)n);
	if (got > n)
		got = n;
	PyObject *list = PyList_New(got < 0 ? 0 : got);
	for (long i = 0; list && i < got; i++) {
		PyObject *t = Py_BuildValue("(KKI)", (unsigned long long)regions[i].begin,
					    (unsigned long long)regions[i].end, regions[i].perms);
		if (!t) {
			Py_CLEAR(list);
			break;
		}
		PyList_SET_ITEM(list, i, t);
	}
	PyMem_Free(regions);
	return list;
}

static PyObject *checkpoint_close(MspCheckpoint *self, PyObject *unused)
{
	(void)unused;
	ms_uc_checkpoint_free(self->cp);
	self->cp = NULL;
	Py_RETURN_NONE;
}

static PyObject *checkpoint_exit(MspCheckpoint *self, PyObject *args)
{
	(void)args;
	return checkpoint_close(self, NULL);
}

static PyObject *checkpoint_get_runtime(MspCheckpoint *self, void *closure)
{
	(void)closure;
	if (!self->owner)
		return msp_closed("checkpoint");
	return Py_NewRef(self->owner);
}

static PyObject *checkpoint_get_closed(MspCheckpoint *self, void *closure)
{
	(void)closure;
	return PyBool_FromLong(self->cp == NULL);
}

static PyMethodDef checkpoint_methods[] = {
    {"regions", (PyCFunction)checkpoint_regions, METH_NOARGS,
     "regions() -> list[tuple[int, int, int]]\n\nThe memory map recorded: (begin, end "
     "inclusive, perms) like uc.mem_regions()."},
    {"close", (PyCFunction)checkpoint_close, METH_NOARGS,
     "close() -> None\n\nFree the checkpoint now. Later use raises ValueError; closing twice "
     "is allowed."},
    {"__enter__", runtime_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)checkpoint_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef checkpoint_getset[] = {
    {"runtime", (getter)checkpoint_get_runtime, NULL, "The Runtime that took it.", NULL},
    {"closed", (getter)checkpoint_get_closed, NULL, "Whether close() was called.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject MspCheckpoint_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "memsnap.uc.Checkpoint",
    .tp_basicsize = sizeof(MspCheckpoint),
    .tp_dealloc = (destructor)checkpoint_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "CPU context, memory map and memory of an engine at one moment "
	      "(ms_uc_checkpoint).\n\nMade by Runtime.checkpoint() or Runtime.load(); restored "
	      "by Runtime.restore() any number of times. Keeps its runtime alive. A context "
	      "manager; close() or garbage collection frees it.",
    .tp_traverse = (traverseproc)checkpoint_traverse,
    .tp_clear = (inquiry)checkpoint_clear,
    .tp_weaklistoffset = offsetof(MspCheckpoint, weakrefs),
    .tp_methods = checkpoint_methods,
    .tp_getset = checkpoint_getset,
};

int msp_uc_init_types(PyObject *module)
{
	str_hook_exception = PyUnicode_InternFromString("_hook_exception");
	if (!str_hook_exception)
		return -1;
	if (PyType_Ready(&MspAttachment_Type) || PyType_Ready(&MspRuntime_Type) ||
	    PyType_Ready(&MspCheckpoint_Type))
		return -1;
	if (PyStructSequence_InitType2(&MspUcStats_Type, &uc_stats_desc))
		return -1;
	if (PyModule_AddObjectRef(module, "Runtime", (PyObject *)&MspRuntime_Type) ||
	    PyModule_AddObjectRef(module, "Checkpoint", (PyObject *)&MspCheckpoint_Type) ||
	    PyModule_AddObjectRef(module, "Attachment", (PyObject *)&MspAttachment_Type) ||
	    PyModule_AddObjectRef(module, "Stats", (PyObject *)&MspUcStats_Type))
		return -1;
	return 0;
}
