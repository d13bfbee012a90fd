"""Moving time in tests: travel relative to now, or build the fixtures inside the travel.

The `app` fixture's signing key, the accounts, establishments and relying parties of the
fixtures are made at the machine's date, before a test moves time. A test that jumped to a
fixed calendar day would put them in its future or in its past, and pass or fail with the
machine's clock. So a test travels to `moment()`: now, or the next chosen time of day, a
shift later, and computes what it asserts from that moment. A test that needs a given
calendar day (dates written in a data file) makes its fixtures once it stands on that day.

Moments are naive UTC datetimes, as the application stores them.
"""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import time_machine

PARIS = ZoneInfo("Europe/Paris")
FRENCH_DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
FRENCH_MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip


def moment(days=0, *, at=None, paris=None, **shift):
    """A naive UTC datetime `days` days and `shift` (timedelta's keywords) after its start:
    - by default now, rounded up to the next whole second (never before the fixtures);
    - at="HH:MM[:SS]": the next moment at this UTC time of day (never before now);
    - paris="HH:MM[:SS]": the next moment at this Paris time of day; `days` then counts
      Paris calendar days, so that the time of day stays the same across a change of
      daylight saving time."""
    start = datetime.now(UTC).replace(tzinfo=None, microsecond=0) + timedelta(seconds=1)
    if at is not None and paris is not None:
        raise TypeError("at= or paris=, not both")
    if at is not None:
        chosen = datetime.combine(start.date(), time.fromisoformat(at))
        if chosen < start:
            chosen += timedelta(days=1)
        chosen += timedelta(days=days)
    elif paris is not None:
        day = in_paris(start).date()
        if paris_time(day, paris) < start:
            day += timedelta(days=1)
        chosen = paris_time(day + timedelta(days=days), paris)
    else:
        chosen = start + timedelta(days=days)
    return chosen + timedelta(**shift)


def frozen(when=None, **where):
    """Time stands still at `when` (a naive UTC datetime, by default `moment(**where)`) until
    the test moves it: `with frozen() as traveller: ... traveller.shift(60)`."""
    if when is None:
        when = moment(**where)
    return time_machine.travel(when.replace(tzinfo=UTC), tick=False)


def in_paris(when):
    """The naive UTC datetime `when` as a Paris local time (aware)."""
    return when.replace(tzinfo=UTC).astimezone(PARIS)


def paris_time(day, clock):
    """The naive UTC datetime of the Paris time of day `clock` ("HH:MM[:SS]") on `day`."""
    return datetime.combine(day, time.fromisoformat(clock), tzinfo=PARIS).astimezone(UTC).replace(tzinfo=None)


def french_date(day, weekday=False, year=True):
    """`day` in French words: "5 avril 2027", "mardi 1 décembre" (weekday=True, year=False)."""
    words = [FRENCH_DAYS[day.weekday()]] if weekday else []
    words += [str(day.day), FRENCH_MONTHS[day.month - 1]]
    if year:
        words.append(str(day.year))
    return " ".join(words)
