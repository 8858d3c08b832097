#include "ftv_util.h"

uint64_t ftv_udiv64(uint64_t n, uint32_t d)
{
    uint64_t quotient = 0, remainder = 0;
    for (int bit = 63; bit >= 0; bit--) {
        remainder = (remainder << 1) | ((n >> bit) & 1u);
        if (remainder >= d) {
            remainder -= d;
            quotient |= (uint64_t)1 << bit;
        }
    }
    return quotient;
}
