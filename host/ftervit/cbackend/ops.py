"""Op-level access to the C kernels, shaped like ftervit.reference.ops.

Each function checks its arguments (checks.py), calls the C op and returns
numpy arrays.  ``impl`` picks the variant of ops that have two: ``"fast"``
(what the model uses) or ``"ref"``.  Used by the tests (C == numpy
reference, fast == ref) and the benchmark.
"""
import numpy as np

from .build import load_extension
from .checks import byte_buffer, int_array, int_value

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
_IMPLS = ("fast", "ref")


def _ext():
    return load_extension()


def _ptr(ffi, ctype: str, arr: np.ndarray):
    return ffi.cast(ctype + " *", arr.ctypes.data)


def _call(name: str, rc: int):
    if rc != 0:
        lib = _ext().lib
        raise ValueError(f"{name}: {_ext().ffi.string(lib.ftv_strerror(rc)).decode()} "
                         f"(code {rc})")


def _impl(impl: str) -> str:
    if impl not in _IMPLS:
        raise ValueError(f"impl: expected one of {_IMPLS}, found {impl!r}")
    return impl


def _dim(value: int, name: str, high: int = INT32_MAX) -> int:
    if value > high:
        raise ValueError(f"{name}: expected at most {high}, found {value}")
    return value


# --------------------------------------------------------------- primitives
def round_shift(v: int, s: int) -> int:
    v = int_value(v, "v", -(1 << 63), (1 << 63) - 1)
    s = int_value(s, "s", -(1 << 31) + 1, INT32_MAX)
    return int(_ext().lib.ftv_round_shift(v, s))


def sat32(v: int) -> int:
    return int(_ext().lib.ftv_sat32(int_value(v, "v", -(1 << 63), (1 << 63) - 1)))


def isqrt64(v: int) -> int:
    return int(_ext().lib.ftv_isqrt64(int_value(v, "v", 0, (1 << 64) - 1)))


def udiv64(n: int, d: int) -> int:
    return int(_ext().lib.ftv_udiv64(int_value(n, "n", 0, (1 << 64) - 1),
                                     int_value(d, "d", 1, (1 << 32) - 1)))


# --------------------------------------------------- activation quantization
def quantize_rows(x, impl: str = "fast"):
    """(codes int8 [R, K], a int32 [R], sh int32 [R]) of x12 rows x (int32 [R, K])."""
    x = int_array(x, "x", np.int32, ndim=2)
    rows, k = _dim(x.shape[0], "x rows"), _dim(x.shape[1], "x columns")
    codes = np.zeros((rows, k), np.int8)
    a, sh = np.zeros(rows, np.int32), np.zeros(rows, np.int32)
    m = _ext()
    fn = m.lib.ftv_quantize_rows_fast if _impl(impl) == "fast" else m.lib.ftv_quantize_rows_ref
    _call("quantize_rows", fn(_ptr(m.ffi, "int8_t", codes), _ptr(m.ffi, "int32_t", a),
                              _ptr(m.ffi, "int32_t", sh), _ptr(m.ffi, "int32_t", x),
                              rows, k, k))
    return codes, a, sh


def quantize_block(x):
    """(codes int8 [R, K], a, sh) with one absmax over the whole matrix."""
    x = int_array(x, "x", np.int32, ndim=2)
    rows, k = _dim(x.shape[0], "x rows"), _dim(x.shape[1], "x columns")
    codes = np.zeros((rows, k), np.int8)
    a, sh = np.zeros(1, np.int32), np.zeros(1, np.int32)
    m = _ext()
    _call("quantize_block", m.lib.ftv_quantize_block_ref(
        _ptr(m.ffi, "int8_t", codes), _ptr(m.ffi, "int32_t", a), _ptr(m.ffi, "int32_t", sh),
        _ptr(m.ffi, "int32_t", x), rows, k, k))
    return codes, int(a[0]), int(sh[0])


