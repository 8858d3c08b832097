"""The frozen teacher: loading it from local files, and running it cheaply.

Loading: an ftervit checkpoint (`--teacher CKPT`), or any timm architecture
with a local weights file (`--teacher-model NAME --teacher-weights PATH`).
Nothing is ever downloaded.

Running (`TeacherRunner`): the teacher needs no gradients, so it runs under
`no_grad` with its weights cast once to bf16 (no per-step casts), its patch
embedding computed as one matrix product (`layers.patch_linear`), its last
block for the class token only (`layers.class_token`) and each MLP's GELU
inside its first matrix product (`layers.linear_gelu`); or with FP8 matrix
products (`precision='fp8'`, Hopper GPUs).  It is optionally compiled on its
own, and optionally runs on a second CUDA stream one batch ahead of the
student (`overlap`), so its matrix products share the GPU with the student's
memory-bound kernels instead of waiting for them.
"""
from pathlib import Path

import torch
import torch.nn as nn

from ..checkpoint import load_model, make_meta
from ..layers.class_token import class_token_output
from ..layers.linear_gelu import fuse_linear_gelu
from ..layers.patch_linear import use_patch_linear

PRECISIONS = ("fp32", "amp", "bf16", "fp8")
CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")
NO_CUDA_GRAPHS = {"reduce-overhead": "default", "max-autotune": "max-autotune-no-cudagraphs"}


