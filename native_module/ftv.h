/* FTerViT integer runtime: the one header to include.
 *
 *   ftv_fixed.h   fixed-point primitives: round_shift, sat32, multiplier words
 *   ftv_matmul.h  ternary matrix multiply (tern2 / tern3 packed weights)
 *   ftv_dispatch.h  ftv_matmul_tern2/3: the matmul variant this build uses
 *   ftv_ops.h     every other operator: quantize rows / block, requantize,
 *                 LayerNorm, GELU, softmax, attention, patch gathering,
 *                 residual add, isqrt, ternary row decoding
 *   ftv_model.h   the whole-model forward pass over one model file's tensors
 *   ftv_util.h    ftv_udiv64, the library's only runtime division
 *
 * docs/arithmetic.md defines what each computes; host/ftervit/reference/ is
 * the readable numpy twin the C is tested bit-equal against.  The library is
 * C99 and freestanding (memset/memcpy/memmove only, no float, no writable
 * static data, no runtime division) and never allocates: callers own every
 * buffer.  Return codes: FTV_OK (0), FTV_ERR_ARG, FTV_ERR_GEOMETRY,
 * FTV_ERR_SCRATCH; ftv_strerror() describes them.
 */
#ifndef FTV_H
#define FTV_H

#include "ftv_fixed.h"
#include "ftv_util.h"
#include "ftv_matmul.h"
#include "ftv_dispatch.h"
#include "ftv_ops.h"
#include "ftv_model.h"

#endif /* FTV_H */
