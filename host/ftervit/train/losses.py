"""Distillation loss: KL divergence to a frozen teacher's logits, optionally mixed with labels.

    loss = (1 - alpha) * T^2 * KL(softmax(t / T) || softmax(s / T)) + alpha * CE(s, y)

with `kind='soft'`; `kind='hard'` replaces the KL term by cross-entropy with the
teacher's top-1 class (DeiT's hard distillation, useful from a CNN teacher).
The paper's phase 1 and phase 2 are KL-only (alpha = 0, T = 1).
"""
import torch
import torch.nn.functional as F


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                      targets: torch.Tensor = None, temperature: float = 1.0,
                      alpha: float = 0.0, label_smoothing: float = 0.0,
                      kind: str = "soft") -> torch.Tensor:
    s = student_logits.float()
    t = teacher_logits.float()
    if kind == "soft":
        log_p_s = F.log_softmax(s / temperature, dim=-1)
        log_p_t = F.log_softmax(t / temperature, dim=-1)
        kd = F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True)
        kd = kd * (temperature ** 2)
    elif kind == "hard":
        kd = F.cross_entropy(s, t.argmax(dim=-1))
    else:
        raise ValueError(f"distillation kind must be 'soft' or 'hard', got {kind!r}")
    if alpha <= 0.0:
        return kd
    ce = F.cross_entropy(s, targets, label_smoothing=label_smoothing)
    return (1.0 - alpha) * kd + alpha * ce


def label_loss(student_logits: torch.Tensor, targets: torch.Tensor,
               label_smoothing: float = 0.0) -> torch.Tensor:
    return F.cross_entropy(student_logits.float(), targets, label_smoothing=label_smoothing)
