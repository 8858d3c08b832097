"""Process-global state that no test may leave changed.

The suite runs in one process: a test that changes a torch or Inductor option, an
environment variable, the working directory or `sys.path`, and does not put it back,
changes what every later test sees, and so makes their results depend on the order
and on warm caches (an Inductor option hidden by a test once broke compilation only
when Inductor's cache was cold).  `snapshot()` records that state; `changes()` lists
what differs, one line per item, for the fixture in conftest.py to fail the test with.
"""
import os
import sys
import warnings

import numpy as np
import torch
import torch._dynamo.config
import torch._inductor.config

_MISSING = "<missing>"
# What the tools change by themselves, once, on first use (not a test's doing):
# pytest rewrites PYTEST_CURRENT_TEST at each phase; Inductor's first compile sets
# _TORCHINDUCTOR_* variables and puts setuptools' vendored packages on sys.path.
_TOOL_ENV_PREFIXES = ("PYTEST_CURRENT_TEST", "_TORCHINDUCTOR_")
_TOOL_PATH_SUFFIXES = (os.path.join("setuptools", "_vendor"),)
_CONFIG_MODULES = (torch._inductor.config, torch._dynamo.config)


def _config_values(module) -> dict:
    """Every option as the module answers it now; a hidden option reads as missing."""
    values = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # reading a deprecated option warns
        for key in module.get_config_copy():
            try:
                values[key] = getattr(module, key)
            except AttributeError:
                values[key] = _MISSING
    return values


def _torch_modes() -> dict:
    return {
        "torch default dtype": torch.get_default_dtype(),
        "torch threads": torch.get_num_threads(),
        "torch grad enabled": torch.is_grad_enabled(),
        "torch deterministic algorithms": torch.are_deterministic_algorithms_enabled(),
        "torch float32 matmul precision": torch.get_float32_matmul_precision(),
        "torch.backends.cudnn.benchmark": torch.backends.cudnn.benchmark,
        "torch.backends.cudnn.deterministic": torch.backends.cudnn.deterministic,
        "torch.backends.cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
    }


def snapshot() -> dict:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(_TOOL_ENV_PREFIXES)}
    path = [p for p in sys.path if not p.endswith(_TOOL_PATH_SUFFIXES)]
    state = {"os.environ": environ, "working directory": os.getcwd(), "sys.path": path,
             "numpy error state": np.geterr()}
    state.update(_torch_modes())
    for module in _CONFIG_MODULES:
        state[module.__name__] = _config_values(module)
    return state


def _dict_changes(name: str, before: dict, after: dict) -> list:
    lines = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key, _MISSING), after.get(key, _MISSING)
        if old != new:
            lines.append(f"{name}[{key!r}]: was {old!r}, now {new!r}")
    return lines


def changes(before: dict, after: dict) -> list:
    lines = []
    for name, old in before.items():
        new = after[name]
        if isinstance(old, dict) and name != "numpy error state":
            lines += _dict_changes(name, old, new)
        elif old != new:
            lines.append(f"{name}: was {old!r}, now {new!r}")
    return lines
