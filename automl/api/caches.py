"""A run's cache: what a plugin computed once and any process of the run may reuse.

A pretrained encoder's embedding of a text is the same in every trial, fold, refit and
analysis that fits on it, but the run's processes do not share memory, and the worker
that fits cross-validated folds is replaced whenever a fit is stopped by time. So each
run names a folder, ``cache/`` in its output folder, through the environment (which the
worker processes inherit), and a plugin keeps there what it would otherwise compute
again (`automl_plugins.text.minilm` keeps MiniLM's sentence embeddings, by a hash of
each text). A rerun of the task reuses it; deleting it only costs the time to compute it
again. What is read back from it is data (NumPy arrays read without pickle), checked by
the plugin that reads it.
"""

from __future__ import annotations

import os
from pathlib import Path

VARIABLE = "AUTOML_CACHE_DIR"
"""The environment variable naming the run's cache folder."""
FOLDER = "cache"
"""The cache's folder in a run's output folder."""


def use_cache_of(output_dir: Path) -> Path:
    """Names `output_dir`'s cache folder as the cache of this process and of the worker
    processes it starts from now on; returns it."""
    folder = output_dir / FOLDER
    os.environ[VARIABLE] = str(folder)
    return folder


def cache_folder(kind: str) -> Path | None:
    """The run's folder for a plugin's cache of one `kind` (its own name: a folder of
    its own), made where missing; None outside a run, or where it cannot be made (the
    plugin then computes again what it needs)."""
    root = os.environ.get(VARIABLE)
    if not root:
        return None
    folder = Path(root) / kind
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder
