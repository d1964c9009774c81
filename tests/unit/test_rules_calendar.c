/*
 * mrl_calendar.c: China-time days and their midnight at 16:00 UTC, month
 * starts across December to January, the tier period and a lot's expiry,
 * birthdays on 29 February of leap and common years, the days of the
 * rules and the fold; gmtime_r as the reference over a sweep.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "member_rules.h"


/* China midnight is 16:00 UTC the evening before */

static void
test_china_day(void **state)
{
    char    day[MRL_DAY_LEN + 1];
    size_t  len;

    (void) state;

    assert_int_equal(mrl_china_day(1769875199, day, sizeof(day), &len),
                     MRL_OK);                   /* 2026-01-31T15:59:59Z */
    assert_string_equal(day, "2026-01-31");
    assert_int_equal(len, MRL_DAY_LEN);

    assert_int_equal(mrl_china_day(1769875200, day, sizeof(day), &len),
                     MRL_OK);                   /* 2026-01-31T16:00:00Z */
    assert_string_equal(day, "2026-02-01");

    /* the last second of 2026 in China, and the first of 2027 */
    assert_int_equal(mrl_china_day(1798732799, day, sizeof(day), NULL),
                     MRL_OK);
    assert_string_equal(day, "2026-12-31");
    assert_int_equal(mrl_china_day(1798732800, day, sizeof(day), NULL),
                     MRL_OK);
    assert_string_equal(day, "2027-01-01");

    assert_int_equal(mrl_china_day(0, day, sizeof(day), NULL), MRL_OK);
    assert_string_equal(day, "1970-01-01");
    assert_int_equal(mrl_china_day(MRL_TIME_MAX, day, sizeof(day), NULL),
                     MRL_OK);
    assert_string_equal(day, "9999-12-31");

    assert_int_equal(mrl_china_day(MRL_TIME_MAX + 1, day, sizeof(day),
                                   NULL),
                     MRL_BAD_ARG);
    assert_int_equal(mrl_china_day(-1, day, sizeof(day), NULL),
                     MRL_BAD_ARG);
    assert_int_equal(mrl_china_day(0, NULL, 11, NULL), MRL_BAD_ARG);

    memset(day, 'x', sizeof(day));
    assert_int_equal(mrl_china_day(0, day, MRL_DAY_LEN, NULL),
                     MRL_TOO_SMALL);
    assert_int_equal(day[0], 'x');

    assert_int_equal(mrl_china_day_number(1769875199), 20484);
    assert_int_equal(mrl_china_day_number(1769875200), 20485);
    assert_int_equal(mrl_china_hour(1769875199), 23);
    assert_int_equal(mrl_china_hour(1769875200), 0);
    assert_int_equal(mrl_china_hour(1769875200 + 4 * 3600), 4);
}


/* the broken-down time against the C library's, every 7 hours 13 s */

static void
test_tm_against_gmtime(void **state)
{
    int64_t    t;
    mrl_tm_t   tm;
    struct tm  ref;
    time_t     tt;

    (void) state;

    for (t = 0; t < INT64_C(4200000000); t += 7 * 3600 + 13) {
        tt = (time_t) t;
        assert_non_null(gmtime_r(&tt, &ref));
        assert_int_equal(mrl_utc_tm(t, &tm), MRL_OK);

        assert_int_equal(tm.year, ref.tm_year + 1900);
        assert_int_equal(tm.mon, ref.tm_mon + 1);
        assert_int_equal(tm.mday, ref.tm_mday);
        assert_int_equal(tm.hour, ref.tm_hour);
        assert_int_equal(tm.min, ref.tm_min);
        assert_int_equal(tm.sec, ref.tm_sec);
        assert_int_equal(tm.wday, ref.tm_wday);

        assert_int_equal(mrl_day_month(t / 86400), ref.tm_mon + 1);
        assert_int_equal(mrl_days_from_civil(tm.year, tm.mon, tm.mday),
                         t / 86400);
    }

    assert_int_equal(mrl_china_tm(1769875200, &tm), MRL_OK);
    assert_int_equal(tm.year, 2026);
    assert_int_equal(tm.mon, 2);
    assert_int_equal(tm.mday, 1);
    assert_int_equal(tm.hour, 0);
    assert_int_equal(tm.wday, 0);               /* a Sunday */

    assert_int_equal(mrl_utc_tm(0, NULL), MRL_BAD_ARG);
    assert_int_equal(mrl_china_tm(-1, &tm), MRL_BAD_ARG);
}


