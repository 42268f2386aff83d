/*
 * memsnap._memsnap: the module, its exceptions, argument converters and the
 * library-wide functions and constants.
 */
#include <errno.h>
#include <limits.h>

#include "binding.h"

static PyObject *msp_Error;
static PyObject *msp_UnicornError;

/* The exception for `err`, not raised; NULL with an exception set if it
 * cannot be made. */
static PyObject *error_new(int err)
{
	int is_uc = err <= MS_ERR_UC_BASE && err > MS_ERR_UC_BASE - 100;
	PyObject *exc = PyObject_CallFunction(is_uc ? msp_UnicornError : msp_Error, "is", -err,
					      ms_strerror(err));
	if (!exc)
		return NULL;
	PyObject *code = PyLong_FromLong(err);
	PyObject *uc_err = is_uc ? PyLong_FromLong(MS_ERR_UC_BASE - err) : Py_NewRef(Py_None);
	if (!code || !uc_err || PyObject_SetAttrString(exc, "code", code) ||
	    PyObject_SetAttrString(exc, "uc_err", uc_err))
		Py_CLEAR(exc);
	Py_XDECREF(code);
	Py_XDECREF(uc_err);
	return exc;
}

PyObject *msp_raise(int err)
{
	PyObject *exc = error_new(err);
	if (exc) {
		PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
		Py_DECREF(exc);
	}
	return NULL;
}

PyObject *msp_closed(const char *what)
{
	PyErr_Format(PyExc_ValueError, "%s is closed", what);
	return NULL;
}

int msp_u64(PyObject *obj, void *out)
{
	unsigned long long v = PyLong_AsUnsignedLongLong(obj);
	if (v == (unsigned long long)-1 && PyErr_Occurred())
		return 0;
	*(uint64_t *)out = v;
	return 1;
}

int msp_size(PyObject *obj, void *out)
{
	size_t v = PyLong_AsSize_t(obj);
	if (v == (size_t)-1 && PyErr_Occurred())
		return 0;
	*(size_t *)out = v;
	return 1;
}

static PyObject *mod_page_size(PyObject *self, PyObject *unused)
{
	(void)self;
	(void)unused;
	return PyLong_FromSize_t(ms_page_size());
}

static PyObject *mod_version(PyObject *self, PyObject *unused)
{
	(void)self;
	(void)unused;
	return PyUnicode_FromString(ms_version());
}

/* An int argument, without PyLong_AsInt (Python 3.13). */
static int int_arg(PyObject *arg, int *out)
{
	long v = PyLong_AsLong(arg);
	if (v == -1 && PyErr_Occurred())
		return -1;
	if (v < INT_MIN || v > INT_MAX) {
		PyErr_SetString(PyExc_OverflowError, "error code out of range");
		return -1;
	}
	*out = (int)v;
	return 0;
}

static PyObject *mod_strerror(PyObject *self, PyObject *arg)
{
	(void)self;
	int err;
	if (int_arg(arg, &err))
		return NULL;
	return PyUnicode_FromString(ms_strerror(err));
}

static int tracker_arg(PyObject *arg, ms_tracker *out)
{
	long t = PyLong_AsLong(arg);
	if (t == -1 && PyErr_Occurred())
		return -1;
	if (t < 0 || t >= MS_TRACKER_COUNT_) {
		msp_raise(-EINVAL);
		return -1;
	}
	*out = (ms_tracker)t;
	return 0;
}

static PyObject *mod_tracker_name(PyObject *self, PyObject *arg)
{
	(void)self;
	ms_tracker t;
	if (tracker_arg(arg, &t))
		return NULL;
	return PyUnicode_FromString(ms_tracker_name(t));
}

static PyObject *mod_tracker_resolve(PyObject *self, PyObject *arg)
{
	(void)self;
	ms_tracker t;
	if (tracker_arg(arg, &t))
		return NULL;
	return PyLong_FromLong(ms_tracker_resolve(t));
}

static PyObject *mod_tracker_probe(PyObject *self, PyObject *arg)
{
	(void)self;
	ms_tracker t;
	if (tracker_arg(arg, &t))
		return NULL;
	int err = ms_tracker_probe(t);
	if (err < 0)
		return msp_raise(err);
	Py_RETURN_NONE;
}

static PyObject *mod_error(PyObject *self, PyObject *arg)
{
	(void)self;
	int err;
	if (int_arg(arg, &err))
		return NULL;
	if (err >= 0) {
		PyErr_SetString(PyExc_ValueError, "error codes are negative");
		return NULL;
	}
	return error_new(err);
}

PyObject *msp_uc_attach(PyObject *self, PyObject *args);

