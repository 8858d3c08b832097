"""The training loop shared by `train`, `distill` and `recover`.

Per step: one batch (seeded by seed/epoch/step/rank), the teacher's logits if
there is a teacher (optionally computed one batch ahead on a second stream),
the student's forward under bf16 autocast, loss, backward, AdamW, schedule.
Per epoch: evaluation (top-1 / top-5, summed over ranks), a checkpoint written
atomically to `--output` with everything `--resume` needs, and one JSONL line.

Resuming restores model, optimizer, schedule, epoch and step; every random
draw (sample order, augmentation, dropout / stochastic depth) is a function
of (seed, epoch, step, rank), so a resumed run takes exactly the steps the
uninterrupted run would have taken.
"""
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
import torch.nn as nn
from tqdm import tqdm

from ..checkpoint import read_checkpoint, rng_state, save_checkpoint, unwrap_model
from ..layers import frozen_ternary_weights, int8_matmul_available, set_fast_quantizers, use_patch_linear
from ..layers.class_token import class_token_output
from .data import DataBundle
from .distributed import Dist
from .losses import distillation_loss, label_loss
from .run_log import RunLog, log_path_for
from .schedule import warmup_cosine
from .setup import Models
from .sharding import derive_seed
from .teacher import TeacherRunner


@dataclass
class Outcome:
    path: Path
    epoch: int
    global_step: int
    finished: bool
    top1: Optional[float] = None
    top5: Optional[float] = None


