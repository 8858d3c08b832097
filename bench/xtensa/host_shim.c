/* The harness functions for a host build of bench_main.c (checksums). */
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"

void hs_write(const char *s, size_t n) { fwrite(s, 1, n, stdout); }
void hs_puts(const char *s) { fputs(s, stdout); }
void hs_put_u32(uint32_t v) { printf("%lu", (unsigned long)v); }
void hs_put_i32(int32_t v) { printf("%ld", (long)v); }
void hs_put_hex(uint32_t v) { printf("%08lx", (unsigned long)v); }

void *hs_alloc(size_t n)
{
    void *p = malloc(n ? n : 1);  /* 16-aligned on the hosts we use */
    if (!p) {
        fputs("out of memory\n", stderr);
        exit(1);
    }
    return p;                     /* freed at exit */
}

void bench_mark_start(void) {}
void bench_mark_stop(void) {}
