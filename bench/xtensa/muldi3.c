/* libgcc's 64-bit multiply for the bare-metal lx106 images.
 *
 * The runtime may use 64-bit products (ftv_fixed.h's ftv_mul64 and
 * widening 32 x 32 -> 64 multiplies), which gcc turns into calls of
 * __muldi3.  The ESP32-S3's libgcc has it (its LX7 also has the MULUH /
 * MULSH high-word multiplies, so the compiler inlines widening products
 * there); Debian's xtensa-lx106 libgcc does not, so these images bring
 * their own.  lx106 has only the low-word 32 x 32 multiply (MULL), so the
 * high word of al * bl is assembled from 16-bit halves.  Weak: a libgcc or
 * harness that provides one wins. */
#include <stdint.h>

uint64_t __muldi3(uint64_t a, uint64_t b);

__attribute__((weak)) uint64_t __muldi3(uint64_t a, uint64_t b)
{
    uint32_t al = (uint32_t)a, ah = (uint32_t)(a >> 32);
    uint32_t bl = (uint32_t)b, bh = (uint32_t)(b >> 32);
    uint32_t a0 = al & 0xffffu, a1 = al >> 16, b0 = bl & 0xffffu, b1 = bl >> 16;
    uint32_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    uint32_t mid = (p00 >> 16) + (p01 & 0xffffu) + (p10 & 0xffffu);
    uint32_t lo = (p00 & 0xffffu) | (mid << 16);
    uint32_t hi = p11 + (p01 >> 16) + (p10 >> 16) + (mid >> 16) + al * bh + ah * bl;
    return ((uint64_t)hi << 32) | lo;
}