def _state_dict_from_file(path: Path) -> dict:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        return load_file(str(path))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable weights file ({type(exc).__name__})") from None
    if isinstance(obj, dict) and obj.get("format") == "ftervit-checkpoint":
        return obj["model"]
    for key in ("model_ema", "state_dict_ema", "model", "state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            return obj[key]
    if isinstance(obj, dict) and all(torch.is_tensor(v) for v in obj.values()):
        return obj
    raise ValueError(f"{path}: no state dict found (expected tensors, or a 'model' / "
                     "'state_dict' entry)")


def _timm_teacher(name: str, weights, num_classes: int, labels):
    import timm

    from .. import models  # noqa: F401  (registers the micro architectures)
    if weights is None:
        raise ValueError(f"--teacher-model {name} needs --teacher-weights PATH: pretrained "
                         "weights are never downloaded; pass a local checkpoint file")
    weights = Path(weights)
    if not weights.is_file():
        raise FileNotFoundError(f"teacher weights not found: {weights} (nothing is downloaded; "
                                "pass a local .pth / .safetensors file)")
    try:
        model = timm.create_model(name, pretrained=False, num_classes=num_classes)
    except RuntimeError as exc:
        raise ValueError(f"--teacher-model: {exc}") from None
    state = _state_dict_from_file(weights)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        lines = " ".join(str(exc).strip().splitlines()[:3])[:300]
        raise ValueError(f"{weights} does not fit {name} with {num_classes} classes: "
                         f"{lines}") from None
    cfg = model.pretrained_cfg or {}
    in_chans = getattr(getattr(getattr(model, "patch_embed", None), "proj", None),
                       "in_channels", None) or cfg.get("input_size", (3,))[0]
    img_size = cfg.get("input_size", (3, 224, 224))[-1]
    pe = getattr(model, "patch_embed", None)
    if pe is not None and getattr(pe, "img_size", None):
        img_size = pe.img_size[0]
    mean = tuple(cfg.get("mean", (0.485, 0.456, 0.406)))[:in_chans]
    std = tuple(cfg.get("std", (0.229, 0.224, 0.225)))[:in_chans]
    meta = make_meta(name, num_classes=num_classes, img_size=img_size, in_chans=in_chans,
                     mean=mean, std=std, labels=labels,
                     model_kwargs={"num_classes": num_classes})
    return model, meta


def load_teacher(checkpoint=None, model_name=None, weights=None, num_classes=None, labels=None):
    """(model, meta) of a float teacher in eval mode, from a checkpoint or a timm name."""
    if checkpoint is not None:
        model, meta = load_model(checkpoint)
        if meta["mode"] != "float":
            raise ValueError(f"{checkpoint}: the teacher must be a float model, this one is "
                             f"ternary (mode {meta['mode']!r})")
        return model, meta
    if model_name is None:
        raise ValueError("a teacher is needed: --teacher CKPT, or --teacher-model NAME "
                         "--teacher-weights PATH")
    return _timm_teacher(model_name, weights, num_classes, labels)


def teacher_compile_mode(mode, side_stream: bool):
    """The teacher's torch.compile mode given the student's.  CUDA graphs of one device
    share a memory pool whose reuse assumes the graphs replay one after another on one
    stream: a teacher graph replayed on a side stream, concurrently with the student's,
    would overwrite the student's buffers.  There the teacher's kernels are launched one by
    one instead."""
    if side_stream and mode in CUDA_GRAPH_MODES:
        return NO_CUDA_GRAPHS[mode]
    return mode


class _Pending:
    """Teacher logits being computed on a side stream."""

    def __init__(self, logits, event):
        self.logits, self.event = logits, event

    def result(self) -> torch.Tensor:
        if self.event is not None:
            stream = torch.cuda.current_stream()
            stream.wait_event(self.event)
            self.logits.record_stream(stream)
        return self.logits


class TeacherRunner:
    """Callable frozen teacher: `runner(x)` or `runner.submit(x).result()` give float logits.

    `gelu_epilogue` (bf16 on CUDA only) computes each MLP's GELU inside its first matrix
    product, in the tanh form: see `layers.linear_gelu`.  `class_token_only` computes the
    last block for the tokens the head reads (same logits): see `layers.class_token`."""

    def __init__(self, model: nn.Module, device, precision: str = "bf16",
                 compile_model: bool = False, overlap: bool = False, compile_mode=None,
                 gelu_epilogue: bool = True, class_token_only: bool = True):
        if precision not in PRECISIONS:
            raise ValueError(f"teacher precision must be one of {PRECISIONS}")
        device = torch.device(device)
        if device.type != "cuda" and precision in ("bf16", "fp8"):
            precision = "fp32"
        model = use_patch_linear(model.to(device).eval().requires_grad_(False))
        if class_token_only:
            class_token_output(model)
        if precision in ("bf16", "fp8"):
            model = model.to(torch.bfloat16)
        if precision == "fp8":  # after the bf16 cast, which would also cast FP8 buffers
            from .fp8 import convert_linears_to_fp8, fp8_supported
            if fp8_supported(device):
                convert_linears_to_fp8(model)
            else:
                precision = "bf16"
        self.gelu_epilogue = bool(gelu_epilogue) and precision == "bf16"
        if self.gelu_epilogue:
            fuse_linear_gelu(model)
        self.precision = precision
        self.device = device
        self.model = model
        self.stream = torch.cuda.Stream(device) if overlap and device.type == "cuda" else None
        compile_mode = teacher_compile_mode(compile_mode, self.stream is not None)
        self.compile_mode = compile_mode if compile_model else None
        self.forward = torch.compile(model, mode=compile_mode) if compile_model else model
        # CUDA-graph modes hand out logits in a graph-owned buffer that the next replay
        # overwrites: a copy stays valid however long the caller keeps it
        self.copy_out = bool(compile_model) and compile_mode in CUDA_GRAPH_MODES

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            if self.precision in ("bf16", "fp8"):
                with torch.autocast(self.device.type, enabled=False):
                    return self.forward(x.to(torch.bfloat16))
            if self.precision == "amp":
                with torch.autocast(self.device.type, dtype=torch.bfloat16):
                    return self.forward(x)
            with torch.autocast(self.device.type, enabled=False):
                return self.forward(x.float())

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        logits = self._run(x)
        return logits.clone() if self.copy_out else logits

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self._logits(x)

    def submit(self, x: torch.Tensor) -> _Pending:
        if self.stream is None:
            return _Pending(self._logits(x), None)
        main = torch.cuda.current_stream()
        self.stream.wait_stream(main)
        with torch.cuda.stream(self.stream):
            x.record_stream(self.stream)
            logits = self._logits(x)
            event = torch.cuda.Event()
            event.record(self.stream)
        return _Pending(logits, event)
