"""Business hours, the pure part: open or closed at an instant, the next opening, DST days, checking ranges."""
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.business_hours import availability, instant, intervals, is_open, next_opening, problems

BERLIN, NEW_YORK = "Europe/Berlin", "America/New_York"
NINE_TO_FIVE = [{"start": "09:00", "end": "17:00"}]
EMPTY = "A range cannot be empty: end must differ from start (00:00-24:00 is the whole day)."


def schedule(timezone=BERLIN, exceptions=(), enabled=True, **days):
    return {"enabled": enabled, "timezone": timezone, "weekly": {day: list(ranges) for day, ranges in days.items()},
            "exceptions": list(exceptions), "outside_hours_message": None}


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def local(zone, *args, fold=0):
    return datetime(*args, tzinfo=ZoneInfo(zone), fold=fold).astimezone(UTC)


WEEKDAYS_NINE_TO_FIVE = schedule(**{day: NINE_TO_FIVE for day in ("monday", "tuesday", "wednesday", "thursday",
                                                                  "friday")})


# -- without a schedule -----------------------------------------------------------


@pytest.mark.parametrize("hours", [None, {}, schedule(enabled=False)])
def test_no_schedule_or_a_disabled_one_is_always_open(hours):
    now = utc(2026, 12, 25, 3, 0)
    assert is_open(hours, now) is True
    assert next_opening(hours, now) is None
    assert availability(hours, now)["open"] is True and availability(hours, now)["next_open_at"] is None


def test_a_disabled_schedule_still_tells_its_zone():
    assert availability(schedule(enabled=False), utc(2026, 12, 1)) == {
        "open": True, "next_open_at": None, "timezone": BERLIN}
    assert availability(None, utc(2026, 12, 1))["timezone"] is None


# -- a plain week -------------------------------------------------------------------


@pytest.mark.parametrize(("moment", "expected"), [
    (local(BERLIN, 2026, 12, 1, 8, 59), False),   # Tuesday, a minute before
    (local(BERLIN, 2026, 12, 1, 9, 0), True),     # the start is inclusive
    (local(BERLIN, 2026, 12, 1, 16, 59), True),
    (local(BERLIN, 2026, 12, 1, 17, 0), False),   # the end is exclusive
    (local(BERLIN, 2026, 12, 5, 12, 0), False),   # Saturday
])
def test_weekday_ranges_are_read_in_the_schedules_zone(moment, expected):
    assert is_open(WEEKDAYS_NINE_TO_FIVE, moment) is expected


def test_the_zone_matters_not_the_utc_clock():
    # 08:30 UTC is 09:30 in Berlin (open) and 03:30 in New York (closed).
    moment = utc(2026, 12, 1, 8, 30)
    assert is_open(WEEKDAYS_NINE_TO_FIVE, moment)
    assert not is_open({**WEEKDAYS_NINE_TO_FIVE, "timezone": NEW_YORK}, moment)


def test_several_ranges_a_day_leave_the_gap_closed():
    hours = schedule(monday=[{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}])
    assert is_open(hours, local(BERLIN, 2026, 11, 30, 11, 59))
    assert not is_open(hours, local(BERLIN, 2026, 11, 30, 12, 30))
    assert next_opening(hours, local(BERLIN, 2026, 11, 30, 12, 30)) == local(BERLIN, 2026, 11, 30, 13, 0)
    assert is_open(hours, local(BERLIN, 2026, 11, 30, 13, 0))


def test_end_24_00_is_the_end_of_the_day():
    hours = schedule(monday=[{"start": "20:00", "end": "24:00"}])
    assert is_open(hours, local(BERLIN, 2026, 11, 30, 23, 59))
    assert not is_open(hours, local(BERLIN, 2026, 12, 1, 0, 0))


# -- crossing midnight ------------------------------------------------------------------


def test_a_range_ending_before_its_start_runs_into_the_next_day():
    hours = schedule(friday=[{"start": "22:00", "end": "02:00"}])
    assert not is_open(hours, local(BERLIN, 2026, 12, 4, 21, 59))
    assert is_open(hours, local(BERLIN, 2026, 12, 4, 22, 0))
    assert is_open(hours, local(BERLIN, 2026, 12, 5, 1, 59))   # Saturday, from Friday's range
    assert not is_open(hours, local(BERLIN, 2026, 12, 5, 2, 0))
    assert not is_open(hours, local(BERLIN, 2026, 12, 5, 22, 30))  # Saturday has no range of its own


