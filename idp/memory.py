"""How a server process holds its memory.

glibc's malloc gives each thread that allocates while another one does an arena of its
own, and keeps in each arena what was freed there. A password check allocates 19 MiB
(argon2id), so every thread of a worker that once checked a password would keep 19 MiB for
good: about 80 MB more per worker with four threads. One arena for the process, and one
check at a time (`ARGON2_CONCURRENCY`), keep a worker to one check's memory, reused from
one login to the next without new page faults (which would double a check's CPU).
"""

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc's malloc.h


def use_one_malloc_arena():
    """Ask glibc for a single malloc arena; True when it agreed (False elsewhere, e.g. musl)."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    agreed = bool(mallopt(M_ARENA_MAX, 1))
    if not agreed:
        log.warning("the C library refused a single malloc arena: each worker thread may keep 19 MiB")
    return agreed
