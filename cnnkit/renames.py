"""Names changed in this release: the old ones still work, with a note naming the new one.

They are removed in the next release (see the README's "One word, one place").
"""

from __future__ import annotations

import sys
import warnings


def renamed_message(old: str, new: str) -> str:
    """The one sentence that tells a user ``old`` is now ``new``."""
    return f"{old} is now {new}; the old name will be removed in the next release."


def warn_renamed(old: str, new: str) -> None:
    """Warn (FutureWarning, shown by default) that the function the caller's caller used is now ``new``."""
    warnings.warn(renamed_message(old, new), FutureWarning, stacklevel=3)


def print_renamed(old: str, new: str) -> None:
    """Print the note on stderr, for a command typed under its old name."""
    print(f"note: {renamed_message(old, new)}", file=sys.stderr)
