/* Small integer helpers shared by every kernel.
 *
 * The kernels build freestanding (bare-metal Xtensa, MicroPython natmods):
 * no libc beyond memset/memcpy/memmove, no float, no writable static data,
 * and no libgcc division routines (the lx106 libgcc lacks __divsi3 & co),
 * so the library's only runtime division is ftv_udiv64() below.
 */
#ifndef FTV_UTIL_H
#define FTV_UTIL_H

#include <stdint.h>

/* floor(n / d) for d > 0, by shift-and-subtract. */
uint64_t ftv_udiv64(uint64_t n, uint32_t d);

#endif /* FTV_UTIL_H */
