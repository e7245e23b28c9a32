"""Peak memory (resident set size) of the search process and its fold worker, per family.

Linux keeps each process's peak resident size (``VmHWM`` in ``/proc/PID/status``) and
lets it be reset by writing ``5`` to ``/proc/PID/clear_refs``: reset as a family starts,
read as it ends, it is that family's peak. Elsewhere (or where /proc is not writable) the
peak is unknown (NaN), not a wrong number.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path


def reset_peak(pids: Iterable[int | None]) -> None:
    """Start counting the peak of these processes afresh (None: no process)."""
    for pid in pids:
        if pid is not None:
            try:
                Path(f"/proc/{pid}/clear_refs").write_text("5")
            except OSError:
                pass  # then the peak counts from the process's start


def peak_mb(pids: Iterable[int | None]) -> float:
    """The largest peak resident size of these processes since `reset_peak`, in MB (NaN
    where none can be read)."""
    peaks = [_peak_kb(pid) for pid in pids if pid is not None]
    peaks = [peak for peak in peaks if peak is not None]
    return max(peaks) / 1024 if peaks else math.nan


def _peak_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None