static PyMethodDef module_methods[] = {
    {"page_size", mod_page_size, METH_NOARGS, "page_size() -> int\n\nThe system page size."},
    {"version", mod_version, METH_NOARGS,
     "version() -> str\n\nThe version of libmemsnap, \"MAJOR.MINOR.PATCH\"."},
    {"strerror", mod_strerror, METH_O,
     "strerror(code: int) -> str\n\nms_strerror: the text of a memsnap return value."},
    {"tracker_name", mod_tracker_name, METH_O,
     "tracker_name(tracker: int) -> str\n\nThe name of a TRACKER_* value (\"uffd-sync\", ...)."},
    {"tracker_resolve", mod_tracker_resolve, METH_O,
     "tracker_resolve(tracker: int) -> int\n\nThe tracker `tracker` stands for: TRACKER_AUTO "
     "resolves to the one views get (MEMSNAP_TRACKER's where it is set and usable, else the "
     "best this process can use). View.tracker names the tracker a view got."},
    {"tracker_probe", mod_tracker_probe, METH_O,
     "tracker_probe(tracker: int) -> None\n\nReturn if this process can use `tracker`, else "
     "raise Error saying why not."},
    {"error", mod_error, METH_O,
     "error(code: int) -> Error\n\nThe exception memsnap raises for the return value `code` "
     "(< 0), not raised."},
    {"_attach", msp_uc_attach, METH_VARARGS,
     "_attach(uc, handle: int) -> Runtime\n\nLow level: memsnap.uc.attach() is the entry "
     "point."},
    {NULL, NULL, 0, NULL},
};

static int add_constants(PyObject *m)
{
	static const struct {
		const char *name;
		long value;
	} constants[] = {
	    {"ACCESS_NONE", MS_ACCESS_NONE},
	    {"ACCESS_READ", MS_ACCESS_READ},
	    {"ACCESS_WRITE", MS_ACCESS_WRITE},
	    {"ACCESS_EXEC", MS_ACCESS_EXEC},
	    {"TRACKER_AUTO", MS_TRACKER_AUTO},
	    {"TRACKER_UFFD_ASYNC", MS_TRACKER_UFFD_ASYNC},
	    {"TRACKER_UFFD_SYNC", MS_TRACKER_UFFD_SYNC},
	    {"TRACKER_MPROTECT", MS_TRACKER_MPROTECT},
	    {"TRACKER_NONE", MS_TRACKER_NONE},
	    {"TRACK_EXACT", MS_UC_TRACK_EXACT},
	    {"TRACK_HOOK", MS_UC_TRACK_HOOK},
	    {"ERR_BASE", MS_ERR_BASE},
	    {"ERR_CORRUPT", MS_ERR_CORRUPT},
	    {"ERR_FORMAT", MS_ERR_FORMAT},
	    {"ERR_MISMATCH", MS_ERR_MISMATCH},
	    {"ERR_UC_BASE", MS_ERR_UC_BASE},
	    {"STATE_VERIFY", MS_STATE_VERIFY},
	    {"STATE_VERIFY_REGIONS", MS_STATE_VERIFY_REGIONS},
	};
	for (size_t i = 0; i < sizeof constants / sizeof constants[0]; i++)
		if (PyModule_AddIntConstant(m, constants[i].name, constants[i].value))
			return -1;
	return 0;
}

static int add_exceptions(PyObject *m)
{
	PyObject *dict = Py_BuildValue("{s:O,s:O}", "code", Py_None, "uc_err", Py_None);
	if (!dict)
		return -1;
	msp_Error = PyErr_NewExceptionWithDoc(
	    "memsnap.Error",
	    "A memsnap call failed. An OSError: errno is the negated return value of the C "
	    "call (an errno value, or 10000 and up for memsnap's own errors), strerror is "
	    "ms_strerror's text, code the raw (negative) return value.",
	    PyExc_OSError, dict);
	Py_DECREF(dict);
	if (!msp_Error)
		return -1;
	msp_UnicornError = PyErr_NewExceptionWithDoc(
	    "memsnap.UnicornError",
	    "A Unicorn call made by memsnap failed (a guest fault in run(), for instance): "
	    "uc_err is the uc_err value (unicorn.UC_ERR_*).",
	    msp_Error, NULL);
	if (!msp_UnicornError)
		return -1;
	if (PyModule_AddObjectRef(m, "Error", msp_Error) ||
	    PyModule_AddObjectRef(m, "UnicornError", msp_UnicornError))
		return -1;
	return 0;
}

static int module_exec(PyObject *m)
{
	if (add_exceptions(m) || add_constants(m) || msp_snapshot_init_types(m) ||
	    msp_view_init_types(m) || msp_uc_init_types(m))
		return -1;
	return 0;
}

static struct PyModuleDef memsnap_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "memsnap._memsnap",
    .m_doc = "libmemsnap and libmemsnap-uc for Python (use the memsnap package).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__memsnap(void)
{
	PyObject *m = PyModule_Create(&memsnap_module);
	if (!m)
		return NULL;
	if (module_exec(m)) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
