import pytest
import torch

import global_state


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True)
def _leaves_global_state_unchanged():
    """Fail the test that leaves process-global state changed (tests/global_state.py).
    Autouse fixtures are set up first and torn down last, so what `monkeypatch` and the
    other fixtures undo is undone before this looks."""
    before = global_state.snapshot()
    yield
    changed = global_state.changes(before, global_state.snapshot())
    if changed:
        pytest.fail("the test left process-global state changed:\n  " + "\n  ".join(changed),
                    pytrace=False)
