"""Business hours: is an interface open at an instant, and when does it next open? Pure: no database.

A schedule (stored on the interface, checked by schemas/interfaces.py):

    {"enabled": true, "timezone": "Europe/Berlin",
     "weekly": {"monday": [{"start": "09:00", "end": "17:00"}, ...], ..., "sunday": []},
     "exceptions": [{"date": "2026-12-25", "ranges": []}, ...],
     "outside_hours_message": "..." or None}

Ranges are wall-clock times in the schedule's zone, start inclusive, end
exclusive. `end` may be "24:00" (midnight at the end of the day). A range
whose end is before its start crosses midnight: 22:00-02:00 on Friday is open
from Friday 22:00 to Saturday 02:00 (end "00:00" is the same as "24:00"). A
range whose end equals its start is refused (write 00:00-24:00 for a whole
day).

An exception replaces the weekly ranges of its date: no ranges closes the
day, ranges open it at those times only. A range of the day before that
crosses midnight still runs into an exception's date; overlaps between the
two are refused when the schedule is saved.

Daylight saving time (the rules of RFC 5545 for local times): a range keeps
its wall-clock times, so it is shorter or longer in real time on a change
day (01:00-04:00 on the spring-forward day in Europe/Berlin is 2 real hours).
A wall-clock time that is repeated (the autumn hour) means its first
occurrence (fold=0); one that does not exist (skipped in spring) means the
instant the clocks jumped. Both keep wall-clock order, so ranges that do not
overlap on the wall clock never overlap in real time.
"""
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from models.interface import WEEKDAYS as DAYS
MINUTES_PER_DAY = 24 * 60
WEEK_MINUTES = 7 * MINUTES_PER_DAY
# Days searched for the next opening beyond a week, besides one per exception (each can close a day).
SEARCH_DAYS = 14


def minutes(hhmm):
    """Minutes since midnight of "HH:MM" ("24:00" is 1440)."""
    hours, mins = hhmm.split(":")
    return int(hours) * 60 + int(mins)


def span(time_range):
    """(start, end) in minutes from the start of its day; end > start (a range crossing midnight ends after 1440)."""
    start, end = minutes(time_range["start"]), minutes(time_range["end"])
    return start, end + MINUTES_PER_DAY if end < start else end


def crosses_midnight(time_range):
    return minutes(time_range["end"]) < minutes(time_range["start"])


def _label(time_range):
    return f"{time_range['start']}-{time_range['end']}"


# -- checking a schedule's ranges (its shape is the schema's) ------------------


def problems(schedule):
    """Field errors of a schedule's ranges, shaped like marshmallow's ({"weekly": {"friday": {0: [...]}}}).

    Empty ranges, ranges of a day that overlap, a range crossing midnight
    that overlaps the next day's, and exception dates given twice.
    """
    errors = {}

    def add(path, message):
        node = errors
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node.setdefault(path[-1], []).append(message)

    weekly = schedule.get("weekly") or {}
    for day in DAYS:
        for index, time_range in enumerate(weekly.get(day) or []):
            if time_range["start"] == time_range["end"]:
                add(("weekly", day, index, "end"), "A range cannot be empty: end must differ from start "
                                                    "(00:00-24:00 is the whole day).")
    exceptions = schedule.get("exceptions") or []
    seen = {}
    for index, exception in enumerate(exceptions):
        day = _as_date(exception["date"])
        if day in seen:
            add(("exceptions", index, "date"), f"{day.isoformat()} is already exceptions[{seen[day]}].")
        else:
            seen[day] = index
        for position, time_range in enumerate(exception["ranges"]):
            if time_range["start"] == time_range["end"]:
                add(("exceptions", index, "ranges", position, "end"),
                    "A range cannot be empty: end must differ from start (00:00-24:00 is the whole day).")
    if errors:
        return errors
    # The week wraps: Sunday's range crossing midnight runs into Monday.
    spans = []
    for day_index, day in enumerate(DAYS):
        for index, time_range in enumerate(weekly.get(day) or []):
            start, end = span(time_range)
            base, label = day_index * MINUTES_PER_DAY, f"{day} {_label(time_range)}"
            spans.append((base + start, base + end, ("weekly", day, index), label))
            if base + end > WEEK_MINUTES:
                spans.append((0, base + end - WEEK_MINUTES, ("weekly", day, index), label))
    for (path, _), (_, other_label) in _overlaps(spans):
        add(path, f"Overlaps {other_label}.")
    # An exception against the day before it and the day after it (each as it really is on that date).
    by_date = {_as_date(exception["date"]): (index, exception) for index, exception in enumerate(exceptions)}
    reported = set()
    for day in by_date:
        for first in (day - timedelta(days=1), day):
            spans = []
            for offset, current in enumerate((first, first + timedelta(days=1))):
                for path, label, time_range in _day_ranges(weekly, by_date, current):
                    start, end = span(time_range)
                    base = offset * MINUTES_PER_DAY
                    spans.append((base + start, base + end, path, f"{current.isoformat()} {label}"))
            for later, earlier in _overlaps(spans):
                # Reported on the exception's range: weekly ranges among themselves were checked above.
                path, other = (later, earlier) if later[0][0] == "exceptions" else (earlier, later)
                if path[0][0] == "exceptions" and (path[0], other[1]) not in reported:
                    reported.add((path[0], other[1]))
                    add(path[0], f"Overlaps {other[1]}.")
    return errors


