"""The one exception the translators raise, so an adapter shell needs a single `except` to dead-letter."""

from __future__ import annotations


class NativeFormatError(ValueError):
    """Native input that cannot become a valid bus message; the text names the field and the defect."""
