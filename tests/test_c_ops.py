"""Every C operator equals the numpy reference operator bit for bit, and every
optimized (`fast`) operator equals its `ref` twin, on random inputs of odd,
prime and unit sizes with extremes: +-(2^31 - 1), zero rows, constant rows,
multipliers of any mantissa and shift (negative shifts included)."""
import math

import numpy as np
import pytest
from c_backend_util import INT32_MAX, c_ops, mult_words, ternary, x12_values

from ftervit.ftv.ternary_pack import pack_ternary, unpack_ternary
from ftervit.integerize import attn_logit_mult
from ftervit.reference import fixed_point as fp
from ftervit.reference import ops as ref

SHAPES = [(1, 1), (1, 2), (2, 7), (3, 13), (5, 31), (4, 97), (11, 191), (1, 384)]
KINDS = ["small", "wide", "full", "extreme", "zero", "mixed"]


@pytest.fixture(scope="module")
def cops():
    return c_ops()


def _eq(got, want):
    got, want = np.asarray(got, np.int64), np.asarray(want, np.int64)
    assert got.shape == want.shape
    bad = np.argwhere(got != want)
    assert bad.size == 0, f"{len(bad)} mismatches, first at {bad[0]}: {got[tuple(bad[0])]} " \
                          f"vs {want[tuple(bad[0])]}"


# ------------------------------------------------------------------ primitives
def test_round_shift_and_sat32_match_the_reference(cops):
    rng = np.random.default_rng(1)
    values = [0, 1, -1, 2, -2, 3, -3, (1 << 62), -(1 << 62), (1 << 63) - 1, -(1 << 63)]
    values += [int(v) for v in rng.integers(-(1 << 63), (1 << 63) - 1, 60, endpoint=True)]
    values += [int(v) for v in rng.integers(-(1 << 40), 1 << 40, 60)]
    shifts = [-70, -64, -63, -20, -1, 0, 1, 2, 12, 23, 31, 62, 63, 64, 65, 100, 255]
    for v in values:
        want = [int(x) for x in fp.round_shift(np.full(len(shifts), v), np.array(shifts))]
        assert [cops.round_shift(v, s) for s in shifts] == want, v
        assert cops.sat32(v) == int(fp.saturate32(v))


def test_isqrt64_is_floor_sqrt(cops):
    rng = np.random.default_rng(2)
    cases = [0, 1, 2, 3, 4, 15, 16, 17, (1 << 64) - 1, (1 << 62), (1 << 32) ** 2 - 1]
    cases += [k * k + d for k in (1, 3, 65535, 4294967295, 3037000499) for d in (-1, 0, 1)
              if 0 <= k * k + d < 1 << 64]
    cases += [int(v) for v in rng.integers(0, 1 << 63, 200, dtype=np.uint64)]
    for v in cases:
        assert cops.isqrt64(v) == math.isqrt(v), v



def test_udiv64_is_floor_division(cops):
    rng = np.random.default_rng(5)
    nums = [0, 1, 2, 3, (1 << 32) - 1, 1 << 32, (1 << 32) + 1, (1 << 63), (1 << 64) - 1,
            (1 << 64) - 2, 127 << 23, 1 << 46]
    dens = [1, 2, 3, 7, (1 << 16) - 1, 1 << 16, (1 << 31) - 1, 1 << 31, (1 << 31) + 1,
            (1 << 32) - 1, (1 << 32) - 2]
    cases = [(n, d) for n in nums for d in dens]
    for _ in range(3000):
        n = int(rng.integers(0, 1 << 63, dtype=np.uint64)) * 2 + int(rng.integers(0, 2))
        d = int(rng.integers(1, 1 << 32, dtype=np.uint64))
        n >>= int(rng.integers(0, 65))
        d = max(d >> int(rng.integers(0, 32)), 1)
        cases += [(n, d), (n, d + 1 if d < (1 << 32) - 1 else d), (d * (n >> 32), d)]
    for n, d in cases:
        n &= (1 << 64) - 1
        assert cops.udiv64(n, d) == n // d, (n, d)

# ------------------------------------------------------ activation quantization
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", KINDS)
def test_quantize_rows(cops, shape, kind):
    x = x12_values(np.random.default_rng(hash((shape, kind)) & 0xFFFF), shape, kind)
    want = ref.quantize_rows(x)
    for impl in ("ref", "fast"):
        got = cops.quantize_rows(x, impl=impl)
        for g, w in zip(got, want):
            _eq(g, w)