static void
test_month_days(void **state)
{
    (void) state;

    assert_int_equal(mrl_month_days(2028, 2), 29);
    assert_int_equal(mrl_month_days(2027, 2), 28);
    assert_int_equal(mrl_month_days(2100, 2), 28);
    assert_int_equal(mrl_month_days(2000, 2), 29);
    assert_int_equal(mrl_month_days(2026, 12), 31);
    assert_int_equal(mrl_month_days(2026, 4), 30);
    assert_int_equal(mrl_month_days(2026, 0), 0);
    assert_int_equal(mrl_month_days(2026, 13), 0);

    /* the analytics' birthday_month: the day a month begins */
    assert_int_equal(mrl_day_month(20512), 2);          /* 2026-02-28 */
    assert_int_equal(mrl_day_month(20513), 3);          /* 2026-03-01 */
    assert_int_equal(mrl_day_month(0), 1);
}


/* month indexes and starts, across December to January */

static void
test_month_start(void **state)
{
    (void) state;

    assert_int_equal(mrl_month_index(1798732799), 2026 * 12 + 11);
    assert_int_equal(mrl_month_index(1798732800), 2027 * 12 + 0);

    assert_int_equal(mrl_month_start(2027 * 12 + 0), 1798732800);
    assert_int_equal(mrl_month_start(2026 * 12 + 0), 1767196800);
    assert_int_equal(mrl_month_start(2026 * 12 + 6), 1782835200);
    assert_int_equal(mrl_month_start(2027 * 12 + 1), 1801411200);
}


/* the lot's expiry and the tier period */

static void
test_moment(void **state)
{
    mrl_moment_t  mo;

    (void) state;

    /* 2026-12-15 12:00 China: one month after is January, ends 1 Feb */
    assert_int_equal(mrl_moment(1797307200, 1, 12, &mo), MRL_OK);
    assert_string_equal(mo.today, "2026-12-15");
    assert_int_equal(mo.lot, 1801411200);               /* 2027-02-01 */
    assert_int_equal(mo.period, 2026);
    assert_int_equal(mo.period_end, 1798732800);        /* 2027-01-01 */

    assert_int_equal(mrl_moment(1797307200, 12, 12, &mo), MRL_OK);
    assert_int_equal(mo.lot, 1830268800);               /* 2028-01-01 */

    assert_int_equal(mrl_moment(1797307200, 0, 12, &mo), MRL_OK);
    assert_int_equal(mo.lot, 0);

    /* the last second of a period, then the first of the next */
    assert_int_equal(mrl_moment(1798732799, 0, 12, &mo), MRL_OK);
    assert_int_equal(mo.period, 2026);
    assert_int_equal(mo.period_end, 1798732800);
    assert_int_equal(mrl_moment(1798732800, 0, 12, &mo), MRL_OK);
    assert_int_equal(mo.period, 2027);
    assert_string_equal(mo.today, "2027-01-01");

    /* half years: 2026-06-30 ends one, 2026-07-01 begins the next */
    assert_int_equal(mrl_moment(1782835199, 0, 6, &mo), MRL_OK);
    assert_int_equal(mo.period, (2026 * 12 + 5) / 6);
    assert_int_equal(mo.period_end, 1782835200);
    assert_int_equal(mrl_moment(1782835200, 0, 6, &mo), MRL_OK);
    assert_int_equal(mo.period, (2026 * 12 + 6) / 6);
    assert_int_equal(mo.period_end, 1798732800);

    /* a period of 0 months is a year */
    assert_int_equal(mrl_moment(1797307200, 0, 0, &mo), MRL_OK);
    assert_int_equal(mo.period, 2026);

    assert_int_equal(mrl_moment(1797307200, -1, 12, &mo), MRL_BAD_ARG);
    assert_int_equal(mrl_moment(1797307200, MRL_MONTHS_MAX + 1, 12, &mo),
                     MRL_BAD_ARG);
    assert_int_equal(mrl_moment(1797307200, 1, MRL_MONTHS_MAX + 1, &mo),
                     MRL_BAD_ARG);
    assert_int_equal(mrl_moment(-1, 1, 12, &mo), MRL_BAD_ARG);
    assert_int_equal(mrl_moment(0, 1, 12, NULL), MRL_BAD_ARG);
}


/* 29 February: its own day in a leap year, the 28th in a common one */

