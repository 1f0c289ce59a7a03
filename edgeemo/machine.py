"""What this machine lends the process: the CPUs it may run on (a container's or `taskset`'s limit, not
the host's count), for what sizes its work or reports it (training's record, the chain's workers)."""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """The CPUs this process may run on; at least one."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
