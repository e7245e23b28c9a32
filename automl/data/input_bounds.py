"""Bounds on what the engine reads from the user's files and folders, so that a folder it
did not make (an image of 400 million pixels, a link to ``/dev/zero``, a FIFO that never
ends) is refused with an error naming the file and the limit, instead of exhausting memory
or hanging. Each limit is a ``[dataset]`` option of the loader that reads such files, so a
user with bigger data raises it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from automl.api.errors import DataError

MAX_TABLE_MB = 4096.0
"""A table file (CSV, Parquet, NPZ): 4 GiB, which already outgrows most machines' memory
once read; the rows read are bounded by it."""
MAX_IMAGE_MB = 64.0
MAX_PIXELS = 40_000_000
"""Pixels of one image (a 6,000 x 6,000 photo has 36 million)."""
MAX_TEXT_MB = 16.0
MAX_TEXT_CHARS = 1_000_000
"""Characters of one text file (a long novel has about a million)."""


def checked_file(path: Path, *, inside: Path | None, max_mb: float, key: str) -> Path:
    """`path`, where it is a regular file of at most `max_mb` megabytes and, with
    `inside`, stays inside that folder once links are resolved; a `DataError` naming the
    file, and the ``[dataset]`` option `key` that raises the limit, otherwise. Nothing is
    opened: a FIFO or a device is recognised from its status."""
    if inside is not None:
        resolved, folder = path.resolve(), inside.resolve()
        if not resolved.is_relative_to(folder):
            raise DataError(f"the file is a link to {resolved}, which leaves the data "
                            f"folder {folder}", where=path)
    try:
        status = os.stat(path)
    except OSError as error:
        raise DataError(f"cannot read the file ({error.strerror})", where=path) from None
    if not stat.S_ISREG(status.st_mode):
        raise DataError("the path is not a regular file (a FIFO, device or socket cannot "
                        "be read to its end)", where=path, expected="a regular file")
    if status.st_size > max_mb * 2**20:
        raise DataError(f"the file has {status.st_size / 2**20:.3g} MB, more than the limit "
                        f"of {max_mb:g} MB", where=path,
                        hint=f"raise [dataset] {key} if the file is meant to be this large")
    return path


def checked_folder(path: Path, *, inside: Path) -> Path:
    """`path`, a folder that stays inside `inside` once links are resolved."""
    if not path.resolve().is_relative_to(inside.resolve()):
        raise DataError(f"the folder is a link to {path.resolve()}, which leaves the data "
                        f"folder {inside.resolve()}", where=path)
    return path
