/* Semihosting output, a bump allocator, the region markers, and the few
 * libc routines the kernels use (this image links no libc). */
#include <string.h>

#include "harness.h"

static long simcall3(long call, long a, long b, long c)
{
    register long a2 __asm__("a2") = call;
    register long a3 __asm__("a3") = a;
    register long a4 __asm__("a4") = b;
    register long a5 __asm__("a5") = c;
    /* llvm-mc-22 does not know the SIMCALL mnemonic: its encoding instead */
#ifdef __clang__
    __asm__ volatile(".byte 0x00, 0x51, 0x00" : "+r"(a2), "+r"(a3) : "r"(a4), "r"(a5) : "memory");
#else
    __asm__ volatile("simcall" : "+r"(a2), "+r"(a3) : "r"(a4), "r"(a5) : "memory");
#endif
    return a2;
}

void hs_write(const char *s, size_t n) { simcall3(4, 1, (long)s, (long)n); }

void hs_puts(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    hs_write(s, n);
}

void hs_put_u32(uint32_t v)
{
    char buf[12];
    int i = 12;
    do {
        uint32_t q = 0, r = v;
        while (r >= 10) {       /* no hardware divide on lx106 */
            r -= 10;
            q++;
        }
        buf[--i] = (char)('0' + r);
        v = q;
    } while (v);
    hs_write(buf + i, (size_t)(12 - i));
}

void hs_put_i32(int32_t v)
{
    if (v < 0) {
        hs_write("-", 1);
        hs_put_u32(0u - (uint32_t)v);
    } else {
        hs_put_u32((uint32_t)v);
    }
}

void hs_put_hex(uint32_t v)
{
    char buf[8];
    for (int i = 7; i >= 0; i--, v >>= 4)
        buf[i] = "0123456789abcdef"[v & 15];
    hs_write(buf, 8);
}

extern char __heap_start[];
static char *heap_next;

void *hs_alloc(size_t n)
{
    if (!heap_next)
        heap_next = __heap_start;
    char *p = heap_next;
    heap_next += (n + 15) & ~(size_t)15;
    return p;
}

/* Distinct, never-inlined addresses for the plugin to watch. */
__attribute__((noinline)) void bench_mark_start(void) { __asm__ volatile("nop"); }
__attribute__((noinline)) void bench_mark_stop(void) { __asm__ volatile("nop.n"); }

/* Word-at-a-time (four words a turn) when both pointers allow it, bytes
 * otherwise: about what a C library's memcpy/memset costs per word. */
void *memcpy(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if ((((uintptr_t)d | (uintptr_t)s) & 3) == 0) {
        for (; n >= 16; n -= 16, d += 16, s += 16) {
            uint32_t a = ((const uint32_t *)(const void *)s)[0];
            uint32_t b = ((const uint32_t *)(const void *)s)[1];
            uint32_t c = ((const uint32_t *)(const void *)s)[2];
            uint32_t e = ((const uint32_t *)(const void *)s)[3];
            ((uint32_t *)(void *)d)[0] = a;
            ((uint32_t *)(void *)d)[1] = b;
            ((uint32_t *)(void *)d)[2] = c;
            ((uint32_t *)(void *)d)[3] = e;
        }
        for (; n >= 4; n -= 4, d += 4, s += 4)
            *(uint32_t *)(void *)d = *(const uint32_t *)(const void *)s;
    }
    while (n--)
        *d++ = *s++;
    return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d <= s || d >= s + n)
        return memcpy(dst, src, n);
    while (n--)
        d[n] = s[n];
    return dst;
}

void *memset(void *dst, int c, size_t n)
{
    unsigned char *d = dst;
    uint32_t w = (uint8_t)c * 0x01010101u;
    for (; n && ((uintptr_t)d & 3); n--)
        *d++ = (unsigned char)c;
    for (; n >= 16; n -= 16, d += 16) {
        ((uint32_t *)(void *)d)[0] = w;
        ((uint32_t *)(void *)d)[1] = w;
        ((uint32_t *)(void *)d)[2] = w;
        ((uint32_t *)(void *)d)[3] = w;
    }
    for (; n >= 4; n -= 4, d += 4)
        *(uint32_t *)(void *)d = w;
    while (n--)
        *d++ = (unsigned char)c;
    return dst;
}