# ------------------------------------------------------------ requantization
def _requant_args(acc, mult, bias, bias_frac, row_a, row_sh):
    acc = int_array(acc, "acc", np.int32, ndim=2)
    rows, n_out = _dim(acc.shape[0], "acc rows"), _dim(acc.shape[1], "acc columns")
    mult = int_array(mult, "mult", np.int32, ndim=1)
    if mult.size not in (1, n_out):
        raise ValueError(f"mult: expected 1 shared word or {n_out} (one per output), "
                         f"found {mult.size}")
    if bias is not None:
        bias = int_array(bias, "bias", np.int16, shape=(n_out,))
    bias_frac = int_value(bias_frac, "bias_frac", -(1 << 30), 1 << 30)
    if (row_a is None) != (row_sh is None):
        raise ValueError("row_a, row_sh: give both (quantized input) or neither (static input)")
    if row_a is not None:
        row_a = int_array(row_a, "row_a", np.int32, shape=(rows,))
        row_sh = int_array(row_sh, "row_sh", np.int32, shape=(rows,))
    per_row = int(mult.size == n_out and n_out > 1)
    return acc, rows, n_out, mult, bias, bias_frac, row_a, row_sh, per_row


def _requant_ptrs(ffi, acc, mult, bias, row_a, row_sh):
    null = ffi.NULL
    return (_ptr(ffi, "int32_t", acc),
            _ptr(ffi, "int32_t", row_a) if row_a is not None else null,
            _ptr(ffi, "int32_t", row_sh) if row_sh is not None else null,
            _ptr(ffi, "int32_t", mult),
            _ptr(ffi, "int16_t", bias) if bias is not None else null)


def requant(acc, mult, bias, bias_frac: int, row_a=None, row_sh=None, impl: str = "fast"):
    """x12 [R, N] = sat32(round_shift(acc * a * m, s - sh) + bias in x12); row_a/row_sh
    None means a static int8 input (a = 1, sh = 12).  mult: 1 word or N words."""
    acc, rows, n_out, mult, bias, bias_frac, row_a, row_sh, per_row = _requant_args(
        acc, mult, bias, bias_frac, row_a, row_sh)
    out = np.zeros((rows, n_out), np.int32)
    m = _ext()
    fn = m.lib.ftv_requant_fast if _impl(impl) == "fast" else m.lib.ftv_requant_ref
    p_acc, p_a, p_sh, p_mult, p_bias = _requant_ptrs(m.ffi, acc, mult, bias, row_a, row_sh)
    _call("requant", fn(_ptr(m.ffi, "int32_t", out), p_acc, p_a, p_sh, rows, n_out, p_mult,
                        per_row, p_bias, bias_frac))
    return out


def requant_add(x, acc, mult, bias, bias_frac: int, row_a=None, row_sh=None,
                impl: str = "fast"):
    """sat32(x + requant(...)) as a new array (x is not modified)."""
    acc, rows, n_out, mult, bias, bias_frac, row_a, row_sh, per_row = _requant_args(
        acc, mult, bias, bias_frac, row_a, row_sh)
    out = int_array(x, "x", np.int32, shape=(rows, n_out)).copy()
    m = _ext()
    fn = m.lib.ftv_requant_add_fast if _impl(impl) == "fast" else m.lib.ftv_requant_add_ref
    p_acc, p_a, p_sh, p_mult, p_bias = _requant_ptrs(m.ffi, acc, mult, bias, row_a, row_sh)
    _call("requant_add", fn(_ptr(m.ffi, "int32_t", out), p_acc, p_a, p_sh, rows, n_out,
                            p_mult, per_row, p_bias, bias_frac))
    return out


def add_sat(x, y):
    """sat32(x + y) elementwise (int32 arrays of one shape)."""
    x = int_array(x, "x", np.int32).copy()
    y = int_array(y, "y", np.int32, shape=x.shape)
    m = _ext()
    _call("add_sat", m.lib.ftv_add_sat_ref(_ptr(m.ffi, "int32_t", x),
                                           _ptr(m.ffi, "int32_t", y), _dim(x.size, "x size")))
    return x


# ----------------------------------------------------------------- LayerNorm
def _norm_args(x, gamma, beta, mult2):
    x = int_array(x, "x", np.int32, ndim=2)
    rows, dim = _dim(x.shape[0], "x rows"), x.shape[1]
    max_dim = int(_ext().lib.FTV_MAX_DIM)
    if not 1 <= dim <= max_dim:
        raise ValueError(f"x: expected 1..{max_dim} columns (LayerNorm width), found {dim}")
    gamma = int_array(gamma, "gamma", np.int8).reshape(-1)
    beta = int_array(beta, "beta", np.int8).reshape(-1)
    for name, arr in (("gamma", gamma), ("beta", beta)):
        if arr.size != dim:
            raise ValueError(f"{name}: expected {dim} ternary codes, found {arr.size}")
    mult2 = int_array(mult2, "mult2", np.int32, shape=(2,))
    return x, rows, dim, gamma, beta, mult2


