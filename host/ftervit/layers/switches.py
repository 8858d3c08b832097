"""Switch the fake-quantizers of a converted model on and off."""
import torch.nn as nn


def set_quantizers(model: nn.Module, weights=None, acts=None, exact=None) -> nn.Module:
    """Turn weight / activation quantizers on (True) or off (False); None leaves them.

    `exact` selects the integer runtime's exact attention (P in fixed point),
    used by the recovery phase.  Returns the model for chaining.
    """
    for module in model.modules():
        if weights is not None and hasattr(module, "quant_weight"):
            module.quant_weight = bool(weights)
        if acts is not None and hasattr(module, "quant_act"):
            module.quant_act = bool(acts)
        if exact is not None and hasattr(module, "exact"):
            module.exact = bool(exact)
    return model


def quantizer_state(model: nn.Module) -> dict:
    """{'weights': [...], 'acts': [...], 'exact': [...]} over all quantizing modules."""
    state = {"weights": set(), "acts": set(), "exact": set()}
    for module in model.modules():
        for key, attr in (("weights", "quant_weight"), ("acts", "quant_act"), ("exact", "exact")):
            if hasattr(module, attr):
                state[key].add(getattr(module, attr))
    return {k: sorted(v) for k, v in state.items()}
