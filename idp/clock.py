"""The one source of the current time.

Everything stores naive UTC datetimes; tests move time with `time_machine`, which this
module honours because it reads the system clock through `datetime.now` and `time.time`.
"""

import time
from datetime import UTC, datetime


def now():
    return datetime.now(UTC).replace(tzinfo=None)


def timestamp(moment=None):
    """Seconds since the epoch, for JWT claims; `moment` is a naive UTC datetime."""
    if moment is None:
        return int(time.time())
    return int(moment.replace(tzinfo=UTC).timestamp())