def layer_norm(x, gamma, beta, mult2):
    """TernaryLayerNorm of int32 rows x [R, D] -> x12 [R, D]."""
    x, rows, dim, gamma, beta, mult2 = _norm_args(x, gamma, beta, mult2)
    out = np.zeros_like(x)
    m = _ext()
    _call("layer_norm", m.lib.ftv_layer_norm_ref(
        _ptr(m.ffi, "int32_t", out), _ptr(m.ffi, "int32_t", x), rows, dim,
        _ptr(m.ffi, "int8_t", gamma), _ptr(m.ffi, "int8_t", beta),
        _ptr(m.ffi, "int32_t", mult2)))
    return out


def layer_norm_quantize(x, gamma, beta, mult2, impl: str = "fast"):
    """quantize_rows(layer_norm(x)) in one pass: (codes, a, sh)."""
    x, rows, dim, gamma, beta, mult2 = _norm_args(x, gamma, beta, mult2)
    codes = np.zeros((rows, dim), np.int8)
    a, sh = np.zeros(rows, np.int32), np.zeros(rows, np.int32)
    tmp = np.zeros(dim, np.int32)
    m = _ext()
    fn = (m.lib.ftv_layer_norm_quantize_fast if _impl(impl) == "fast"
          else m.lib.ftv_layer_norm_quantize_ref)
    _call("layer_norm_quantize", fn(
        _ptr(m.ffi, "int8_t", codes), _ptr(m.ffi, "int32_t", a), _ptr(m.ffi, "int32_t", sh),
        _ptr(m.ffi, "int32_t", x), rows, dim, _ptr(m.ffi, "int8_t", gamma),
        _ptr(m.ffi, "int8_t", beta), _ptr(m.ffi, "int32_t", mult2),
        _ptr(m.ffi, "int32_t", tmp)))
    return codes, a, sh


# --------------------------------------------------------------- GELU, softmax
def gelu(x, impl: str = "fast"):
    """GELU of x12 values (any shape) by table with interpolation."""
    x = int_array(x, "x", np.int32)
    out = np.zeros_like(x)
    m = _ext()
    fn = m.lib.ftv_gelu_fast if _impl(impl) == "fast" else m.lib.ftv_gelu_ref
    _call("gelu", fn(_ptr(m.ffi, "int32_t", out), _ptr(m.ffi, "int32_t", x),
                     _dim(x.size, "x size")))
    return out


def softmax_row(scores):
    """Probabilities (2^15 = 1) of one row of base-2 logits with 8 fraction bits."""
    scores = int_array(scores, "scores", np.int32, ndim=1)
    n_max = int(_ext().lib.FTV_MAX_TOKENS)
    if not 1 <= scores.size <= n_max:
        raise ValueError(f"scores: expected 1..{n_max} values, found {scores.size}")
    out = np.zeros_like(scores)
    m = _ext()
    _call("softmax_row", m.lib.ftv_softmax_row_ref(
        _ptr(m.ffi, "int32_t", out), _ptr(m.ffi, "int32_t", scores), scores.size))
    return out