def test_sundays_range_crossing_midnight_runs_into_monday():
    hours = schedule(sunday=[{"start": "23:00", "end": "01:00"}])
    assert is_open(hours, local(BERLIN, 2026, 12, 7, 0, 30))


def test_end_00_00_is_midnight_like_24_00():
    hours = schedule(monday=[{"start": "20:00", "end": "00:00"}])
    assert intervals(hours, date(2026, 11, 30)) == [(local(BERLIN, 2026, 11, 30, 20, 0), local(BERLIN, 2026, 12, 1, 0))]


def test_a_range_crossing_midnight_still_runs_into_a_closed_exception_day():
    hours = schedule(thursday=[{"start": "22:00", "end": "02:00"}], exceptions=[{"date": "2026-12-25", "ranges": []}])
    assert is_open(hours, local(BERLIN, 2026, 12, 25, 1, 0))
    assert not is_open(hours, local(BERLIN, 2026, 12, 25, 3, 0))


# -- exceptions ----------------------------------------------------------------------------


def test_a_closed_exception_day_is_closed_all_day():
    hours = {**WEEKDAYS_NINE_TO_FIVE, "exceptions": [{"date": "2026-12-25", "ranges": []}]}  # a Friday
    assert not is_open(hours, local(BERLIN, 2026, 12, 25, 12, 0))
    assert is_open(hours, local(BERLIN, 2026, 12, 24, 12, 0))


def test_a_special_opening_replaces_the_weekday_ranges():
    hours = {**WEEKDAYS_NINE_TO_FIVE, "exceptions": [
        {"date": "2026-12-24", "ranges": [{"start": "09:00", "end": "12:00"}]},   # Thursday, short
        {"date": "2026-12-27", "ranges": [{"start": "10:00", "end": "14:00"}]},   # Sunday, open
    ]}
    assert is_open(hours, local(BERLIN, 2026, 12, 24, 11, 0))
    assert not is_open(hours, local(BERLIN, 2026, 12, 24, 15, 0))
    assert is_open(hours, local(BERLIN, 2026, 12, 27, 10, 0))
    assert not is_open(hours, local(BERLIN, 2026, 12, 20, 10, 0))  # another Sunday


# -- the next opening ----------------------------------------------------------------------------


def test_next_opening_is_none_while_open():
    assert next_opening(WEEKDAYS_NINE_TO_FIVE, local(BERLIN, 2026, 12, 1, 10, 0)) is None


def test_next_opening_later_the_same_day():
    assert next_opening(WEEKDAYS_NINE_TO_FIVE, local(BERLIN, 2026, 12, 1, 7, 0)) == local(BERLIN, 2026, 12, 1, 9, 0)


def test_next_opening_across_a_weekend():
    friday_evening = local(BERLIN, 2026, 12, 4, 18, 0)
    assert next_opening(WEEKDAYS_NINE_TO_FIVE, friday_evening) == local(BERLIN, 2026, 12, 7, 9, 0)


def test_next_opening_across_a_weekend_and_holidays():
    hours = {**WEEKDAYS_NINE_TO_FIVE, "exceptions": [{"date": "2026-12-25", "ranges": []},
                                                      {"date": "2026-12-28", "ranges": []}]}
    thursday_evening = local(BERLIN, 2026, 12, 24, 18, 0)
    assert next_opening(hours, thursday_evening) == local(BERLIN, 2026, 12, 29, 9, 0)


def test_next_opening_on_a_special_opening_day_far_ahead():
    hours = schedule(exceptions=[{"date": "2027-06-01", "ranges": [{"start": "10:00", "end": "11:00"}]}])
    assert next_opening(hours, utc(2026, 12, 1)) == local(BERLIN, 2027, 6, 1, 10, 0)


def test_next_opening_is_none_when_nothing_ever_opens():
    hours = schedule()
    assert not is_open(hours, utc(2026, 12, 1))
    assert next_opening(hours, utc(2026, 12, 1)) is None


def test_closed_days_beyond_two_weeks_are_searched_past():
    # Weekdays open, but the next 30 weekdays are holidays: one more day is searched per exception.
    holidays, day = [], date(2026, 12, 1)
    while len(holidays) < 30:
        if day.weekday() < 5:
            holidays.append({"date": day.isoformat(), "ranges": []})
        day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    assert day > date(2026, 12, 1) + timedelta(days=14)
    hours = {**WEEKDAYS_NINE_TO_FIVE, "exceptions": holidays}
    assert next_opening(hours, utc(2026, 12, 1)) == local(BERLIN, day.year, day.month, day.day, 9, 0)


