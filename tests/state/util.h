/* Helpers for the save-state tests: temporary directories, file bytes. */
#ifndef MEMSNAP_TESTS_STATE_UTIL_H
#define MEMSNAP_TESTS_STATE_UTIL_H

#include "../common.h"

#include <dirent.h>
#include <sys/stat.h>

#if defined(_WIN32)
/* Windows has no mkdtemp: _mktemp_s names a directory nobody has, which
 * _mkdir then creates (the tests run one process at a time per folder). */
#include <direct.h>
static inline char *st_mkdtemp(char *tmpl)
{
	return _mktemp_s(tmpl, strlen(tmpl) + 1) == 0 && _mkdir(tmpl) == 0 ? tmpl : NULL;
}
#else
#define st_mkdtemp mkdtemp
#endif

/* A fresh empty directory under the test tmpdir. */
static inline void st_tmpdir(char *path, size_t cap)
{
	snprintf(path, cap, "%s/memsnap-state-XXXXXX", ms_test_tmpdir());
	if (!st_mkdtemp(path)) {
		perror("mkdtemp");
		abort();
	}
}

/* Number of entries in `dir` besides . and .. */
static inline int st_count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	if (d)
		closedir(d);
	return n;
}

static inline void st_rmtree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[1024];
	while (d && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (snprintf(p, sizeof p, "%s/%.255s", dir, e->d_name) >= (int)sizeof p)
			continue;
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

static inline unsigned char *st_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
	if (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static inline void st_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f || (len && fwrite(data, 1, len, f) != len)) {
		perror("write");
		abort();
	}
	fclose(f);
}

#endif
