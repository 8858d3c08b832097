"""The evaluation inside training equals the evaluation of the checkpoint it writes.

Fused AdamW (the optimizer on CUDA; PyTorch has it on the CPU too) changes the weights
in place without bumping `Tensor._version`, so any cache of derived weights keyed on
that counter goes stale after the first step.  Here a tiny ternary student takes a few
fused-AdamW steps; after each, the engine's `evaluate()` of the live model must give
the same top-1 and the same logits as a fresh model loaded from that step's checkpoint.
"""
import torch
import torch.nn.functional as F

from ftervit.checkpoint import build_model, load_model, make_meta, save_checkpoint
from ftervit.train.distributed import Dist
from ftervit.train.engine import evaluate

STEPS = 4
N_VAL, BATCH = 96, 32


class TensorSplit:
    """The `eval_batches` interface of the engine's data, over fixed tensors."""

    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def eval_batches(self, batch_size, rank, world):
        for start in range(0, len(self.labels), batch_size):
            yield self.images[start:start + batch_size], self.labels[start:start + batch_size]


def _tiny_student():
    meta = make_meta("deit_nano_patch7_28", num_classes=10, img_size=28, in_chans=1,
                     mean=[0.5], std=[0.25], mode="full",
                     model_kwargs={"num_classes": 10, "in_chans": 1, "img_size": 28})
    torch.manual_seed(0)
    return build_model(meta).train(), meta


def _evaluate_with_logits(model, split):
    """(top-1 %, logits of every validation image) from the engine's evaluate()."""
    seen = []
    hook = model.register_forward_hook(lambda _m, _i, out: seen.append(out.detach().clone()))
    try:
        top1, _top5, count = evaluate(model, split, BATCH, Dist(), amp=False)
    finally:
        hook.remove()
    assert count == N_VAL
    return top1, torch.cat(seen)


def test_evaluate_in_training_equals_evaluate_of_checkpoint(tmp_path):
    generator = torch.Generator().manual_seed(1)
    images = torch.randn(N_VAL + BATCH, 1, 28, 28, generator=generator)
    labels = torch.randint(0, 10, (N_VAL + BATCH,), generator=generator)
    train_x, train_y = images[:BATCH], labels[:BATCH]
    val = TensorSplit(images[BATCH:], labels[BATCH:])

    student, meta = _tiny_student()
    optimizer = torch.optim.AdamW(student.parameters(), lr=3e-2, fused=True)
    _evaluate_with_logits(student, val)  # what the training loop did at an earlier epoch
    previous = None
    for step in range(1, STEPS + 1):
        loss = F.cross_entropy(student(train_x), train_y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

        top1, logits = _evaluate_with_logits(student, val)
        path = save_checkpoint(tmp_path / f"step{step}.pt", student, meta)
        fresh, _ = load_model(path)
        fresh_top1, fresh_logits = _evaluate_with_logits(fresh, val)

        assert previous is None or not torch.equal(logits, previous), \
            f"step {step}: the logits did not change; the test would not see a stale cache"
        torch.testing.assert_close(logits, fresh_logits, rtol=0, atol=1e-5,
                                   msg=lambda m: f"step {step}: logits differ\n{m}")
        assert top1 == fresh_top1, f"step {step}: top-1 {top1} in training, {fresh_top1} loaded"
        previous = logits
