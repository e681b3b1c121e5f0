"""How fast this machine is at the moment of a run, for every benchmark's JSON line.

The machine is shared and its speed is not a constant: the same commit's sweep took 5.9 s
one day and 13.5 s the next, and the echo bot's rate moved by half between two runs minutes
apart. `python_ref_ms` is the CPU time of a fixed piece of pure Python (the best of three),
taken as the benchmark ends: two runs' figures compare only beside theirs."""

from __future__ import annotations

import time

REFERENCE_LOOPS = 2_000_000


def python_ref_ms() -> float:
    """CPU milliseconds for REFERENCE_LOOPS additions and dict stores (best of three)."""
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        total, seen = 0, {}
        for i in range(REFERENCE_LOOPS):
            total += i
            seen[i & 1023] = total
        best = min(best, time.process_time() - started)
    return round(1000 * best, 1)