def test_quantize_rows_of_int32_min(cops):
    x = np.array([[-(1 << 31), 5, -7], [-(1 << 31), -(1 << 31), 0]], np.int32)
    want = ref.quantize_rows(x)
    for impl in ("ref", "fast"):
        for g, w in zip(cops.quantize_rows(x, impl=impl), want):
            _eq(g, w)


@pytest.mark.parametrize("shape", SHAPES + [(197, 64)])
@pytest.mark.parametrize("kind", KINDS)
def test_quantize_block(cops, shape, kind):
    x = x12_values(np.random.default_rng(7 + len(kind) * shape[1]), shape, kind)
    codes, a, sh = cops.quantize_block(x)
    w_codes, w_a, w_sh = ref.quantize_block(x)
    _eq(codes, w_codes)
    assert (a, sh) == (w_a, w_sh)


# ------------------------------------------------------------- linear layers
def _requant_reference(acc, mult, bias, frac, a=None, sh=None):
    """The requantization lines of ops.linear / ops.patch_embed, on given sums."""
    acc = np.asarray(acc, np.int64)
    m, s = fp.decode_mult(np.asarray(mult, np.int64))
    bias_x12 = fp.q16_to_x12(bias, frac)
    if a is None:
        y = fp.round_shift(acc * m[None, :], s[None, :] - fp.FRAC_BITS)
    else:
        a, sh = np.asarray(a, np.int64), np.asarray(sh, np.int64)
        y = fp.round_shift(acc * a[:, None] * m[None, :], s[None, :] - sh[:, None])
    return fp.saturate32(y + bias_x12[None, :])


@pytest.mark.parametrize("layout", [2, 3])
@pytest.mark.parametrize("rows,k,n_out", [(1, 1, 1), (3, 7, 5), (5, 36, 100), (11, 97, 13),
                                          (2, 191, 1), (7, 5, 3)])
def test_linear_equals_reference_linear(cops, layout, rows, k, n_out):
    rng = np.random.default_rng(rows * 1000 + k * 10 + n_out + layout)
    x = x12_values(rng, (rows, k), "mixed")
    w = ternary(rng, (n_out, k))
    packed = pack_ternary(w, layout)
    for mult_kind, per_row in (("packed", False), ("packed", True), ("any", True)):
        mult = mult_words(rng, n_out if per_row else 1, mult_kind)
        bias = rng.integers(-32767, 32768, n_out).astype(np.int16)
        frac = int(rng.integers(-16, 41))
        want = ref.linear(x, w, mult, fp.q16_to_x12(bias, frac))
        codes, a, sh = cops.quantize_rows(x)
        acc = cops.matmul(codes, packed, n_out, layout)
        for impl in ("ref", "fast"):
            _eq(cops.requant(acc, mult, bias, frac, a, sh, impl=impl), want)
            resid = x12_values(rng, (rows, n_out), "mixed")
            _eq(cops.requant_add(resid, acc, mult, bias, frac, a, sh, impl=impl),
                fp.saturate32(resid + want))


@pytest.mark.parametrize("mult_kind", ["packed", "any", "big", "small"])
@pytest.mark.parametrize("per_row", [False, True])
def test_requant_extremes_fast_equals_ref(cops, mult_kind, per_row):
    rng = np.random.default_rng(len(mult_kind) + per_row)
    rows, n_out = 9, 23
    acc = x12_values(rng, (rows, n_out), "mixed")
    mult = mult_words(rng, n_out if per_row else 1, mult_kind)
    a = rng.integers(0, 1 << 16, rows).astype(np.int32)
    sh = rng.integers(0, 17, rows).astype(np.int32)
    bias = rng.integers(-32768, 32768, n_out).astype(np.int16)
    for frac in (-31, -16, 0, 12, 13, 31, 40):
        resid = x12_values(rng, (rows, n_out), "extreme")
        _check_requant(cops, acc, mult, bias, frac, a, sh, resid)


def _check_requant(cops, acc, mult, bias, frac, a, sh, resid):
    """requant with row scales and without, and requant_add: ref == fast == numpy."""
    want = _requant_reference(acc, mult, bias, frac, a, sh)
    want_static = _requant_reference(acc, mult, bias, frac)
    for impl in ("ref", "fast"):
        _eq(cops.requant(acc, mult, bias, frac, a, sh, impl=impl), want)
        _eq(cops.requant(acc, mult, bias, frac, impl=impl), want_static)
        _eq(cops.requant_add(resid, acc, mult, bias, frac, a, sh, impl=impl),
            fp.saturate32(resid.astype(np.int64) + want))


