"""How many CPU threads torch gets, decided in one place and torch-free.

Why not torch's default (one thread per core): these models are small, so a step
is a few hundred small ops and each op's work split over threads is tiny. The
threads then spend their time waiting on one another, and when any other process
wants a core (a second training, a browser) one of them is descheduled and every
op waits for it: `mmzoo train mlp-bn` took 12-20x longer with 2 threads than with
1 while a second training ran (bench/threads.py measures this). So:

1. `--threads N` wins;
2. then the MMZOO_THREADS environment variable;
3. then the policy: one thread below MULTI_THREAD_PARAMS parameters; above it,
   one thread per PARAMS_PER_THREAD, capped by the cores this process may use and
   by the cores the load average leaves idle, so a busy machine still gets 1.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from mmzoo.errors import MmzooError

THREADS_ENV = "MMZOO_THREADS"
# Below this, one thread was fastest in every setting measured (bench/threads.py),
# idle machine included: every built-in model is under 0.25M parameters.
MULTI_THREAD_PARAMS = 2_000_000
PARAMS_PER_THREAD = 1_000_000


def usable_cores() -> int:
    """Cores this process may run on (a container or taskset may allow fewer than exist)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def idle_cores(cores: int) -> int:
    """Cores not already kept busy by other processes, by the 1-minute load average."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return cores
    return max(1, min(cores, int(cores - load + 0.5)))


def parse_threads(value: str | int, source: str) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise MmzooError(f"{source} must be a whole number >= 1, got {value!r}") from None
    if n < 1:
        raise MmzooError(f"{source} must be >= 1, got {n}")
    return n


def choose_threads(
    params: int | None, explicit: int | None = None, env: Mapping[str, str] | None = None
) -> tuple[int, str]:
    """(threads, why) for a model of `params` parameters (None: unknown, so small)."""
    env = os.environ if env is None else env
    if explicit is not None:
        return parse_threads(explicit, "--threads"), "--threads"
    if env.get(THREADS_ENV, "").strip():
        return parse_threads(env[THREADS_ENV].strip(), THREADS_ENV), THREADS_ENV
    if params is None or params < MULTI_THREAD_PARAMS:
        return 1, "small model"
    cores = usable_cores()
    wanted = min(cores, max(1, params // PARAMS_PER_THREAD))
    return min(wanted, idle_cores(cores)), "model size and idle cores"
