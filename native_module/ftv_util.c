#include "ftv_util.h"
#include "ftv_fixed.h"

/* Shift-and-subtract over the top `bits` bits of w (1 <= bits <= 32, taken
 * from bit 31 down once w is shifted up), with the running remainder
 * r < d on entry and on exit.  Returns the `bits` quotient bits.  r << 1 may
 * carry out of 32 bits when d > 2^31; then the true remainder 2^32 + r
 * exceeds d and r - d modulo 2^32 is the exact new remainder. */
static uint32_t div_bits(uint32_t *rem, uint32_t w, int32_t bits, uint32_t d)
{
    uint32_t r = *rem, q = 0;
    w <<= 32 - bits;    /* bits >= 1: a shift of at most 31 */
    for (int32_t i = 0; i < bits; i++) {
        uint32_t carry = r >> 31;
        r = (r << 1) | (w >> 31);
        w <<= 1;
        q <<= 1;
        if (carry || r >= d) {
            r -= d;
            q |= 1;
        }
    }
    *rem = r;
    return q;
}

/* Long division that starts where the quotient can first be nonzero: with
 * L = bitlen(n) and k = bitlen(d), the top k - 1 bits of n are below d (the
 * initial remainder) and only the L - k + 1 bits below them give quotient
 * bits; the quotient is those bits, as in the bit-by-bit textbook loop. */
uint64_t ftv_udiv64(uint64_t n, uint32_t d)
{
    uint32_t hi = (uint32_t)(n >> 32), lo = (uint32_t)n, r, q_hi = 0, q_lo;
    int32_t len = ftv_bitlen64(n), k = ftv_bitlen32(d), bits;
    if (d == 0)
        return ~(uint64_t)0;        /* outside the contract; as the bit loop gives */
    if (len < k)
        return 0;
    bits = len - k + 1;             /* 1 .. 64: quotient bits to produce */
    r = k > 1 ? (uint32_t)(n >> bits) : 0;
    if (bits > 32) {
        q_hi = div_bits(&r, hi, bits - 32, d);
        bits = 32;
    }
    q_lo = div_bits(&r, lo, bits, d);
    return ((uint64_t)q_hi << 32) | q_lo;
}
