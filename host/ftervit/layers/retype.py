"""Rebuild a module as a subclass of its type, sharing everything it holds."""
import torch.nn as nn

_MODULE_STATE = ("_parameters", "_buffers", "_modules", "training")


def retyped(module: nn.Module, cls: type) -> nn.Module:
    """A new `cls` module with `module`'s attributes and the same child modules (so the same
    parameters and state-dict keys), in the same training mode; `module` is left as it was."""
    new = cls.__new__(cls)
    nn.Module.__init__(new)
    for key, value in module.__dict__.items():
        if key not in _MODULE_STATE:
            new.__dict__[key] = value
    for name, child in module.named_children():
        new.add_module(name, child)
    for name, param in module.named_parameters(recurse=False):
        new.register_parameter(name, param)
    for name, buf in module.named_buffers(recurse=False):
        new.register_buffer(name, buf, persistent=name not in module._non_persistent_buffers_set)
    new.train(module.training)
    return new
