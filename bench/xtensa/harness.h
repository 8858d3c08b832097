/* Bare-metal harness for qemu-system-xtensa -M sim (semihosting I/O). */
#ifndef HARNESS_H
#define HARNESS_H

#include <stddef.h>
#include <stdint.h>

void hs_write(const char *s, size_t n);
void hs_puts(const char *s);            /* no newline added */
void hs_put_u32(uint32_t v);            /* decimal */
void hs_put_i32(int32_t v);
void hs_put_hex(uint32_t v);            /* 8 hex digits */
void *hs_alloc(size_t n);               /* 16-aligned bump allocator, never freed */

/* The instruction-count plugin counts what runs between these two calls. */
void bench_mark_start(void);
void bench_mark_stop(void);

#endif
