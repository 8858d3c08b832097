"""CModel: one `.ftv` model file bound by the C binder (ftv_bind) and run by ftv_forward.

Every way in ends in the bytes of one file: a path or bytes are bound as they are; an
FtvModel, an IntegerModel or loose tensors are encoded by the writer first.  ftv_bind
checks the file (docs/format.md section 9, in the reader's order) and points the
model's tensors into it, used in place: the same walk the Xtensa harness and the
MicroPython module run.  A malformed file gets the reader's FtvFormatError, a file this
runtime cannot run a ValueError naming the config field.
"""
import os
import threading
from typing import Dict, Optional

import numpy as np

from ..deploy_plan import Geometry, plan_tensors
from ..ftv.spec import CONFIG_FIELDS, HEADER
from ..ftv.writer import Packed, encode_ftv
from ..reference.fixed_point import FRAC_BITS
from ..reference.model import check_image
from .bind import aligned_bytes, bind_file, refusal
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


def _config_values(data) -> dict:
    """The file's raw config fields by name (for messages; unchecked)."""
    out = {}
    for i, field in enumerate(CONFIG_FIELDS):
        at = HEADER.size + 4 * i
        if len(data) >= at + 4:
            out[field.name] = int.from_bytes(bytes(data[at:at + 4]), "little", signed=True)
    return out


