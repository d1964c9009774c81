/*
 * The brand's calendar: China time (UTC+8), days, month ends, the tier
 * period, the expiry of a points lot and birthdays.  The civil-date
 * conversions are Howard Hinnant's "chrono-compatible low-level date
 * algorithms" (exact for every day of the proleptic Gregorian calendar).
 */

#include <stdio.h>
#include "member_rules.h"


static void mrl_civil_from_days(int64_t z, int64_t *y, int *m, int *d);
static int mrl_digits(const char *s, size_t n, int *out);


int64_t
mrl_days_from_civil(int64_t y, int m, int d)
{
    int64_t  era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}


static void
mrl_civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t  era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;

    *d = (int) (doy - (153 * mp + 2) / 5 + 1);
    *m = (int) (mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}


int
mrl_month_days(int64_t y, int m)
{
    if (m < 1 || m > 12) {
        return 0;
    }

    return (int) (mrl_days_from_civil(m == 12 ? y + 1 : y,
                                      m == 12 ? 1 : m + 1, 1)
                  - mrl_days_from_civil(y, m, 1));
}


mrl_status_t
mrl_utc_tm(int64_t t, mrl_tm_t *tm)
{
    int64_t  days, secs, y;

    if (tm == NULL || t < 0 || t > MRL_TIME_MAX + MRL_TZ) {
        return MRL_BAD_ARG;
    }

    days = t / 86400;
    secs = t % 86400;

    mrl_civil_from_days(days, &y, &tm->mon, &tm->mday);

    tm->year = (int) y;
    tm->hour = (int) (secs / 3600);
    tm->min = (int) (secs % 3600 / 60);
    tm->sec = (int) (secs % 60);
    tm->wday = (int) ((4 + days) % 7);     /* 1970-01-01 was a Thursday */

    return MRL_OK;
}


mrl_status_t
mrl_china_tm(int64_t t, mrl_tm_t *tm)
{
    if (t < 0 || t > MRL_TIME_MAX) {
        return MRL_BAD_ARG;
    }

    return mrl_utc_tm(t + MRL_TZ, tm);
}


mrl_status_t
mrl_china_day(int64_t t, char *out, size_t cap, size_t *out_len)
{
    mrl_tm_t      tm;
    mrl_status_t  rc;

    if (out == NULL) {
        return MRL_BAD_ARG;
    }

    rc = mrl_china_tm(t, &tm);
    if (rc != MRL_OK) {
        return rc;
    }

    if (cap < MRL_DAY_LEN + 1) {
        return MRL_TOO_SMALL;
    }

    snprintf(out, cap, "%04d-%02d-%02d", tm.year, tm.mon, tm.mday);

    if (out_len) {
        *out_len = MRL_DAY_LEN;
    }

    return MRL_OK;
}


int64_t
mrl_china_day_number(int64_t t)
{
    return (t + MRL_TZ) / 86400;
}


int
mrl_china_hour(int64_t t)
{
    return (int) ((t + MRL_TZ) % 86400 / 3600);
}


int
mrl_day_month(int64_t day)
{
    int      m, d;
    int64_t  y;

    mrl_civil_from_days(day, &y, &m, &d);

    return m;
}


int64_t
mrl_month_index(int64_t t)
{
    int      m, d;
    int64_t  y;

    mrl_civil_from_days(mrl_china_day_number(t), &y, &m, &d);

    return y * 12 + m - 1;
}


int64_t
mrl_month_start(int64_t mi)
{
    return mrl_days_from_civil(mi / 12, (int) (mi % 12 + 1), 1) * 86400
           - MRL_TZ;
}


/* n decimal digits, nothing else */

static int
mrl_digits(const char *s, size_t n, int *out)
{
    int  v;

    for (v = 0; n; n--, s++) {
        if (*s < '0' || *s > '9') {
            return -1;
        }

        v = v * 10 + (*s - '0');
    }

    *out = v;

    return 0;
}


mrl_status_t
mrl_day_parse(const char *s, size_t len, int64_t *utc)
{
    int  y, m, d;

    if (s == NULL) {
        return MRL_BAD_ARG;
    }

    if (len != MRL_DAY_LEN || s[4] != '-' || s[7] != '-'
        || mrl_digits(s, 4, &y) != 0
        || mrl_digits(s + 5, 2, &m) != 0
        || mrl_digits(s + 8, 2, &d) != 0)
    {
        return MRL_MALFORMED;
    }

    if (y < 2000 || y > 2999 || m < 1 || m > 12 || d < 1
        || d > mrl_month_days(y, m))
    {
        return MRL_MALFORMED;
    }

    if (utc) {
        *utc = mrl_days_from_civil(y, m, d) * 86400;
    }

    return MRL_OK;
}


mrl_status_t
mrl_moment(int64_t now, int64_t expire_months, int64_t period_months,
    mrl_moment_t *mo)
{
    int64_t       mi;
    mrl_status_t  rc;

    if (mo == NULL || expire_months < 0 || expire_months > MRL_MONTHS_MAX
        || period_months > MRL_MONTHS_MAX)
    {
        return MRL_BAD_ARG;
    }

    rc = mrl_china_day(now, mo->today, sizeof(mo->today), NULL);
    if (rc != MRL_OK) {
        return rc;
    }

    if (period_months <= 0) {
        period_months = 12;
    }

    mi = mrl_month_index(now);

    /* earned this month: expires at the end of the expire-th month after */
    mo->lot = expire_months ? mrl_month_start(mi + expire_months + 1) : 0;

    mo->period = mi / period_months;
    mo->period_end = mrl_month_start((mo->period + 1) * period_months);

    return MRL_OK;
}


mrl_status_t
mrl_birthday(int64_t now, mrl_birthday_t *b)
{
    int           leap;
    mrl_tm_t      tm;
    mrl_status_t  rc;

    if (b == NULL) {
        return MRL_BAD_ARG;
    }

    rc = mrl_china_tm(now, &tm);
    if (rc != MRL_OK) {
        return rc;
    }

    leap = (tm.year % 4 == 0 && tm.year % 100 != 0) || tm.year % 400 == 0;

    b->year = tm.year;
    snprintf(b->today, sizeof(b->today), "%04d-%02d-%02d", tm.year, tm.mon,
             tm.mday);
    snprintf(b->mmdd, sizeof(b->mmdd), "%02d%02d", tm.mon, tm.mday);

    /* a birthday on 29 February is kept on the 28th of a common year */
    snprintf(b->also, sizeof(b->also), "%s",
             !leap && tm.mon == 2 && tm.mday == 28 ? "0229" : "");

    return MRL_OK;
}