def test_availability_gives_the_widgets_shape():
    assert availability(WEEKDAYS_NINE_TO_FIVE, local(BERLIN, 2026, 12, 5, 12, 0)) == {
        "open": False, "next_open_at": local(BERLIN, 2026, 12, 7, 9, 0), "timezone": BERLIN}


# -- daylight saving time ----------------------------------------------------------------------
# Europe/Berlin: 2026-03-29 02:00 CET -> 03:00 CEST; 2026-10-25 03:00 CEST -> 02:00 CET.
# America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST.


@pytest.mark.parametrize(("zone", "day", "real_hours", "opens_utc", "closes_utc"), [
    (BERLIN, date(2026, 3, 29), 2, utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 2, 0)),
    (BERLIN, date(2026, 10, 25), 4, utc(2026, 10, 24, 23, 0), utc(2026, 10, 25, 3, 0)),
    (NEW_YORK, date(2026, 3, 8), 2, utc(2026, 3, 8, 6, 0), utc(2026, 3, 8, 8, 0)),
    (NEW_YORK, date(2026, 11, 1), 4, utc(2026, 11, 1, 5, 0), utc(2026, 11, 1, 9, 0)),
])
def test_a_range_across_the_change_keeps_its_wall_clock_times(zone, day, real_hours, opens_utc, closes_utc):
    hours = schedule(zone, sunday=[{"start": "01:00", "end": "04:00"}])
    assert intervals(hours, day) == [(opens_utc, closes_utc)]
    assert closes_utc - opens_utc == timedelta(hours=real_hours)
    assert is_open(hours, opens_utc) and is_open(hours, closes_utc - timedelta(seconds=1))
    assert not is_open(hours, closes_utc) and not is_open(hours, opens_utc - timedelta(seconds=1))


@pytest.mark.parametrize(("zone", "day", "jump_utc"), [
    (BERLIN, date(2026, 3, 29), utc(2026, 3, 29, 1, 0)),
    (NEW_YORK, date(2026, 3, 8), utc(2026, 3, 8, 7, 0)),
])
def test_a_skipped_time_is_the_instant_the_clocks_jumped(zone, day, jump_utc):
    tz = ZoneInfo(zone)
    assert instant(day, 2 * 60 + 30, tz) == jump_utc   # 02:30 does not exist that night
    assert instant(day, 2 * 60, tz) == jump_utc
    # A range inside the skipped hour is empty, not an error; ranges around it still count.
    hours = schedule(zone, sunday=[{"start": "02:00", "end": "02:45"}, {"start": "02:45", "end": "05:00"}])
    assert intervals(hours, day) == [(jump_utc, instant(day, 5 * 60, tz))]
    assert is_open(hours, jump_utc)
    assert not is_open(hours, jump_utc - timedelta(seconds=1))


