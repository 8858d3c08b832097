"""CModel: one model file's tensors handed to the C forward pass (ftv_forward).

The packed ternary bytes are used in place (no unpacking); q16, multiplier and
table tensors become native-endian numpy arrays.  Every tensor is checked
against the deploy plan of the model's geometry before C sees a pointer.
"""
import threading
from typing import Dict, Optional

import numpy as np

from ..deploy_plan import Geometry, plan_tensors
from ..reference.model import check_image
from .build import CBackendUnavailable, load_extension
from .checks import byte_buffer, int_array, int_value

_GEOMETRY_FIELDS = ("img_size", "patch_size", "in_chans", "embed_dim", "depth", "num_heads",
                    "mlp_dim", "num_classes", "cls_pos", "layerscale")
_LAYOUTS = {"tern2": 2, "tern3": 3, 2: 2, 3: 3}
_KIND_DTYPE = {"q16": np.int16, "mult": np.int32, "i8": np.int8}


def _layout_code(layout) -> int:
    try:
        return _LAYOUTS[layout]
    except (KeyError, TypeError):
        raise ValueError(f"layout: expected 'tern2' or 'tern3', found {layout!r}") from None


def _packed_bytes(rows: int, cols: int, layout: int) -> int:
    return rows * -(-cols // (4 if layout == 2 else 5))


class CModel:
    """A model ready for the C runtime.  Build it with `from_ftv` or `from_integer_model`
    (or `ftervit.cbackend.load`); `forward(image)` returns the int32 x12 logits.

    `matmul_rows` sizes the scratch: weight rows per matmul block (<= 0, the default:
    whole matrices, fastest; the device uses small blocks to fit its SRAM)."""

    def __init__(self, geometry: Geometry, layout, attn_logit_mult: int,
                 tensors: Dict[str, object], frac_bits: Dict[str, int],
                 labels=None, extra_cflags=(), matmul_rows: int = 0):
        self.geometry = geometry
        self.layout = "tern2" if _layout_code(layout) == 2 else "tern3"
        self.labels = list(labels) if labels is not None else None
        self._module = load_extension(extra_cflags)
        ffi, lib = self._module.ffi, self._module.lib
        code = _layout_code(layout)
        attn_logit_mult = int_value(attn_logit_mult, "attn_logit_mult", -(1 << 31), (1 << 31) - 1)

        g = ffi.new("ftv_geometry_t *")
        for name in _GEOMETRY_FIELDS:
            setattr(g, name, int_value(int(getattr(geometry, name)), f"geometry.{name}",
                                       0, (1 << 31) - 1))
        g.layout, g.attn_logit_mult = code, attn_logit_mult
        rc = lib.ftv_check_geometry(g)
        if rc != 0:
            raise ValueError(f"geometry: {ffi.string(lib.ftv_strerror(rc)).decode()} "
                             f"({geometry})")

        self._arrays = {}
        self._frac = {}
        for planned in plan_tensors(geometry):
            name = planned.name
            if name not in tensors:
                raise ValueError(f"tensors: missing {name!r}")
            value = tensors[name]
            if planned.kind == "tern":
                rows, cols = planned.shape
                self._arrays[name] = byte_buffer(value, name, _packed_bytes(rows, cols, code))
            else:
                arr = int_array(value, name, _KIND_DTYPE[planned.kind])
                if arr.size != int(np.prod(planned.shape)):
                    raise ValueError(f"{name}: expected shape {planned.shape}, found "
                                     f"{np.shape(value)}")
                self._arrays[name] = arr.reshape(-1)
            if planned.kind == "q16":
                if name not in frac_bits:
                    raise ValueError(f"frac_bits: missing {name!r}")
                self._frac[name] = int_value(frac_bits[name], f"frac_bits[{name!r}]",
                                             -(1 << 20), 1 << 20)

        self._ffi, self._lib = ffi, lib
        self._geometry_c = g
        self._blocks = ffi.new("ftv_block_t[]", max(geometry.depth, 1))
        m = ffi.new("ftv_model_t *")
        m.geometry = g[0]
        m.input_lut = self._ptr("int8_t", "patch_embed.input_lut")
        self._fill_linear(m.patch_embed, "patch_embed.proj")
        m.cls_token, m.cls_frac = self._ptr("int16_t", "cls_token"), self._frac["cls_token"]
        m.pos_embed, m.pos_frac = self._ptr("int16_t", "pos_embed"), self._frac["pos_embed"]
        for i in range(geometry.depth):
            b, p = self._blocks[i], f"blocks.{i}"
            self._fill_norm(b.norm1, f"{p}.norm1")
            self._fill_linear(b.qkv, f"{p}.attn.qkv")
            self._fill_linear(b.proj, f"{p}.attn.proj")
            self._fill_norm(b.norm2, f"{p}.norm2")
            self._fill_linear(b.fc1, f"{p}.mlp.fc1")
            self._fill_linear(b.fc2, f"{p}.mlp.fc2")
        m.blocks = self._blocks
        self._fill_norm(m.norm, "norm")
        self._fill_linear(m.head, "head")
        self._model = m
        # matmul_rows <= 0: the matmul kernel gets whole weight matrices per block
        matmul_rows = int_value(matmul_rows, "matmul_rows", -(1 << 31), (1 << 31) - 1)
        self.scratch_bytes = int(lib.ftv_scratch_bytes_for(g, matmul_rows))
        if self.scratch_bytes == 0:
            raise ValueError(f"geometry: scratch size does not fit this machine ({geometry})")
        self._scratch = np.zeros(self.scratch_bytes, np.uint8)
        self._lock = threading.Lock()

    # ------------------------------------------------------------ builders
    @classmethod
    def from_ftv(cls, ftv, **options) -> "CModel":
        """From a read `.ftv` (ftervit.ftv.read_ftv): packed bytes as stored."""
        from ..runtime import ARITH_VERSION, check_runnable
        check_runnable(ftv)  # the numpy reference refuses the same files the same way
        built = int(load_extension(options.get("extra_cflags", ())).lib.FTV_ARITH_VERSION)
        if built != ARITH_VERSION:
            raise CBackendUnavailable(f"the C kernels implement arithmetic version {built}, "
                                      f"this ftervit {ARITH_VERSION}: rebuild them")
        config = ftv.config
        tensors, frac = {}, {}
        for name, record in ftv.tensors.items():
            if record.kind == "tern":
                tensors[name] = record.raw
            else:
                little = {"q16": "<i2", "mult": "<i4", "i8": "<i1"}[record.kind]
                tensors[name] = np.frombuffer(record.raw, little).reshape(record.shape)
                if record.kind == "q16":
                    frac[name] = record.frac_bits
        return cls(ftv.geometry, ftv.layout, config["attn_logit_mult"], tensors, frac,
                   labels=ftv.labels, **options)

    @classmethod
    def from_integer_model(cls, model, layout="tern3", **options) -> "CModel":
        """From an IntegerModel (ftervit.integerize): ternary matrices packed in `layout`."""
        from ..ftv.ternary_pack import pack_ternary
        code = _layout_code(layout)
        tensors = {}
        for planned in plan_tensors(model.geometry):
            value = model.tensors[planned.name]
            if planned.kind == "tern":
                value = pack_ternary(np.asarray(value).reshape(planned.shape), code, planned.name)
            tensors[planned.name] = value
        return cls(model.geometry, code, model.attn_logit_mult, tensors, model.frac_bits,
                   labels=model.labels, **options)

    # -------------------------------------------------------------- helpers
    def _ptr(self, ctype: str, name: str):
        return self._ffi.cast(ctype + " *", self._arrays[name].ctypes.data)

    def _fill_linear(self, lin, prefix: str):
        lin.weight = self._ptr("uint8_t", f"{prefix}.weight")
        lin.mult = self._ptr("int32_t", f"{prefix}.mult")
        lin.bias = self._ptr("int16_t", f"{prefix}.bias")
        lin.bias_frac = self._frac[f"{prefix}.bias"]

    def _fill_norm(self, norm, prefix: str):
        norm.weight = self._ptr("uint8_t", f"{prefix}.weight")
        norm.bias = self._ptr("uint8_t", f"{prefix}.bias")
        norm.mult = self._ptr("int32_t", f"{prefix}.mult")

    # -------------------------------------------------------------- running
    def forward(self, image) -> np.ndarray:
        """int32 x12 logits [num_classes] of one uint8 HWC image (real logit = v / 4096)."""
        check_image(self.geometry, image)
        image = np.ascontiguousarray(image)
        logits = np.zeros(self.geometry.num_classes, np.int32)
        ffi = self._ffi
        with self._lock:
            rc = self._lib.ftv_forward(self._model, ffi.cast("uint8_t *", image.ctypes.data),
                                       ffi.cast("int32_t *", logits.ctypes.data),
                                       ffi.cast("void *", self._scratch.ctypes.data),
                                       self.scratch_bytes)
        if rc != 0:
            raise RuntimeError(f"ftv_forward: {ffi.string(self._lib.ftv_strerror(rc)).decode()}"
                               f" (code {rc})")
        return logits

    __call__ = forward

    def __repr__(self) -> str:
        g = self.geometry
        return (f"CModel({g.img_size}px/{g.patch_size}, D={g.embed_dim}, depth={g.depth}, "
                f"heads={g.num_heads}, classes={g.num_classes}, {self.layout})")


def load(source, layout: Optional[str] = None, **options) -> CModel:
    """A CModel from a `.ftv` path or bytes, a read FtvModel, or an IntegerModel
    (`layout` picks its packing, default tern3).  `options`: CModel's keyword
    arguments (matmul_rows, extra_cflags)."""
    from ..reference.model import IntegerModel
    if isinstance(source, CModel):
        return source
    if isinstance(source, IntegerModel):
        return CModel.from_integer_model(source, layout or "tern3", **options)
    if hasattr(source, "tensors") and hasattr(source, "config") and hasattr(source, "layout"):
        return CModel.from_ftv(source, **options)
    from ..ftv import read_ftv
    return CModel.from_ftv(read_ftv(source), **options)
