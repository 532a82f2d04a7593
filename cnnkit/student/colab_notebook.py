"""The notebook open in Colab, written to disk: Colab keeps it in Drive, not beside the weights."""

from __future__ import annotations

import json
from pathlib import Path


def save_colab_notebook(path: Path) -> Path:
    """Write the notebook open in this Colab session to `path` and return its resolved path.

    Raises:
        ValueError: when Colab does not hand the notebook over.
    """
    from google.colab import _message  # type: ignore[import-not-found]

    reply = _message.blocking_request("get_ipynb", timeout_sec=60)
    if not reply or "ipynb" not in reply:
        raise ValueError("Colab did not hand over the notebook. Fix: save it (File → Save), "
                         "upload it beside the weights, and pass its path.")
    path.write_text(json.dumps(reply["ipynb"]))
    return path.resolve()
