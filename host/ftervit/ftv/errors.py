"""The one error the `.ftv` writer and reader raise for bad input."""


class FtvFormatError(ValueError):
    """A model file (or the data handed to the writer) breaks docs/format.md.

    The message names the field, section or tensor at fault and says what was
    expected and what was found.
    """
