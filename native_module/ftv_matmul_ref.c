/* Reference kernels: written to be read, not to be fast.  Every weight is
 * decoded on its own and multiplied in; the optimized kernels are tested
 * equal to these.  See ftv_matmul.h for the exact contract. */
#include <string.h>

#include "ftv_matmul.h"

/* Weight k of a tern2 row: 2-bit code c = w + 1, weight 4j+i in bits
 * 2i..2i+1 of byte j. */
static int tern2_weight(const uint8_t *row, int k)
{
    int code = (row[k >> 2] >> ((k & 3) * 2)) & 3;
    return code - 1;
}

/* floor(v / 3) for 0 <= v <= 255: 171/512 is close enough to 1/3 that the
 * error never crosses an integer in that range (checked exhaustively by
 * the tests through the decoded weights). */
static int div3_byte(int v)
{
    return (v * 171) >> 9;
}

/* Dot product of x[0..K) with one tern3 row: byte j = sum_i c_i * 3^i
 * holds weights 5j..5j+4, lowest digit first. */
static int32_t tern3_dot(const int8_t *x, const uint8_t *row, int K)
{
    int32_t acc = 0;
    int k = 0;
    for (int j = 0; k < K; j++) {
        int v = row[j];
        for (int i = 0; i < 5 && k < K; i++, k++) {
            int code = v - 3 * div3_byte(v);   /* v % 3 */
            v = div3_byte(v);                  /* next digit */
            acc += (int32_t)x[k] * (code - 1);
        }
    }
    return acc;
}

void ftv_matmul_tern2_ref(const int8_t *x, const uint8_t *w, int32_t *out,
                          int n_tok, int K, int n_out)
{
    uint32_t row_bytes = ftv_tern2_row_bytes((uint32_t)(K > 0 ? K : 0));
    for (int t = 0; t < n_tok; t++) {
        const int8_t *xt = x + (size_t)t * (size_t)K;
        for (int o = 0; o < n_out; o++) {
            const uint8_t *row = w + (size_t)o * row_bytes;
            int32_t acc = 0;
            for (int k = 0; k < K; k++)
                acc += (int32_t)xt[k] * tern2_weight(row, k);
            out[(size_t)t * (size_t)n_out + (size_t)o] = acc;
        }
    }
}

void ftv_matmul_tern3_ref(const int8_t *x, const uint8_t *w, int32_t *out,
                          int n_tok, int K, int n_out)
{
    uint32_t row_bytes = ftv_tern3_row_bytes((uint32_t)(K > 0 ? K : 0));
    for (int t = 0; t < n_tok; t++) {
        const int8_t *xt = x + (size_t)t * (size_t)K;
        for (int o = 0; o < n_out; o++) {
            const uint8_t *row = w + (size_t)o * row_bytes;
            out[(size_t)t * (size_t)n_out + (size_t)o] = tern3_dot(xt, row, K);
        }
    }
}

/* Dense int8 x int8 -> int32, the plain reference loop of int8 inference
 * libraries; only a baseline for the benchmark. */
void ftv_matmul_i8_ref(const int8_t *x, const int8_t *w, int32_t *out,
                       int n_tok, int K, int n_out)
{
    for (int t = 0; t < n_tok; t++) {
        const int8_t *xt = x + (size_t)t * (size_t)K;
        for (int o = 0; o < n_out; o++) {
            const int8_t *row = w + (size_t)o * (size_t)K;
            int32_t acc = 0;
            for (int k = 0; k < K; k++)
                acc += (int32_t)xt[k] * (int32_t)row[k];
            out[(size_t)t * (size_t)n_out + (size_t)o] = acc;
        }
    }
}