static void
test_birthday(void **state)
{
    mrl_birthday_t  b;

    (void) state;

    assert_int_equal(mrl_birthday(1803744000, &b), MRL_OK);
    assert_int_equal(b.year, 2027);
    assert_string_equal(b.today, "2027-02-28");
    assert_string_equal(b.mmdd, "0228");
    assert_string_equal(b.also, "0229");

    assert_int_equal(mrl_birthday(1803744000 - 1, &b), MRL_OK);
    assert_string_equal(b.mmdd, "0227");
    assert_string_equal(b.also, "");

    assert_int_equal(mrl_birthday(1835280000, &b), MRL_OK);
    assert_string_equal(b.today, "2028-02-28");
    assert_string_equal(b.also, "");

    assert_int_equal(mrl_birthday(1835366400, &b), MRL_OK);
    assert_string_equal(b.mmdd, "0229");
    assert_string_equal(b.also, "");

    assert_int_equal(mrl_birthday(4107427200, &b), MRL_OK);
    assert_string_equal(b.today, "2100-02-28");     /* no leap year */
    assert_string_equal(b.also, "0229");

    assert_int_equal(mrl_birthday(951667200, &b), MRL_OK);
    assert_string_equal(b.today, "2000-02-28");     /* a leap year */
    assert_string_equal(b.also, "");

    assert_int_equal(mrl_birthday(0, NULL), MRL_BAD_ARG);
    assert_int_equal(mrl_birthday(-5, &b), MRL_BAD_ARG);
}


/* the days of the rules' campaigns and of the fold's daily totals */

static void
test_day_parse(void **state)
{
    int64_t  t;

    (void) state;

    assert_int_equal(mrl_day_parse("2026-02-28", 10, &t), MRL_OK);
    assert_int_equal(t, 1772236800);
    assert_int_equal(mrl_day_parse("2028-02-29", 10, &t), MRL_OK);
    assert_int_equal(t, 1835395200);
    assert_int_equal(mrl_day_parse("2000-01-01", 10, NULL), MRL_OK);
    assert_int_equal(mrl_day_parse("2999-12-31", 10, NULL), MRL_OK);

    assert_int_equal(mrl_day_parse("2027-02-29", 10, &t), MRL_MALFORMED);
    assert_int_equal(mrl_day_parse("2026-02-30", 10, &t), MRL_MALFORMED);
    assert_int_equal(mrl_day_parse("2026-04-31", 10, &t), MRL_MALFORMED);
    assert_int_equal(mrl_day_parse("2026-13-01", 10, &t), MRL_MALFORMED);
    assert_int_equal(mrl_day_parse("2026-00-01", 10, &t), MRL_MALFORMED);
    assert_int_equal(mrl_day_parse("2026-01-00", 10, &t), MRL_MALFORMED);
    assert_int_equal(mrl_day_parse("1999-12-31", 10, &t), MRL_MALFORMED);
    assert_int_equal(mrl_day_parse("3000-01-01", 10, &t), MRL_MALFORMED);
    assert_int_equal(mrl_day_parse("2026/01/01", 10, &t), MRL_MALFORMED);
    assert_int_equal(mrl_day_parse("2026-1-011", 10, &t), MRL_MALFORMED);
    assert_int_equal(mrl_day_parse("2026-01-+1", 10, &t), MRL_MALFORMED);
    assert_int_equal(mrl_day_parse(" 026-01-01", 10, &t), MRL_MALFORMED);
    assert_int_equal(mrl_day_parse("2026-01-01", 9, &t), MRL_MALFORMED);
    assert_int_equal(mrl_day_parse("2026-01-011", 11, &t), MRL_MALFORMED);
    assert_int_equal(mrl_day_parse(NULL, 10, &t), MRL_BAD_ARG);
}


static void
test_strerror(void **state)
{
    int          rc, i;
    const char  *names[MRL_NO_MEMORY + 1];

    (void) state;

    for (rc = MRL_OK; rc <= MRL_NO_MEMORY; rc++) {
        names[rc] = mrl_strerror((mrl_status_t) rc);
        assert_string_not_equal(names[rc], "invalid_status");

        for (i = 0; i < rc; i++) {
            assert_string_not_equal(names[i], names[rc]);
        }
    }

    assert_string_equal(mrl_strerror(MRL_BAD_RULES), "bad_rules");
    assert_string_equal(mrl_strerror((mrl_status_t) 99), "invalid_status");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_china_day),
        cmocka_unit_test(test_tm_against_gmtime),
        cmocka_unit_test(test_month_days),
        cmocka_unit_test(test_month_start),
        cmocka_unit_test(test_moment),
        cmocka_unit_test(test_birthday),
        cmocka_unit_test(test_day_parse),
        cmocka_unit_test(test_strerror),
    };

    return cmocka_run_group_tests_name("rules_calendar", tests, NULL, NULL);
}