class CModel:
    """A model ready for the C runtime.  Build it with `from_bytes`, `from_ftv` or
    `from_integer_model` (or `ftervit.cbackend.load`); `forward(image)` returns the int32
    x12 logits.  `CModel(geometry, layout, attn_logit_mult, tensors, frac_bits)` takes
    loose tensors (ternary ones packed in `layout`), checked and encoded to a file.

    `matmul_rows` sizes the scratch: weight rows per matmul block (<= 0, the default:
    whole matrices, fastest; the device uses small blocks to fit its SRAM)."""

    def __init__(self, geometry: Geometry, layout, attn_logit_mult: int,
                 tensors: Dict[str, object], frac_bits: Dict[str, int],
                 labels=None, extra_cflags=(), matmul_rows: int = 0):
        code = _layout_code(layout)
        attn_logit_mult = int_value(attn_logit_mult, "attn_logit_mult", -(1 << 31), (1 << 31) - 1)
        for name in _GEOMETRY_FIELDS:
            int_value(int(getattr(geometry, name)), f"geometry.{name}", 0, (1 << 31) - 1)
        implemented = int(load_extension(extra_cflags).lib.FTV_ARITH_VERSION)
        data = encode_ftv(geometry, code, attn_logit_mult, FRAC_BITS,
                          _writer_tensors(geometry, code, tensors, frac_bits), labels=labels,
                          arith_version=implemented)
        self._bind(data, extra_cflags, matmul_rows)

    # ------------------------------------------------------------ builders
    @classmethod
    def from_bytes(cls, data, extra_cflags=(), matmul_rows: int = 0) -> "CModel":
        """From the bytes of a whole `.ftv` file (bytes, bytearray, memoryview): bound in
        place by ftv_bind, every check of the format and the runtime's limits applied."""
        if not isinstance(data, bytes):
            data = bytes(data)  # owned and immutable: the model points into it
        model = cls.__new__(cls)
        model._bind(data, extra_cflags, matmul_rows)
        return model

    @classmethod
    def from_ftv(cls, ftv, **options) -> "CModel":
        """From a read `.ftv` (ftervit.ftv.read_ftv), encoded again with its packed bytes."""
        from ..runtime import ARITH_VERSION, check_runnable
        check_runnable(ftv)  # the numpy reference refuses the same files the same way
        built = int(load_extension(options.get("extra_cflags", ())).lib.FTV_ARITH_VERSION)
        if built != ARITH_VERSION:
            raise CBackendUnavailable(f"the C kernels implement arithmetic version {built}, "
                                      f"this ftervit {ARITH_VERSION}: rebuild them")
        config = ftv.config
        tensors = {}
        for name, record in ftv.tensors.items():
            if record.kind == "tern":
                tensors[name] = Packed(record.raw)
            elif record.kind == "q16":
                tensors[name] = (record.values(), record.frac_bits)
            else:
                tensors[name] = record.values()
        data = encode_ftv(ftv.geometry, ftv.layout, config["attn_logit_mult"],
                          config["residual_frac_bits"], tensors, labels=ftv.labels,
                          golden=ftv.golden, arith_version=config["arith_version"])
        return cls.from_bytes(data, **options)

    @classmethod
    def from_integer_model(cls, model, layout="tern3", **options) -> "CModel":
        """From an IntegerModel (ftervit.integerize): ternary matrices packed in `layout`."""
        code = _layout_code(layout)
        tensors = {}
        for planned in plan_tensors(model.geometry):
            value = model.tensors[planned.name]
            if planned.kind == "q16":
                value = (value, model.frac_bits[planned.name])
            tensors[planned.name] = value
        implemented = int(load_extension(options.get("extra_cflags", ())).lib.FTV_ARITH_VERSION)
        data = encode_ftv(model.geometry, code, model.attn_logit_mult, FRAC_BITS, tensors,
                          labels=model.labels, arith_version=implemented)
        return cls.from_bytes(data, **options)

    # ------------------------------------------------------------- binding
    def _bind(self, data: bytes, extra_cflags, matmul_rows) -> None:
        module = load_extension(extra_cflags)
        ffi, lib = module.ffi, module.lib
        buf = aligned_bytes(data)
        rc, bound = bind_file(module, buf, lib.FTV_BIND_CHECK_ALL)
        if rc != lib.FTV_OK:
            raise refusal(module, rc, bound.error_index, data, int(lib.FTV_ARITH_VERSION),
                          _config_values(data))
        g = bound.model.geometry
        self.geometry = Geometry(**{k: (bool if k in ("cls_pos", "layerscale") else int)(
            getattr(g, k)) for k in _GEOMETRY_FIELDS})
        self.layout = "tern2" if g.layout == 2 else "tern3"
        labels = bytes(ffi.buffer(bound.labels, bound.labels_len)) if bound.labels else None
        self.labels = labels.decode("utf-8").split("\n") if labels is not None else None
        self._ffi, self._lib, self._file, self._bound = ffi, lib, buf, bound
        self._model = ffi.addressof(bound[0], "model")
        self._geometry_c = ffi.addressof(bound[0].model, "geometry")
        # matmul_rows <= 0: the matmul kernel gets whole weight matrices per block
        matmul_rows = int_value(matmul_rows, "matmul_rows", -(1 << 31), (1 << 31) - 1)
        self.scratch_bytes = int(lib.ftv_scratch_bytes_for(self._geometry_c, matmul_rows))
        if self.scratch_bytes == 0:
            raise ValueError(f"geometry: scratch size does not fit this machine "
                             f"({self.geometry})")
        self._scratch = np.zeros(self.scratch_bytes, np.uint8)
        self._lock = threading.Lock()

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
    if isinstance(source, (bytes, bytearray, memoryview)):
        return CModel.from_bytes(source, **options)
    with open(os.fspath(source), "rb") as f:
        return CModel.from_bytes(f.read(), **options)


def _writer_tensors(geometry, layout: int, tensors, frac_bits) -> dict:
    """Loose tensors checked (TypeError/ValueError naming the tensor) and put in the
    writer's form: packed ternary bytes, (values, frac_bits) for q16, values otherwise."""
    out = {}
    for planned in plan_tensors(geometry):
        name = planned.name
        if name not in tensors:
            raise ValueError(f"tensors: missing {name!r}")
        value = tensors[name]
        if planned.kind == "tern":
            rows, cols = planned.shape
            out[name] = Packed(byte_buffer(value, name, _packed_bytes(rows, cols, layout))
                               .tobytes())
            continue
        arr = int_array(value, name, _KIND_DTYPE[planned.kind])
        if arr.size != int(np.prod(planned.shape)):
            raise ValueError(f"{name}: expected shape {planned.shape}, found {np.shape(value)}")
        arr = arr.reshape(planned.shape)
        if planned.kind == "q16":
            if name not in frac_bits:
                raise ValueError(f"frac_bits: missing {name!r}")
            arr = (arr, int_value(frac_bits[name], f"frac_bits[{name!r}]", -(1 << 20), 1 << 20))
        out[name] = arr
    return out
