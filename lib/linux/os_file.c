/*
 * The file half of the platform contract (lib/os.h) on Linux: descriptors,
 * positioned reads and writes, and durable atomic replacement by rename.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "prim.h"

int ms__os_open(const char *path, ms__os_open_how how, ms_os_fd *out)
{
	/* O_NONBLOCK so that a FIFO or device given by mistake is refused
	 * by the type check instead of blocking the open. */
	static const int flags[] = {
	    [MS__OS_OPEN_READ] = O_RDONLY | O_NONBLOCK,
	    [MS__OS_OPEN_READ_WRITE] = O_RDWR | O_NONBLOCK,
	    [MS__OS_OPEN_CREATE_NEW] = O_RDWR | O_CREAT | O_EXCL,
	};
	int fd = ms__open(path, flags[how], 0666);
	if (fd < 0)
		return fd;
	*out = fd;
	return 0;
}

int ms__os_dup(ms_os_fd fd, ms_os_fd *out)
{
	FAULT(MS__SYS_DUP);
	int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (nfd < 0)
		return -errno;
	*out = nfd;
	return 0;
}

int ms__os_close(ms_os_fd fd)
{
	return fd >= 0 && close(fd) != 0 ? -errno : 0;
}

int ms__os_remove(const char *path)
{
	return unlink(path) == 0 ? 0 : -errno;
}

int ms__os_file_stat(ms_os_fd fd, ms__os_file_info *out)
{
	if (fd < 0)
		return -EBADF;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	FAULT(MS__SYS_FSTAT);
	struct stat st;
	if (fstat(fd, &st) != 0)
		return -errno;
	*out = (ms__os_file_info){
	    .size = (uint64_t)st.st_size,
	    .allocated = (uint64_t)st.st_blocks * 512,
	    .regular = S_ISREG(st.st_mode),
	    .directory = S_ISDIR(st.st_mode),
	    .readable = (fl & O_ACCMODE) != O_WRONLY,
	    .writable = (fl & O_ACCMODE) == O_RDWR,
	};
	return 0;
}

int ms__os_next_data(ms_os_fd fd, uint64_t from, uint64_t *data, uint64_t *hole)
{
	off_t d = lseek(fd, (off_t)from, SEEK_DATA);
	if (d < 0)
		return errno == ENXIO ? -ENXIO : -EOPNOTSUPP;
	*data = (uint64_t)d;
	if (hole) {
		/* Only on request: on tmpfs, finding the next hole walks every
		 * page up to it, so the whole rest of a full file. */
		off_t h = lseek(fd, d, SEEK_HOLE);
		*hole = h < 0 ? UINT64_MAX : (uint64_t)h;
	}
	return 0;
}

int ms__os_read_at(ms_os_fd fd, void *buf, size_t len, uint64_t offset)
{
	uint8_t *p = buf;
	off_t off = (off_t)offset;
	while (len > 0) {
		FAULT(MS__SYS_READ);
		ssize_t n = pread(fd, p, len, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO; /* the file ended early: truncated */
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

int ms__os_write_at(ms_os_fd fd, const void *buf, size_t len, uint64_t offset)
{
	ms__os_span span = {(void *)buf, len};
	return len ? ms__os_write_spans_at(fd, &span, 1, offset) : 0;
}

int ms__os_write_spans_at(ms_os_fd fd, ms__os_span *spans, size_t n, uint64_t offset)
{
	while (n > 0) {
		int k = n > IOV_MAX ? IOV_MAX : (int)n;
		int fault = ms__fault_hit(MS__SYS_WRITE);
		ssize_t w = fault ? -1 : pwritev(fd, (struct iovec *)spans, k, (off_t)offset);
		if (w < 0) {
			if (!fault && errno == EINTR)
				continue;
			return fault ? fault : -errno;
		}
		if (w == 0)
			return -EIO;
		offset += (uint64_t)w;
		size_t left = ms__spans_skip((const ms__os_span **)&spans, &n, (size_t)w);
		if (left > 0) {
			spans->addr = (uint8_t *)spans->addr + left;
			spans->len -= left;
		}
	}
	return 0;
}

int ms__os_set_size(ms_os_fd fd, uint64_t size)
{
	if (size > (uint64_t)INT64_MAX)
		return -EFBIG;
	FAULT(MS__SYS_FTRUNCATE);
	return ftruncate(fd, (off_t)size) == 0 ? 0 : -errno;
}

int ms__os_sync(ms_os_fd fd)
{
	FAULT(MS__SYS_FSYNC);
	return fsync(fd) == 0 ? 0 : -errno;
}

int ms__os_replace(const char *from, const char *to)
{
	int err = ms__rename(from, to);
	if (err)
		return err;
	/* The rename is only durable once the directory is synced. */
	const char *slash = strrchr(to, '/');
	char *dir = !slash	  ? strdup(".")
		    : slash == to ? strdup("/")
				  : strndup(to, (size_t)(slash - to));
	if (!dir)
		return -ENOMEM;
	int dfd = ms__open(dir, O_RDONLY | O_DIRECTORY, 0);
	free(dir);
	if (dfd < 0)
		return dfd;
	err = ms__os_sync(dfd);
	ms__os_close(dfd);
	/* Some file systems cannot sync a directory; the data is written. */
	return err == -EINVAL || err == -EROFS ? 0 : err;
}
