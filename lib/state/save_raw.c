/* ms_snapshot_save: a snapshot's raw content, written atomically. */
#include <errno.h>

#include "io.h"

int ms_snapshot_save(ms_snapshot *snap, const char *path)
{
	if (!snap || !path || !*path)
		return -EINVAL;
	ms__afile f;
	int err = ms__afile_create(&f, path);
	if (err)
		return err;
	err = ms__afile_truncate(&f, snap->size);
	if (!err)
		err = ms__write_pages(f.fd, 0, snap, NULL, 0, snap->npages, 1u << 20, NULL);
	if (err) {
		ms__afile_abort(&f);
		return err;
	}
	return ms__afile_commit(&f);
}
