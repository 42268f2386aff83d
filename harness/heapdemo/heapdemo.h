/*
 * memsnap heap demo guest: the functions shared by the parser (heap.c) and
 * the per-libc entry code (libc-musl.c, libc-newlib.c).
 */
#ifndef HEAPDEMO_H
#define HEAPDEMO_H

#include <stdint.h>

/* Parses one input; the number of commands on success, negative on error. */
int heapdemo_parse(const uint8_t *data, uint32_t len);

/* What the harness calls: prepares the C library, then parses. */
int heapdemo_entry(const uint8_t *data, uint32_t len);

#endif
