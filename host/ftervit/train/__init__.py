"""Training: float teachers, phase-1 distillation and phase-2 recovery of FTerViT students.

One concept per module:

* `idx_data` / `device_data` -- Fashion-MNIST / MNIST idx files, held on the device, augmented there;
* `folder_data` -- ImageNet-style ImageFolder trees with timm's transforms;
* `data` -- `open_data(spec)`: picks one of the two from a path;
* `sharding` -- the seeded, per-epoch, per-rank sample order (resumable mid-epoch);
* `schedule` -- warm-up + cosine learning rate;
* `losses` -- distillation loss (KL at a temperature, optional hard-label mix);
* `teacher` / `fp8` -- loading a frozen teacher and running it fast;
* `distributed` -- torchrun / DistributedDataParallel helpers;
* `setup` -- building student, teacher and their checks;
* `engine` -- the training loop, evaluation, checkpoints and resume;
* `run_log` -- the JSONL log beside the checkpoint;
* `options` -- command-line options shared by the training commands.
"""
