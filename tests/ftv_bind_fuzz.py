"""Fuzz ftv_bind through cffi (run by tests/test_ftv_bind.py in a child Python whose
extension is built with ASan/UBSan): every mutant of tests/ftv_mutants.py is bound from
a buffer of exactly its size; a bound model must point inside the buffer and run
ftv_forward on exact-size image, logits and scratch buffers.

    python tests/ftv_bind_fuzz.py COUNT SEED     prints "fuzz: N mutants, B bound, R refused"
"""
import sys

import numpy as np

from ftv_mutants import mutants
from ftervit.cbackend import load_extension


def pointers(ffi, bound):
    """Every tensor pointer of a bound model (the blocks it has), labels and golden."""
    m = bound.model
    out = [m.input_lut, m.cls_token, m.pos_embed]
    linears = [m.patch_embed, m.head]
    norms = [m.norm]
    for i in range(m.geometry.depth):
        b = bound.blocks[i]
        linears += [b.qkv, b.proj, b.fc1, b.fc2]
        norms += [b.norm1, b.norm2]
    out += [p for lin in linears for p in (lin.weight, lin.mult, lin.bias)]
    out += [p for nm in norms for p in (nm.weight, nm.bias, nm.mult)]
    out += [p for p in (bound.labels, bound.golden_image, bound.golden_logits) if p != ffi.NULL]
    return [int(ffi.cast("uintptr_t", p)) for p in out]


def bound_bytes(ffi, room: int) -> int:
    """FTV_BOUND_BYTES(room): an ftv_bound_t with room for `room` blocks."""
    return ffi.offsetof("ftv_bound_t", "blocks") + room * ffi.sizeof("ftv_block_t")


def check_sized(ffi, lib, data, base, rc_full, full, room):
    """ftv_bind_sized into a buffer of exactly FTV_BOUND_BYTES(room) (ASan guards its
    end) answers as ftv_bind does, or FTV_BIND_ERR_DEPTH for a model deeper than room."""
    out = np.empty(bound_bytes(ffi, room), np.uint8)
    sized = ffi.cast("ftv_bound_t *", out.ctypes.data)
    rc = lib.ftv_bind_sized(sized, out.nbytes, ffi.cast("uint8_t *", base), len(data),
                            lib.FTV_BIND_CHECK_ALL)
    depth = full.model.geometry.depth if rc_full == lib.FTV_OK else None
    if rc_full == lib.FTV_OK and depth > room:
        assert rc == lib.FTV_BIND_ERR_DEPTH, (rc, depth, room)
    elif rc != rc_full:
        assert rc == lib.FTV_BIND_ERR_DEPTH and rc_full in (
            lib.FTV_BIND_ERR_DEPTH, lib.FTV_BIND_ERR_GEOMETRY), (rc, rc_full, room)
    elif rc == lib.FTV_OK:
        assert pointers(ffi, sized) == pointers(ffi, full)


def run(count: int, seed: int) -> str:
    module = load_extension()
    ffi, lib = module.ffi, module.lib
    rng = np.random.default_rng(seed)
    bound_n = refused = 0
    for _, data in mutants(count, seed):
        buf = np.empty(len(data), np.uint8)         # exactly the file: ASan guards its end
        buf[:] = np.frombuffer(data, np.uint8)
        base = buf.ctypes.data
        assert base % 16 == 0, "numpy gave an unaligned buffer"
        bound = ffi.new("ftv_bound_t *")
        rc = lib.ftv_bind(bound, ffi.cast("uint8_t *", base), len(data), lib.FTV_BIND_CHECK_ALL)
        check_sized(ffi, lib, data, base, rc, bound, int(rng.integers(0, 4)))
        if rc != lib.FTV_OK:
            refused += 1
            assert rc < 0 and ffi.string(lib.ftv_bind_strerror(rc)), rc
            continue
        bound_n += 1
        bad = [p for p in pointers(ffi, bound) if not base <= p < base + len(data)]
        assert not bad, f"pointers outside the {len(data)}-byte buffer at {base:#x}: {bad}"
        g = bound.model.geometry
        image = rng.integers(0, 256, g.img_size * g.img_size * g.in_chans, dtype=np.uint8)
        logits = np.empty(g.num_classes, np.int32)
        scratch = np.empty(bound.scratch_bytes, np.uint8)
        rc = lib.ftv_forward(ffi.addressof(bound[0], "model"),
                             ffi.cast("uint8_t *", image.ctypes.data),
                             ffi.cast("int32_t *", logits.ctypes.data),
                             ffi.cast("void *", scratch.ctypes.data), bound.scratch_bytes)
        assert rc == lib.FTV_OK, f"ftv_forward on a bound mutant returned {rc}"
    return f"fuzz: {count} mutants, {bound_n} bound, {refused} refused"


if __name__ == "__main__":
    print(run(int(sys.argv[1]), int(sys.argv[2])))