@pytest.mark.parametrize("per_row", [False, True])
def test_requant_fast_paths_at_their_edges(cops, per_row):
    """Accumulators around +-2^15 (the 32-bit path's limit) and at +-(2^31 - 1),
    mantissas up to +-2^15 and just beyond, every row scale 0 .. 2^16 - 1 and
    effective shifts s - sh from -16 to 255, bias shifts on and off the
    32-bit range: fast == ref == numpy."""
    rng = np.random.default_rng(11 + per_row)
    rows, n_out = 24, 41
    edge = np.array([0, 1, -1, 32767, -32767, 32768, -32768, 32769, -32769, 65535, -65536,
                     INT32_MAX, -INT32_MAX], np.int64)
    acc = rng.integers(-40000, 40001, (rows, n_out))
    pick = rng.random((rows, n_out)) < 0.25
    acc[pick] = rng.choice(edge, int(pick.sum()))
    acc = acc.astype(np.int32)
    n_mult = n_out if per_row else 1
    for trial in range(12):
        m = rng.integers(-32768, 32769, n_mult)
        m[rng.random(n_mult) < 0.2] = rng.choice([32768, -32768, 32767, -32767, 32769, -32769,
                                                  (1 << 23) - 1, -(1 << 23)])
        s = rng.integers(0, 64, n_mult) if trial % 3 else rng.integers(0, 256, n_mult)
        mult = ((m << 8) | s).astype(np.int32)
        a = rng.integers(0, 1 << 16, rows)
        a[:3] = [0, 1, 65535]
        a = a.astype(np.int32)
        sh = rng.integers(0, 17, rows).astype(np.int32)
        bias = rng.integers(-32768, 32768, n_out).astype(np.int16)
        bias[:2] = [-32768, 32767]
        frac = int(rng.integers(-8, 48))
        if trial % 4 == 1:  # every word in the 32-bit row loops' range (17 <= s - sh <= 63)
            m = np.clip(m, -32768, 32768)
            mult = ((m << 8) | rng.integers(33, 64, n_mult)).astype(np.int32)
            frac = int(rng.integers(12, 44))
        resid = x12_values(rng, (rows, n_out), "mixed")
        _check_requant(cops, acc, mult, bias, frac, a, sh, resid)
        no_bias = _requant_reference(acc, mult, np.zeros(n_out, np.int16), 0, a, sh)
        for impl in ("ref", "fast"):
            _eq(cops.requant(acc, mult, None, 0, a, sh, impl=impl), no_bias)


def test_requant_without_bias(cops):
    rng = np.random.default_rng(3)
    acc = x12_values(rng, (4, 6), "wide")
    mult = mult_words(rng, 6, "packed")
    want = _requant_reference(acc, mult, np.zeros(6, np.int16), 0)
    for impl in ("ref", "fast"):
        _eq(cops.requant(acc, mult, None, 0, impl=impl), want)


def test_add_sat(cops):
    rng = np.random.default_rng(4)
    for kind in ("full", "extreme", "mixed"):
        x, y = x12_values(rng, (5, 17), kind), x12_values(rng, (5, 17), kind)
        _eq(cops.add_sat(x, y), fp.saturate32(x.astype(np.int64) + y))


# ------------------------------------------------------------------ LayerNorm
NORM_SHAPES = [(1, 1), (2, 2), (3, 7), (4, 36), (5, 97), (3, 192), (2, 384), (1, 1031)]


def _check_layer_norm(cops, x, gamma, beta, mult2):
    """C LayerNorm == numpy, and LayerNorm + quantize (ref and fast) == numpy's two steps."""
    want = ref.layer_norm(x, gamma, beta, mult2)
    _eq(cops.layer_norm(x, gamma, beta, mult2), want)
    w_codes, w_a, w_sh = ref.quantize_rows(want)
    for impl in ("ref", "fast"):
        codes, a, sh = cops.layer_norm_quantize(x, gamma, beta, mult2, impl=impl)
        _eq(codes, w_codes)
        _eq(a, w_a)
        _eq(sh, w_sh)


@pytest.mark.parametrize("shape", NORM_SHAPES)
@pytest.mark.parametrize("kind", KINDS + ["constant"])
def test_layer_norm(cops, shape, kind):
    rng = np.random.default_rng(shape[1] * 31 + len(kind))
    if kind == "constant":  # zero variance: every row all-equal
        x = np.repeat(x12_values(rng, (shape[0], 1), "mixed"), shape[1], axis=1)
    else:
        x = x12_values(rng, shape, kind)
    gamma, beta = ternary(rng, (1, shape[1])), ternary(rng, (1, shape[1]))
    for mult_kind in ("packed", "any", "big", "small"):
        mult2 = mult_words(rng, 2, mult_kind)
        _check_layer_norm(cops, x, gamma, beta, mult2)



