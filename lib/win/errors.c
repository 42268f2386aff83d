/* Windows error codes as negative errno values (the 0/-errno convention of
 * lib/os.h), in the manner of libuv's uv_translate_sys_error. */
#include <errno.h>

#include "win.h"

int ms__win_errno(DWORD code)
{
	switch (code) {
	case ERROR_SUCCESS:
		return -EIO; /* a failure that set no code */
	case ERROR_FILE_NOT_FOUND:
	case ERROR_PATH_NOT_FOUND:
	case ERROR_INVALID_DRIVE:
	case ERROR_BAD_NETPATH:
	case ERROR_BAD_PATHNAME:
		return -ENOENT;
	case ERROR_ACCESS_DENIED:
	case ERROR_SHARING_VIOLATION:
	case ERROR_LOCK_VIOLATION:
	case ERROR_WRITE_PROTECT:
		return -EACCES;
	case ERROR_INVALID_HANDLE:
		return -EBADF;
	case ERROR_NOT_ENOUGH_MEMORY:
	case ERROR_OUTOFMEMORY:
	case ERROR_COMMITMENT_LIMIT:
	case ERROR_NOT_ENOUGH_QUOTA:
		return -ENOMEM;
	case ERROR_FILE_EXISTS:
	case ERROR_ALREADY_EXISTS:
		return -EEXIST;
	case ERROR_DIRECTORY:
		return -ENOTDIR;
	case ERROR_DISK_FULL:
	case ERROR_HANDLE_DISK_FULL:
		return -ENOSPC;
	case ERROR_FILE_TOO_LARGE:
		return -EFBIG;
	case ERROR_INVALID_ADDRESS:
	case ERROR_NOACCESS:
	case ERROR_PARTIAL_COPY:
		return -EFAULT;
	case ERROR_HANDLE_EOF:
		return -EIO;
	case ERROR_NOT_SUPPORTED:
	case ERROR_CALL_NOT_IMPLEMENTED:
		return -EOPNOTSUPP;
	case ERROR_TOO_MANY_OPEN_FILES:
		return -EMFILE;
	case ERROR_BUSY:
		return -EBUSY;
	case ERROR_INVALID_PARAMETER:
	case ERROR_INVALID_FUNCTION:
	case ERROR_INVALID_NAME:
	default:
		return -EINVAL;
	}
}