def _day_ranges(weekly, by_date, day):
    if day in by_date:
        index, exception = by_date[day]
        return [(("exceptions", index, "ranges", position), _label(r), r)
                for position, r in enumerate(exception["ranges"])]
    name = DAYS[day.weekday()]
    return [(("weekly", name, position), f"({name}) {_label(r)}", r)
            for position, r in enumerate(weekly.get(name) or [])]


def _overlaps(spans):
    """((path, label), (other_path, other_label)) for each span starting before an earlier-starting one ends."""
    found = []
    ordered = sorted(spans, key=lambda s: (s[0], s[1]))
    for i, (start, _, path, label) in enumerate(ordered):
        for _, other_end, other_path, other_label in ordered[:i]:
            if other_end > start and other_path != path:
                found.append(((path, label), (other_path, other_label)))
                break
    return found


# -- open or closed ---------------------------------------------------------------


def zone(schedule):
    return ZoneInfo(schedule["timezone"])


def _as_date(value):
    return value if isinstance(value, date) else date.fromisoformat(value)


def ranges_of(schedule, day):
    """The ranges that start on a local date: its exception's if it has one, else its weekday's."""
    for exception in schedule.get("exceptions") or []:
        if _as_date(exception["date"]) == day:
            return exception["ranges"]
    return (schedule.get("weekly") or {}).get(DAYS[day.weekday()]) or []


def instant(day, minute, tz):
    """The UTC instant of a wall-clock time, minute minutes after the start of a local date.

    A repeated time is its first occurrence; a skipped one is the instant the clocks jumped.
    """
    day, minute = day + timedelta(days=minute // MINUTES_PER_DAY), minute % MINUTES_PER_DAY
    wall = datetime.combine(day, time(minute // 60, minute % 60))
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first
    # Skipped: fold=1 reads it with the offset after the change, fold=0 with the one before; the jump lies between.
    low = int(wall.replace(tzinfo=tz, fold=1).astimezone(UTC).timestamp())
    high = int(first.timestamp())
    if low > high:
        low, high = high, low
    while low < high:  # the first second whose wall clock is past the skipped time
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, UTC).astimezone(tz).replace(tzinfo=None) > wall:
            high = middle
        else:
            low = middle + 1
    return datetime.fromtimestamp(low, UTC)


def intervals(schedule, day):
    """The real [start, end) instants of the ranges starting on a local date; empty ones left out."""
    tz = zone(schedule)
    found = []
    for time_range in ranges_of(schedule, day):
        start, end = span(time_range)
        opens, closes = instant(day, start, tz), instant(day, end, tz)
        if closes > opens:
            found.append((opens, closes))
    return sorted(found)


def is_open(schedule, now):
    """Whether the schedule is open at an aware instant (no schedule, or a disabled one, is always open)."""
    if not schedule or not schedule.get("enabled"):
        return True
    today = now.astimezone(zone(schedule)).date()
    return any(opens <= now < closes for day in (today - timedelta(days=1), today)
               for opens, closes in intervals(schedule, day))


def next_opening(schedule, now):
    """The first instant after now at which a closed schedule opens; None when open now or none is found.

    Searches SEARCH_DAYS days, one more per exception, and every exception's date that is still to come.
    """
    if is_open(schedule, now):
        return None
    today = now.astimezone(zone(schedule)).date()
    exceptions = schedule.get("exceptions") or []
    horizon = today + timedelta(days=SEARCH_DAYS + len(exceptions))
    days = {today - timedelta(days=1) + timedelta(days=n) for n in range((horizon - today).days + 2)}
    days |= {d for d in (_as_date(e["date"]) for e in exceptions) if d >= today}
    # Wall-clock order is real-time order, so the first date with a later opening has the first opening.
    for day in sorted(days):
        later = [opens for opens, _ in intervals(schedule, day) if opens > now]
        if later:
            return later[0]
    return None


def availability(schedule, now):
    """What the widget is told: {open, next_open_at, timezone}."""
    if not schedule or not schedule.get("enabled"):
        return {"open": True, "next_open_at": None, "timezone": schedule.get("timezone") if schedule else None}
    return {"open": is_open(schedule, now), "next_open_at": next_opening(schedule, now),
            "timezone": schedule["timezone"]}