def _norm_rows(rng, dim):
    """LayerNorm rows that reach every branch of the fast row: outliers, tiny
    and zero variance, ranges just below and above 2^31, the int32 extremes."""
    base = rng.integers(-3000, 3001, dim)
    rows = [base, np.zeros(dim, np.int64), np.full(dim, INT32_MAX), np.full(dim, -INT32_MAX),
            np.full(dim, -(1 << 31)), base * 0 + 5 + (np.arange(dim) % 2),
            rng.integers(-INT32_MAX, INT32_MAX, dim, endpoint=True),
            rng.integers(-(1 << 16), 1 << 16, dim), rng.integers(-40, 41, dim) + 123456]
    for spike in (INT32_MAX, -INT32_MAX, 1 << 20, -(1 << 31), 1 << 30):
        r = base.copy()
        r[int(rng.integers(0, dim))] = spike
        rows.append(r)
    for span in ((1 << 31) - 1, 1 << 31, (1 << 31) + 1):
        lo = -int(rng.integers(0, 1 << 30))
        r = rng.integers(lo, lo + span, dim)
        r[0], r[-1] = lo, lo + span - 1 if dim > 1 else lo
        rows.append(r)
    return np.clip(np.stack(rows), -(1 << 31), INT32_MAX).astype(np.int32)


@pytest.mark.parametrize("dim", [1, 2, 3, 5, 64, 97, 384, 385])
def test_layer_norm_quantize_fast_paths(cops, dim):
    """fast == ref == numpy on rows and multipliers at the 32-bit row's edges:
    gamma mantissas to +-2^15 and beyond, gamma shifts 0 .. 255, beta shifts
    that make the beta term overflow int32."""
    rng = np.random.default_rng(dim)
    x = _norm_rows(rng, dim)
    for trial in range(10):
        gamma, beta = ternary(rng, (1, dim), 0.2), ternary(rng, (1, dim), 0.2)
        mg = int(rng.choice([int(rng.integers(1 << 14, (1 << 15) + 1)), 32768, -32768,
                             32769, -int(rng.integers(1, 1 << 15)), (1 << 23) - 1]))
        mb = int(rng.integers(-(1 << 23), 1 << 23))
        sg = int(rng.integers(0, 64)) if trial % 3 else int(rng.integers(0, 256))
        sb = int(rng.integers(0, 256)) if trial % 2 else int(rng.integers(0, 40))
        mult2 = np.array([(mg << 8) | sg, (mb << 8) | sb], np.int64).astype(np.int32)
        _check_layer_norm(cops, x, gamma, beta, mult2)

# ----------------------------------------------------------------------- GELU
def test_gelu_everywhere_on_the_table_and_beyond(cops):
    rng = np.random.default_rng(5)
    lo = -fp.GELU_RANGE << fp.FRAC_BITS
    dense = np.arange(lo - 70, -lo + 70, dtype=np.int32)
    x = np.concatenate([dense, x12_values(rng, 4000, "full"), x12_values(rng, 100, "extreme"),
                        np.array([-(1 << 31)], np.int32)])
    for impl in ("ref", "fast"):
        _eq(cops.gelu(x, impl=impl), ref.gelu(x))
        _eq(cops.gelu(x.reshape(1, -1)[:, :7], impl=impl), ref.gelu(x[:7]).reshape(1, -1))


# ------------------------------------------------------------------ attention
@pytest.mark.parametrize("n", [1, 2, 3, 17, 197, 1000])
@pytest.mark.parametrize("kind", ["small", "full", "extreme", "constant"])
def test_softmax_row(cops, n, kind):
    rng = np.random.default_rng(n + len(kind))
    if kind == "constant":
        scores = np.full(n, int(rng.integers(-INT32_MAX, INT32_MAX)), np.int32)
    elif kind == "small":
        scores = rng.integers(-(16 << 8), 16 << 8, n).astype(np.int32)
    else:
        scores = x12_values(rng, n, kind)
    _eq(cops.softmax_row(scores), ref.softmax_row(scores))


@pytest.mark.parametrize("n,heads,hd", [(1, 1, 1), (2, 1, 3), (7, 3, 5), (13, 2, 16),
                                        (50, 3, 64), (5, 4, 9), (4, 1, 2), (9, 2, 1),
                                        (6, 2, 7), (3, 1, 130), (197, 1, 64)])