# ------------------------------------------------------------------ attention
def attention(qkv, num_heads: int, logit_mult: int, impl: str = "fast"):
    """Multi-head attention of the qkv projection's output [N, 3D] -> x12 [N, D]."""
    qkv = int_array(qkv, "qkv", np.int32, ndim=2)
    n, three_d = qkv.shape
    num_heads = int_value(num_heads, "num_heads", 1, INT32_MAX)
    logit_mult = int_value(logit_mult, "logit_mult", INT32_MIN, INT32_MAX)
    if three_d == 0 or three_d % (3 * num_heads):
        raise ValueError(f"qkv: expected 3 * num_heads * head_dim columns "
                         f"(num_heads {num_heads}), found {three_d}")
    head_dim = three_d // (3 * num_heads)
    m = _ext()
    need = int(m.lib.ftv_attention_scratch_bytes(n, head_dim)) if n <= INT32_MAX else 0
    if need == 0:
        raise ValueError(f"qkv: {n} tokens of head width {head_dim} exceed the attention "
                         f"limits (1..{int(m.lib.FTV_MAX_TOKENS)} tokens, head width "
                         f"1..{int(m.lib.FTV_MAX_DIM)})")
    out = np.zeros((n, three_d // 3), np.int32)
    scratch = np.zeros(need, np.uint8)
    fn = m.lib.ftv_attention_fast if _impl(impl) == "fast" else m.lib.ftv_attention_ref
    _call("attention", fn(
        _ptr(m.ffi, "int32_t", out), _ptr(m.ffi, "int32_t", qkv), n, num_heads, head_dim,
        logit_mult, _ptr(m.ffi, "uint8_t", scratch), need))
    return out


# ------------------------------------------------------------ patch embedding
def patch_gather(image, input_lut, patch: int):
    """[tokens, C*P*P] int8 patch codes of a uint8 HWC image through the input table."""
    image = int_array(image, "image", np.uint8, ndim=3)
    h, w, c = image.shape
    if h != w or h == 0:
        raise ValueError(f"image: expected a square HWC image, found shape {image.shape}")
    patch = int_value(patch, "patch", 1, h)
    if h % patch:
        raise ValueError(f"patch: expected a divisor of the image size {h}, found {patch}")
    lut = int_array(input_lut, "input_lut", np.int8, shape=(c, 256))
    grid = h // patch
    codes = np.zeros((grid * grid, c * patch * patch), np.int8)
    m = _ext()
    _call("patch_gather", m.lib.ftv_patch_gather_ref(
        _ptr(m.ffi, "int8_t", codes), _ptr(m.ffi, "uint8_t", image),
        _ptr(m.ffi, "int8_t", lut), h, c, patch))
    return codes


def unpack_ternary(packed, n: int, layout: int):
    """int8 [n] weights of one packed ternary row (layout 2 = tern2, 3 = tern3)."""
    layout = int_value(layout, "layout", 2, 3)
    n = int_value(n, "n", 0, INT32_MAX)
    per_byte = 4 if layout == 2 else 5
    data = byte_buffer(packed, "packed", -(-n // per_byte))
    out = np.zeros(n, np.int8)
    m = _ext()
    _call("unpack_ternary", m.lib.ftv_unpack_ternary_ref(
        _ptr(m.ffi, "int8_t", out), _ptr(m.ffi, "uint8_t", data), n, layout))
    return out


# -------------------------------------------------------------- ternary matmul
def matmul(codes, packed, n_out: int, layout: int, impl: str = "ref", scratch_rows: int = 64):
    """acc int32 [T, n_out] = codes (int8 [T, K]) @ W.T for packed ternary W [n_out, K].
    impl: "ref" (decode each weight), "lut" (table kernel, scratch for scratch_rows rows)
    or "default" (the variant ftv_dispatch.h picks for the build)."""
    codes = int_array(codes, "codes", np.int8, ndim=2)
    n_tok, k = codes.shape
    layout = int_value(layout, "layout", 2, 3)
    n_out = int_value(n_out, "n_out", 0, INT32_MAX)
    m = _ext()
    max_k = int(m.lib.FTV_MATMUL_MAX_K)
    if k > max_k:
        raise ValueError(f"codes: expected at most {max_k} columns, found {k}")
    _dim(n_tok, "codes rows")
    per_byte = 4 if layout == 2 else 5
    w = byte_buffer(packed, "packed", n_out * -(-k // per_byte))
    out = np.zeros((n_tok, n_out), np.int32)
    args = (_ptr(m.ffi, "int8_t", codes), _ptr(m.ffi, "uint8_t", w),
            _ptr(m.ffi, "int32_t", out), n_tok, k, n_out)
    if impl == "ref":
        (m.lib.ftv_matmul_tern2_ref if layout == 2 else m.lib.ftv_matmul_tern3_ref)(*args)
    elif impl in ("lut", "default"):
        rows = int_value(scratch_rows, "scratch_rows", 1, INT32_MAX)
        lut = impl == "lut"
        need = int((m.lib.ftv_matmul_lut_scratch_bytes if lut else
                    m.lib.ftv_matmul_scratch_bytes)(layout, k, rows))
        scratch = np.zeros(max(need, 1), np.uint8)
        fn = {(True, 2): m.lib.ftv_matmul_tern2_lut, (True, 3): m.lib.ftv_matmul_tern3_lut,
              (False, 2): m.lib.ftv_matmul_tern2, (False, 3): m.lib.ftv_matmul_tern3}[lut, layout]
        _call("matmul", fn(*args, _ptr(m.ffi, "uint8_t", scratch), need))
    else:
        raise ValueError(f"impl: expected 'ref', 'lut' or 'default', found {impl!r}")
    return out
