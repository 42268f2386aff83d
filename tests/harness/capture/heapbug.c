/*
 * A host program of ours with a planted heap bug in a function that gets
 * its memory from the real glibc malloc: parse_record trusts the length
 * byte of a record and copies it into a 16-byte chunk. Captured at
 * parse_record, the record is the fuzz input (tests/harness/test_capture.c).
 * The name it keeps frees the previous one, which in the captured state
 * glibc allocated before the capture. With the argument `wait` it never
 * gets there (the capture's timeout).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

unsigned char memsnap_input[256] = "REC\004abcd";
/* The last record's name, allocated by glibc before the capture: each run
 * frees memory the captured process allocated. */
static char *last_name;

__attribute__((noinline)) int parse_record(const unsigned char *buf, size_t len)
{
	if (len < 4 || memcmp(buf, "REC", 3))
		return -1;
	size_t n = buf[3];
	if (n > len - 4)
		return -2;
	char *name = malloc(16);
	if (!name)
		return -3;
	memcpy(name, buf + 4, n); /* BUG: heap overflow when n > 16 */
	int sum = 0;
	for (size_t i = 0; i < n && i < 16; i++)
		sum += name[i];
	free(last_name);
	last_name = name;
	return sum;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "wait"))
		pause();
	last_name = strdup("none");
	char *greeting = strdup("parse_record");
	printf("%s: %d\n", greeting, parse_record(memsnap_input, 8));
	free(greeting);
	return 0;
}
