/* The README's API tour as a program: a snapshot, a copy-on-write view,
 * writes, an O(dirty) restore and an incremental snapshot. */
#include <stdio.h>
#include <string.h>

#include <memsnap/memsnap.h>

int main(void)
{
	ms_snapshot *snap;
	int err = ms_snapshot_zeroed(64 << 20, &snap); /* 64 MiB, costs nothing yet */
	if (err) {
		fprintf(stderr, "snapshot: %s\n", ms_strerror(err));
		return 1;
	}
	ms_view *view;
	err = ms_view_new(snap, MS_VIEW_COW, &view);
	if (err) {
		fprintf(stderr, "view: %s\n", ms_strerror(err));
		ms_snapshot_unref(snap);
		return 1;
	}
	printf("memsnap %s, page size %zu, tracker %s\n", ms_version(), ms_page_size(),
	       ms_tracker_name(ms_view_tracker(view)));

	char *mem = ms_view_data(view);
	for (int round = 0; round < 3; round++) {
		strcpy(mem + 4096 * 100, "scribbled");
		mem[(32 << 20) + round] = 1;
		long dirty = ms_view_dirty_count(view);
		int pages = ms_view_restore(view); /* costs the pages written, not 64 MiB */
		if (pages < 0) {
			err = pages;
			fprintf(stderr, "restore: %s\n", ms_strerror(err));
			break;
		}
		printf("round %d: %ld dirty pages, restored %d pages, memory is %s\n", round, dirty,
		       pages, mem[4096 * 100] == 0 ? "clean" : "DIRTY");
	}

	strcpy(mem, "checkpointed");
	ms_snapshot *cp;
	if (ms_view_take_snapshot(view, &cp) == 0) {
		printf("incremental snapshot: depth %zu, stores %zu bytes of 64 MiB\n",
		       ms_snapshot_depth(cp), ms_snapshot_own_bytes(cp));
		ms_snapshot_unref(cp);
	}
	ms_view_free(view);
	ms_snapshot_unref(snap);
	return err ? 1 : 0;
}