@pytest.mark.parametrize("kind", ["wide", "small", "extreme", "mixed", "zero"])
def test_attention(cops, n, heads, hd, kind):
    rng = np.random.default_rng(n * 100 + heads * 10 + hd)
    qkv = x12_values(rng, (n, 3 * heads * hd), kind if kind != "mixed" else "full")
    if kind == "mixed":  # some heads' K or V entirely zero
        qkv[:, heads * hd:heads * hd + hd] = 0
        qkv[:, -hd:] = 0
    for logit_mult in (attn_logit_mult(hd), int(mult_words(rng, 1, "any")[0]),
                       int(mult_words(rng, 1, "big")[0])):
        want = ref.attention(qkv, heads, logit_mult)
        for impl in ("ref", "fast"):
            _eq(cops.attention(qkv, heads, logit_mult, impl=impl), want)


@pytest.mark.parametrize("n,heads,hd", [(1, 1, 1), (1, 2, 64), (2, 1, 3), (5, 1, 130),
                                        (6, 1, 131), (9, 2, 7), (4, 1, 64), (13, 1, 33)])
def test_attention_scaling_paths(cops, n, heads, hd):
    """Score and output scaling of the fast attention across its paths: logit shifts
    from below 17 to above 47 (each score shift once, with the row and block shifts of
    Q, K, V magnitudes from 1 to 2^31 - 1), tiny to 24-bit mantissas, negative ones,
    rows of different magnitudes in one head."""
    rng = np.random.default_rng(9000 + n * 131 + heads * 7 + hd)
    mags = [1, 127, 1 << 12, 1 << 16, (1 << 17) + 1, 1 << 21, 1 << 26, INT32_MAX]
    cases = []
    for mag in mags:
        qkv = rng.integers(-mag, mag, (n, 3 * heads * hd), endpoint=True).astype(np.int32)
        qkv[0, ::2] = mag
        qkv[-1, 1::3] = -mag
        cases.append(qkv)
    rows = np.array([mags[i % len(mags)] for i in range(n)], np.int64)[:, None]
    cases.append((rng.integers(-(1 << 20), 1 << 20, (n, 3 * heads * hd), endpoint=True)
                  * rows >> 20).astype(np.int32))
    mants = [1, 3, 1 << 14, 1 << 15, (1 << 23) - 1, -(1 << 14), 0]
    for qkv in cases:
        shifts = list(rng.choice(np.arange(0, 70), 8, replace=False)) + [16, 17, 31, 32, 47, 48]
        for m in mants:
            for sl in shifts:
                logit_mult = int((m << 8) | int(sl))
                want = ref.attention(qkv, heads, logit_mult)
                for impl in ("ref", "fast"):
                    _eq(cops.attention(qkv, heads, logit_mult, impl=impl), want)


# ------------------------------------------------------------ patch embedding
@pytest.mark.parametrize("img,chans,patch", [(1, 1, 1), (6, 3, 3), (28, 1, 4), (32, 3, 8),
                                             (10, 2, 5), (7, 3, 7)])
def test_patch_gather_and_embed(cops, img, chans, patch):
    rng = np.random.default_rng(img * 10 + chans + patch)
    image = rng.integers(0, 256, (img, img, chans), dtype=np.uint8)
    lut = rng.integers(-127, 128, (chans, 256)).astype(np.int8)
    codes = cops.patch_gather(image, lut, patch)
    _eq(codes, ref.patches(ref.image_codes(image, lut), patch))
    dim = 13
    w = ternary(rng, (dim, chans * patch * patch))
    mult = mult_words(rng, dim, "packed")
    bias = rng.integers(-32767, 32768, dim).astype(np.int16)
    want = ref.patch_embed(image, lut, w, mult, fp.q16_to_x12(bias, 9), patch)
    acc = cops.matmul(codes, pack_ternary(w, 3), dim, 3)
    for impl in ("ref", "fast"):
        _eq(cops.requant(acc, mult, bias, 9, impl=impl), want)


# -------------------------------------------------------------- ternary rows
@pytest.mark.parametrize("layout", [2, 3])
def test_unpack_ternary_every_byte(cops, layout):
    per_byte = 4 if layout == 2 else 5
    valid = [b for b in range(256) if layout == 3 and b < 243
             or layout == 2 and all((b >> (2 * i)) & 3 != 3 for i in range(4))]
    packed = np.array(valid, np.uint8)
    n = len(valid) * per_byte
    _eq(cops.unpack_ternary(packed, n, layout), unpack_ternary(packed.tobytes(), 1, n, layout)[0])
    rng = np.random.default_rng(layout)
    for n in (1, 2, 4, 5, 6, 37):
        row = ternary(rng, (1, n))
        _eq(cops.unpack_ternary(pack_ternary(row, layout), n, layout), row[0])
