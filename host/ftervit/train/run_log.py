"""The JSONL log beside a checkpoint: one JSON object per line, appended, rank 0 only."""
import json
import math
import time
from pathlib import Path


def log_path_for(checkpoint) -> Path:
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.stem + ".jsonl")


class RunLog:
    def __init__(self, path, enabled: bool = True):
        self.path = Path(path)
        self.enabled = enabled
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, **record) -> dict:
        record = {"time": round(time.time(), 3), **{k: _clean(v) for k, v in record.items()}}
        if self.enabled:
            with open(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")
        return record


def _clean(v):
    if isinstance(v, float):
        return round(v, 6) if math.isfinite(v) else None
    return v


def read_log(path):
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
