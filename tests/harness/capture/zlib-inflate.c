/*
 * A host program of ours that links a real Debian library (zlib): it
 * compresses a message into a global buffer and inflates it with
 * uncompress(). Captured at uncompress, the call's source buffer is the
 * fuzz input (tests/harness/test_capture.c, docs/capture.md).
 */
#include <stdio.h>
#include <string.h>
#include <zlib.h>

unsigned char memsnap_input[4096];
static unsigned char out[16384];

int main(void)
{
	static const char msg[] = "memsnap captures a process and fuzzes zlib from its own memory; "
				  "memsnap captures a process and fuzzes zlib from its own memory";
	uLongf clen = sizeof memsnap_input, dlen = sizeof out;
	if (compress(memsnap_input, &clen, (const Bytef *)msg, sizeof msg) != Z_OK)
		return 2;
	int rc = uncompress(out, &dlen, memsnap_input, clen);
	printf("uncompress: %d, %lu bytes\n", rc, (unsigned long)dlen);
	return rc == Z_OK && dlen == sizeof msg && !memcmp(out, msg, dlen) ? 0 : 1;
}