def param_groups(model: nn.Module, weight_decay: float):
    """AdamW groups: no weight decay on biases, norm parameters, tokens and position
    embeddings (every tensor of fewer than 2 dimensions, and the embeddings by name)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim < 2 or name.endswith(("cls_token", "pos_embed", "reg_token")):
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def _renormaliser(student_meta: dict, teacher_meta: Optional[dict], device):
    """x for the teacher from x normalised for the student (identity if they agree)."""
    if teacher_meta is None or (list(teacher_meta["mean"]) == list(student_meta["mean"]) and
                                list(teacher_meta["std"]) == list(student_meta["std"])):
        return lambda x: x
    c = len(student_meta["mean"])
    ms, ss = (torch.tensor(student_meta[k], device=device).view(1, c, 1, 1) for k in ("mean", "std"))
    mt, st = (torch.tensor(teacher_meta[k], device=device).view(1, c, 1, 1) for k in ("mean", "std"))
    return lambda x: (x * ss + ms - mt) / st


def compile_mode(args):
    """The torch.compile mode the run asked for (--compile-mode implies --compile), or None."""
    if args.compile_mode:
        return args.compile_mode
    return "default" if args.compile else None


def evaluate(model: nn.Module, data, batch_size: int, dist: Dist, amp: bool):
    """(top-1 %, top-5 %, count) over the validation data, summed over ranks."""
    was_training = model.training
    model.eval()
    dev = dist.device
    sums = torch.zeros(3, dtype=torch.float64, device=dev)
    # The weights stay fixed for the whole pass: each ternary weight is quantized once.
    with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp), \
            frozen_ternary_weights(model):
        for x, y in data.eval_batches(batch_size, dist.rank, dist.world):
            logits = model(x).float()
            k = min(5, logits.shape[-1])
            top = logits.topk(k, dim=-1).indices
            hit = top == y.unsqueeze(1)
            sums[0] += hit[:, 0].sum()
            sums[1] += hit.any(dim=1).sum()
            sums[2] += y.numel()
    dist.all_sum(sums)
    model.train(was_training)
    n = max(sums[2].item(), 1.0)
    return 100.0 * sums[0].item() / n, 100.0 * sums[1].item() / n, int(sums[2].item())


class Trainer:
    def __init__(self, args, phase: str, models: Models, data: DataBundle, recipe: dict,
                 dist: Dist):
        self.args, self.phase, self.models, self.data, self.recipe = args, phase, models, data, recipe
        self.dist = dist
        self.device = dist.device
        self.output = Path(args.output)
        self.amp = args.amp if args.amp is not None else self.device.type == "cuda"
        self.log = RunLog(log_path_for(self.output), enabled=dist.is_main)
        self.batch = int(recipe["batch_size"])
        self.steps_per_epoch = data.train.steps_per_epoch(self.batch, dist.world)
        if self.steps_per_epoch < 1:
            raise ValueError(f"{len(data.train)} training images give no full batch of "
                             f"{self.batch} over {dist.world} process(es); lower --batch-size")
        self.epochs = int(recipe["epochs"])
        self.total_steps = self.epochs * self.steps_per_epoch

        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # one image size: let cuDNN time its kernels
        student = models.student.to(self.device)
        if models.meta["mode"] != "float":
            int8 = bool(args.int8_matmul) and int8_matmul_available(self.device)
            set_fast_quantizers(student, bool(args.fast_quant), int8_matmul=int8)
        elif args.fast_quant:
            use_patch_linear(student)  # what the ternary student's fused path does too
        if args.fast_quant:
            class_token_output(student)  # the head reads one token of the last block
        self.student = student
        fused = self.device.type == "cuda"
        self.optimizer = torch.optim.AdamW(param_groups(student, recipe["weight_decay"]),
                                           lr=recipe["lr"], betas=(0.9, 0.999),
                                           **({"fused": True} if fused else {}))
        self.scheduler = warmup_cosine(self.optimizer, self.total_steps,
                                       round(recipe["warmup_epochs"] * self.steps_per_epoch),
                                       recipe["min_lr_ratio"])
        self.start_epoch, self.start_step, self.global_step = 0, 0, 0
        self.best = None

        self.compile_mode = compile_mode(args)
        self.teacher = None
        if models.teacher is not None:
            precision = args.teacher_precision or ("bf16" if self.device.type == "cuda" else "fp32")
            self.teacher = TeacherRunner(models.teacher, self.device, precision=precision,
                                         compile_model=self.compile_mode is not None,
                                         compile_mode=self.compile_mode,
                                         overlap=bool(args.teacher_overlap),
                                         gelu_epilogue=args.teacher_gelu_epilogue)
        self.to_teacher = _renormaliser(models.meta, models.teacher_meta, self.device)

    # ------------------------------------------------------------------ checkpoints
    def meta(self, **extra) -> dict:
        meta = dict(self.models.meta)
        meta["recipe"] = {k: v for k, v in self.recipe.items()}
        if self.models.teacher_meta is not None:
            meta["teacher"] = {"model_name": self.models.teacher_meta["model_name"],
                               "path": str(self.args.teacher or self.args.teacher_weights or "")}
        meta.update(extra)
        return meta

    def save(self, epoch: int, step_in_epoch: int, finished: bool = False, **extra):
        if self.dist.is_main:
            state = {"epoch": epoch, "step_in_epoch": step_in_epoch,
                     "global_step": self.global_step, "finished": finished,
                     "phase": self.phase, "world": self.dist.world, "rng": rng_state()}
            save_checkpoint(self.output, self.student, self.meta(**extra), self.optimizer,
                            self.scheduler, train_state=state)
        self.dist.barrier()

    def try_resume(self) -> Optional[dict]:
        if not self.output.exists():
            if self.args.resume and self.dist.is_main:
                print(f"ftervit {self.phase}: no checkpoint at {self.output} yet; starting afresh",
                      file=sys.stderr)
            return None
        if not self.args.resume:
            if self.args.overwrite:
                return None
            raise ValueError(f"{self.output} exists: pass --resume to continue it or "
                             "--overwrite to start afresh")
        payload = read_checkpoint(self.output, map_location="cpu")
        old = payload["meta"]
        for key in ("model_name", "mode", "num_classes", "img_size", "in_chans"):
            if old.get(key) != self.models.meta.get(key):
                raise ValueError(f"{self.output} belongs to another run ({key} "
                                 f"{old.get(key)!r}, this run {self.models.meta.get(key)!r})")
        state = payload.get("train_state")
        if state is None or "optimizer" not in payload or "scheduler" not in payload:
            raise ValueError(f"{self.output} holds no training state (a weights-only file); "
                             "cannot --resume from it")
        self.student.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        self.start_epoch = int(state["epoch"])
        self.start_step = int(state["step_in_epoch"])
        self.global_step = int(state["global_step"])
        self.best = payload["meta"].get("metrics")
        self.log.write(event="resume", phase=self.phase, epoch=self.start_epoch,
                       step_in_epoch=self.start_step, global_step=self.global_step)
        return state

    # ------------------------------------------------------------------ training
    def _train_module(self) -> nn.Module:
        model = self.student
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        if self.compile_mode is not None:
            model = torch.compile(model, mode=self.compile_mode)
        return model

    def loss(self, logits, targets, teacher_logits):
        r = self.recipe
        if teacher_logits is None:
            return label_loss(logits, targets, r["label_smoothing"])
        return distillation_loss(logits, teacher_logits, targets, temperature=r["temperature"],
                                 alpha=r["alpha"], label_smoothing=r["label_smoothing"],
                                 kind=r["distill_kind"])

    def _batches_with_teacher(self, batches):
        """(x, y, pending teacher logits or None), the teacher queued one batch ahead."""
        def fetch():
            try:
                x, y = next(batches)
            except StopIteration:
                return None
            pending = self.teacher.submit(self.to_teacher(x)) if self.teacher else None
            return x, y, pending
        item = fetch()
        while item is not None:
            following = fetch()
            yield item
            item = following

    def fit(self) -> Outcome:
        self.try_resume()
        if self.start_epoch >= self.epochs:
            if self.dist.is_main:
                print(f"ftervit {self.phase}: {self.output} already finished "
                      f"({self.epochs} epochs)", file=sys.stderr)
            return Outcome(self.output, self.start_epoch, self.global_step, True,
                           *(self._best_pair()))
        model = self._train_module()
        args, dist = self.args, self.dist
        if self.start_epoch == 0 and self.start_step == 0:
            self.log.write(event="start", phase=self.phase, model=self.models.meta["model_name"],
                           mode=self.models.meta["mode"], exact=self.models.meta["exact"],
                           world=dist.world, steps_per_epoch=self.steps_per_epoch,
                           device=str(self.device), amp=self.amp, compile=self.compile_mode,
                           **{f"recipe_{k}": v for k, v in self.recipe.items()})
        step_in_epoch = self.start_step
        for epoch in range(self.start_epoch, self.epochs):
            model.train()
            t0 = time.perf_counter()
            loss_sum = torch.zeros((), device=self.device)
            seen = 0
            bar = tqdm(total=self.steps_per_epoch, initial=step_in_epoch, leave=False,
                       desc=f"{self.phase} {epoch + 1}/{self.epochs}", dynamic_ncols=True,
                       disable=not dist.is_main or args.quiet, file=sys.stderr)
            batches = self.data.train.train_batches(epoch, self.batch, args.seed, dist.rank,
                                                    dist.world, start_step=step_in_epoch)
            stopped = False
            for x, y, pending in self._batches_with_teacher(iter(batches)):
                torch.manual_seed(derive_seed(args.seed, epoch, step_in_epoch, dist.rank, 0xD0))
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                    logits = model(x)
                t_logits = pending.result() if pending is not None else None
                loss = self.loss(logits, y, t_logits)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if args.clip_grad:
                    nn.utils.clip_grad_norm_(self.student.parameters(), args.clip_grad)
                self.optimizer.step()
                self.scheduler.step()
                self.global_step += 1
                step_in_epoch += 1
                loss_sum += loss.detach()
                seen += 1
                bar.update(1)
                if seen % args.log_every == 0 and dist.is_main and not args.quiet:
                    bar.set_postfix(loss=f"{(loss_sum / seen).item():.4f}",
                                    lr=f"{self.scheduler.get_last_lr()[0]:.2e}")
                if args.checkpoint_every and self.global_step % args.checkpoint_every == 0:
                    self.save(epoch, step_in_epoch)
                if args.max_steps and self.global_step >= args.max_steps:
                    stopped = True
                    break
            bar.close()
            if stopped:
                done = step_in_epoch >= self.steps_per_epoch
                self.save(epoch + 1 if done else epoch, 0 if done else step_in_epoch)
                self.log.write(event="stopped", phase=self.phase, epoch=epoch,
                               step_in_epoch=step_in_epoch, global_step=self.global_step,
                               train_loss=_mean(loss_sum, seen))
                return Outcome(self.output, epoch, self.global_step, False)
            train_time = time.perf_counter() - t0
            step_in_epoch = 0
            last = epoch + 1 == self.epochs
            record = {"phase": self.phase, "epoch": epoch + 1, "global_step": self.global_step,
                      "lr": self.scheduler.get_last_lr()[0], "train_loss": _mean(loss_sum, seen),
                      "train_time_s": round(train_time, 3),
                      "img_per_s": round(seen * self.batch / max(train_time, 1e-9), 1)}
            if last or (epoch + 1) % max(args.eval_every, 1) == 0:
                # in float unless asked: bf16 rounding flips a few int8 codes, and the
                # logged top-1 would then differ from `ftervit eval` of this checkpoint
                top1, top5, n = evaluate(self.student, self.data.val, args.eval_batch_size,
                                         dist, bool(args.eval_amp))
                record.update(val_top1=top1, val_top5=top5, val_images=n)
                self.best = {"top1": top1, "top5": top5, "epoch": epoch + 1, "images": n}
            self.save(epoch + 1, 0, finished=last, metrics=self.best)
            rec = self.log.write(**record)
            if dist.is_main:
                shown = {k: rec[k] for k in ("epoch", "train_loss", "val_top1", "val_top5",
                                             "img_per_s") if k in rec}
                tqdm.write(f"ftervit {self.phase}: " + " ".join(f"{k}={v}" for k, v in
                                                               shown.items()), file=sys.stderr)
        return Outcome(self.output, self.epochs, self.global_step, True, *(self._best_pair()))

    def _best_pair(self):
        if not self.best:
            return None, None
        return self.best.get("top1"), self.best.get("top5")


def _mean(total: torch.Tensor, count: int) -> float:
    value = total.item() / max(count, 1)
    return value if math.isfinite(value) else float("nan")
