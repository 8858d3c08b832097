/* Argument checks that a kernel and its _ref twin share, so both variants
 * refuse exactly the same calls (internal: included by ftv_ops_*.c only). */
#ifndef FTV_ARGS_H
#define FTV_ARGS_H

#include <stdint.h>

#include "ftv_ops.h"

static inline int ftv_requant_args(const int32_t *out, const int32_t *acc, const int32_t *row_a,
                                   const int32_t *row_sh, int rows, int n_out,
                                   const int32_t *mult)
{
    if (rows < 0 || n_out < 0 || (!row_a) != (!row_sh))
        return FTV_ERR_ARG;
    if (rows > 0 && n_out > 0 && (!out || !acc || !mult))
        return FTV_ERR_ARG;
    return FTV_OK;
}

static inline int ftv_layer_norm_args(const void *out, const int32_t *x, int rows, int dim,
                                      const int8_t *gamma, const int8_t *beta,
                                      const int32_t *mult2)
{
    if (rows < 0 || dim < 1 || dim > FTV_MAX_DIM)
        return FTV_ERR_ARG;
    if (rows > 0 && (!out || !x || !gamma || !beta || !mult2))
        return FTV_ERR_ARG;
    return FTV_OK;
}

#endif /* FTV_ARGS_H */
