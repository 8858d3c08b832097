"""One-pass quantization of rows wider than Inductor keeps in registers.

The per-token quantizer after the MLP's GELU needs the maximum of each hidden
row (4 x 384 = 1536 values in DeiT-S) before it can write a single code.
Inductor keeps a row in registers ("persistent reduction", read once) only up
to 1024 values; a wider row becomes a loop that reads the row, and recomputes
the GELU fused into it, twice, or (with `fast.row_absmax`'s chunks) two kernels.
Either way the quantized GELU costs about twice the float GELU.

`enable_wide_row_fusion()` raises that limit for row reductions, so GELU,
row maximum, codes and scale become one kernel that reads the hidden layer
once, like the float GELU.  It only changes how Inductor schedules a
reduction (values are equal: a maximum is exact in any order) and only for
reductions along contiguous rows of at most `width` values.  It goes through
Inductor's documented hook for out-of-tree heuristics
(`torch._inductor.config.inductor_choices_class`); on a PyTorch without that
hook it changes nothing and says so.
"""
from . import fast

DEFAULT_WIDTH = 2048


def _wide_row_choices(width: int):
    from torch._inductor import config
    from torch._inductor.choices import InductorChoices
    from torch._inductor.runtime.hints import ReductionHint
    from torch._inductor.virtualized import V

    base = config.inductor_choices_class or InductorChoices

    class WideRowChoices(base):
        """Inductor's choices, but rows of up to `width` values reduce in registers."""

        def should_use_persistent_reduction(self, features, cooperative_reduction):
            if super().should_use_persistent_reduction(features, cooperative_reduction):
                return True
            if (not config.triton.persistent_reductions or cooperative_reduction
                    or features.get_reduction_hint() != ReductionHint.INNER):
                return False
            strict_rblock = getattr(features, "strict_sum_rblock", lambda: None)()
            if strict_rblock is not None:  # deterministic sums fix their own block size
                return False
            return V.graph.sizevars.statically_known_leq(features.reduction_numel, width)

    WideRowChoices.width = width
    return WideRowChoices


def wide_row_fusion_available() -> bool:
    try:
        from torch._inductor import config
        from torch._inductor.choices import InductorChoices
    except ImportError:
        return False
    return (hasattr(config, "inductor_choices_class")
            and hasattr(InductorChoices, "should_use_persistent_reduction"))


_previous = []  # the choices class that enable_wide_row_fusion replaced, while enabled


def enable_wide_row_fusion(width: int = DEFAULT_WIDTH) -> bool:
    """Let Inductor reduce rows of up to `width` values in one pass (process-wide, for
    kernels compiled from now on) and stop `fast.row_absmax` from splitting them.
    Returns False, changing nothing, where this PyTorch has no hook for it."""
    if not wide_row_fusion_available():
        return False
    from torch._inductor import config
    disable_wide_row_fusion()
    _previous.append(config.inductor_choices_class)
    config.inductor_choices_class = _wide_row_choices(width)
    _refresh_choices()
    fast.ROW_CHUNKING = False
    return True


def wide_row_fusion_enabled() -> bool:
    return bool(_previous)


def disable_wide_row_fusion() -> None:
    """Undo `enable_wide_row_fusion` (kernels already compiled keep their schedule)."""
    fast.ROW_CHUNKING = True
    if _previous:
        from torch._inductor import config
        config.inductor_choices_class = _previous.pop()
        _refresh_choices()


def _refresh_choices() -> None:
    """Inductor builds its choices object once per thread; rebuild it from the config."""
    from torch._inductor import config
    from torch._inductor.choices import InductorChoices
    from torch._inductor.virtualized import V
    V.set_choices_handler((config.inductor_choices_class or InductorChoices)())