@pytest.mark.parametrize(("zone", "day", "first_utc", "repeat_utc"), [
    (BERLIN, date(2026, 10, 25), utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)),
    (NEW_YORK, date(2026, 11, 1), utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 30)),
])
def test_a_repeated_time_is_its_first_occurrence(zone, day, first_utc, repeat_utc):
    tz = ZoneInfo(zone)
    repeated = (2 if zone == BERLIN else 1) * 60 + 30  # 02:30 in Berlin, 01:30 in New York
    assert instant(day, repeated, tz) == first_utc
    assert local(zone, day.year, day.month, day.day, repeated // 60, 30, fold=1) == repeat_utc
    # Adjacent ranges meeting at a repeated time neither overlap nor leave a hole: no double count.
    text = f"{repeated // 60:02d}:30"
    hours = schedule(zone, sunday=[{"start": "00:00", "end": text}, {"start": text, "end": "06:00"}])
    (first_opens, first_closes), (second_opens, second_closes) = intervals(hours, day)
    assert first_closes == second_opens == first_utc
    assert second_closes - first_opens == timedelta(hours=7)  # 00:00 to 06:00 on a 25-hour day
    assert is_open(hours, repeat_utc)  # the second pass of the repeated hour is inside the later range


@pytest.mark.parametrize(("zone", "saturday", "sunday_range", "now_local", "expected_utc"), [
    (BERLIN, date(2026, 3, 28), {"start": "03:00", "end": "05:00"}, (2026, 3, 29, 0, 30), utc(2026, 3, 29, 1, 0)),
    (NEW_YORK, date(2026, 11, 1), {"start": "03:00", "end": "05:00"}, (2026, 11, 1, 1, 30), utc(2026, 11, 1, 8, 0)),
])
def test_next_opening_on_a_change_day(zone, saturday, sunday_range, now_local, expected_utc):
    hours = schedule(zone, sunday=[sunday_range])
    assert next_opening(hours, local(zone, *now_local)) == expected_utc


def test_a_range_crossing_midnight_into_a_change_day():
    # Saturday 22:00 to Sunday 04:00 in Berlin, the night the clocks go forward: 5 real hours.
    hours = schedule(saturday=[{"start": "22:00", "end": "04:00"}])
    ((opens, closes),) = intervals(hours, date(2026, 3, 28))
    assert (opens, closes) == (utc(2026, 3, 28, 21, 0), utc(2026, 3, 29, 2, 0))
    assert is_open(hours, utc(2026, 3, 29, 1, 59))


def test_every_minute_of_a_change_day_maps_without_error_and_in_order():
    for zone, day in ((BERLIN, date(2026, 3, 29)), (BERLIN, date(2026, 10, 25)),
                      (NEW_YORK, date(2026, 3, 8)), (NEW_YORK, date(2026, 11, 1))):
        tz = ZoneInfo(zone)
        instants = [instant(day, minute, tz) for minute in range(24 * 60 + 1)]
        assert instants == sorted(instants)


# -- checking a schedule's ranges ------------------------------------------------------------------------


def test_a_valid_schedule_has_no_problems():
    hours = schedule(friday=[{"start": "09:00", "end": "12:00"}, {"start": "12:00", "end": "17:00"},
                             {"start": "22:00", "end": "02:00"}],
                     saturday=[{"start": "02:00", "end": "05:00"}],
                     exceptions=[{"date": "2026-12-25", "ranges": []}])
    assert problems(hours) == {}


@pytest.mark.parametrize(("days", "exceptions", "expected"), [
    ({"monday": [{"start": "09:00", "end": "09:00"}]}, [],
     {"weekly": {"monday": {0: {"end": [EMPTY]}}}}),
    ({"monday": [{"start": "09:00", "end": "12:00"}, {"start": "11:00", "end": "13:00"}]}, [],
     {"weekly": {"monday": {1: ["Overlaps monday 09:00-12:00."]}}}),
    ({"friday": [{"start": "22:00", "end": "02:00"}], "saturday": [{"start": "01:00", "end": "03:00"}]}, [],
     {"weekly": {"saturday": {0: ["Overlaps friday 22:00-02:00."]}}}),
    ({"sunday": [{"start": "23:00", "end": "01:00"}], "monday": [{"start": "00:30", "end": "05:00"}]}, [],
     {"weekly": {"monday": {0: ["Overlaps sunday 23:00-01:00."]}}}),
    ({}, [{"date": "2026-12-25", "ranges": []}, {"date": "2026-12-25", "ranges": []}],
     {"exceptions": {1: {"date": ["2026-12-25 is already exceptions[0]."]}}}),
    ({}, [{"date": "2026-12-25", "ranges": [{"start": "10:00", "end": "12:00"}, {"start": "11:00", "end": "13:00"}]}],
     {"exceptions": {0: {"ranges": {1: ["Overlaps 2026-12-25 10:00-12:00."]}}}}),
    # The exception's range crossing midnight against the next day's weekly range, and the reverse.
    ({"saturday": [{"start": "01:00", "end": "03:00"}]},
     [{"date": "2026-12-25", "ranges": [{"start": "23:00", "end": "02:00"}]}],
     {"exceptions": {0: {"ranges": {0: ["Overlaps 2026-12-26 (saturday) 01:00-03:00."]}}}}),
    ({"thursday": [{"start": "23:00", "end": "01:00"}]},
     [{"date": "2026-12-25", "ranges": [{"start": "00:00", "end": "02:00"}]}],
     {"exceptions": {0: {"ranges": {0: ["Overlaps 2026-12-24 (thursday) 23:00-01:00."]}}}}),
])
def test_problems_name_the_field(days, exceptions, expected):
    assert problems(schedule(exceptions=exceptions, **days)) == expected


def test_an_exception_replacing_an_overlapping_weekday_is_fine():
    # Friday's weekly range would overlap the exception's; the exception replaces it on that date.
    hours = schedule(thursday=[{"start": "22:00", "end": "02:00"}], friday=[{"start": "01:00", "end": "05:00"}],
                     exceptions=[])
    assert problems(hours)  # the weekly clash itself is refused
    hours["weekly"]["friday"] = [{"start": "03:00", "end": "05:00"}]
    hours["exceptions"] = [{"date": "2026-12-24", "ranges": [{"start": "09:00", "end": "12:00"}]}]
    assert problems(hours) == {}
