#include <errno.h>
#include <string.h>

#include "internal.h"

/* Unicorn's uc_err values as memsnap errors, in uc_err order. Kept here so
 * that lib/ needs no Unicorn header; runtime/ maps uc_err e to
 * MS_ERR_UC_BASE - e. */
static const char *const uc_errors[] = {
    "Unicorn: no error",
    "Unicorn: out of memory",
    "Unicorn: unsupported architecture",
    "Unicorn: invalid engine handle",
    "Unicorn: invalid or unsupported mode",
    "Unicorn: unsupported version",
    "Unicorn: read from unmapped guest memory",
    "Unicorn: write to unmapped guest memory",
    "Unicorn: instruction fetch from unmapped guest memory",
    "Unicorn: invalid hook type",
    "Unicorn: invalid instruction",
    "Unicorn: invalid guest memory mapping",
    "Unicorn: write to write-protected guest memory",
    "Unicorn: read from read-protected guest memory",
    "Unicorn: instruction fetch from non-executable guest memory",
    "Unicorn: invalid argument",
    "Unicorn: unaligned read",
    "Unicorn: unaligned write",
    "Unicorn: unaligned instruction fetch",
    "Unicorn: hook already exists",
    "Unicorn: insufficient resources",
    "Unicorn: unhandled CPU exception",
};

const char *ms_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case MS_ERR_CORRUPT:
		return "memsnap: data is corrupt (checksum or structure mismatch)";
	case MS_ERR_FORMAT:
		return "memsnap: not a memsnap file, or an unsupported format version";
	case MS_ERR_MISMATCH:
		return "memsnap: the file belongs to another base, architecture or engine";
	/* errno values with a memsnap-specific meaning first. */
	case -EBUSY:
		return "resource busy: the object is in use (a shared view excludes every other "
		       "view of its snapshot; an engine's tracking is chosen before any regions "
		       "are mapped; a save state already has a base)";
	case -EROFS:
		return "read-only: a read-only file system, or a shared view of a snapshot that "
		       "other snapshots are stacked on (frozen: it must never change)";
	case -EFBIG:
		return "file too large: the size exceeds the process's file-size limit "
		       "(RLIMIT_FSIZE), which memfds count against too";
	case -EOPNOTSUPP:
		return "not supported by this kernel or this kind of view";
	case -EINVAL:
		return "invalid argument (size, alignment, range or mode)";
	default:
		break;
	}
	if (err <= MS_ERR_UC_BASE && err > MS_ERR_UC_BASE - 100) {
		int uc = MS_ERR_UC_BASE - err;
		if (uc < (int)(sizeof uc_errors / sizeof uc_errors[0]))
			return uc_errors[uc];
		return "Unicorn: unknown error";
	}
	if (err < 0 && err > -4096) {
		const char *s = ms__os_strerror(-err);
		if (s)
			return s;
	}
	return "unknown memsnap error";
}

const char *ms_version(void)
{
	return MS_VERSION_STRING;
}
