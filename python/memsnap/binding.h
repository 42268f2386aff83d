/*
 * The memsnap Python extension (memsnap._memsnap): snapshots, views and the
 * Unicorn runtime as Python objects.
 *
 * Ownership mirrors the C API. A Snapshot object owns one reference of its
 * ms_snapshot; a View owns its ms_view (which holds its own snapshot
 * reference, so a view outlives the Snapshot object it was made from). A
 * Runtime owns an Attachment (the ms_uc) and a strong reference to its
 * unicorn.Uc, so the engine stays open while the runtime lives; a Checkpoint
 * holds its Runtime. close() frees the C object early; every later call
 * raises ValueError. Nothing is freed while a call into it is running or
 * while a buffer of its memory is exported.
 *
 * Errors of the C API raise memsnap.Error (an OSError: errno is the negated
 * return value, strerror is ms_strerror's text, `code` the raw value);
 * Unicorn's errors raise its subclass memsnap.UnicornError, whose `uc_err` is
 * the uc_err value.
 */
#ifndef MEMSNAP_PY_BINDING_H
#define MEMSNAP_PY_BINDING_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <memsnap/memsnap.h>
#include <memsnap/uc.h>
#include <memsnap/uc_state.h>

/* A method table entry for functions taking keywords, without the cast
 * warning between function types. */
#define MSP_KW(f) ((PyCFunction)(void (*)(void))(f))

typedef struct {
	PyObject_HEAD ms_snapshot *snap;
	PyObject *weakrefs;
} MspSnapshot;

typedef struct {
	PyObject_HEAD ms_view *view;
	Py_ssize_t exports; /* buffers handed out and not yet released */
	int restricted;	    /* some page may lack read or write access */
	PyObject *weakrefs;
} MspView;

/* The ms_uc of a runtime, apart from the Runtime object so that the engine's
 * finalizer can free it before the engine closes even when both are
 * collected together (see memsnap/uc.py). */
typedef struct {
	PyObject_HEAD ms_uc *m;
	/* The thread running the guest (run() releases the GIL), else 0: the
	 * ms_uc must not be freed, and other threads must not use it. */
	unsigned long busy;
} MspAttachment;

typedef struct {
	PyObject_HEAD MspAttachment *att;
	PyObject *uc; /* the unicorn.Uc */
	PyObject *weakrefs;
} MspRuntime;

typedef struct {
	PyObject_HEAD ms_uc_checkpoint *cp;
	MspRuntime *owner;
	PyObject *weakrefs;
} MspCheckpoint;

extern PyTypeObject MspSnapshot_Type;
extern PyTypeObject MspView_Type;
extern PyTypeObject MspAttachment_Type;
extern PyTypeObject MspRuntime_Type;
extern PyTypeObject MspCheckpoint_Type;
extern PyTypeObject MspViewStats_Type;
extern PyTypeObject MspUcStats_Type;

/* Raise memsnap.Error (or UnicornError) for the memsnap return value `err`
 * (< 0). Returns NULL. */
PyObject *msp_raise(int err);

/* Raise ValueError("<what> is closed"). Returns NULL. */
PyObject *msp_closed(const char *what);

/* A Snapshot object owning `snap` (the reference is stolen, also on
 * failure). */
PyObject *msp_snapshot_wrap(ms_snapshot *snap);

/* Whether `obj` is an open Snapshot; stores its ms_snapshot in *out, else
 * raises and returns 0. */
int msp_snapshot_get(PyObject *obj, ms_snapshot **out);

/* Argument converters for PyArg_Parse* ("O&"): unsigned 64-bit addresses,
 * sizes, and file system paths (str, bytes or os.PathLike, as PyBytes). */
int msp_u64(PyObject *obj, void *out);
int msp_size(PyObject *obj, void *out);

/* Type initialisation, called once by the module. */
int msp_snapshot_init_types(PyObject *module);
int msp_view_init_types(PyObject *module);
int msp_uc_init_types(PyObject *module);

#endif /* MEMSNAP_PY_BINDING_H */
