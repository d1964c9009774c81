/*
 * member_rules: the pure logic of ngx_member's loyalty rules, as a plain C
 * library: the calendar (China time, month ends, birthdays), card numbers
 * and the validation of the rules document of PUT admin/rules
 * (docs/ledger.md).  No nginx header, no global state, no allocation that
 * outlives a call; every output goes into a caller buffer with its
 * capacity.  Safe to call from any thread.
 *
 * Conventions:
 *
 *   - every function that can fail returns an mrl_status_t, MRL_OK (0) on
 *     success;
 *   - an output string comes with its capacity and a size_t *out_len (may
 *     be NULL): on MRL_OK it is NUL-terminated and *out_len is its length;
 *     on MRL_TOO_SMALL nothing was written;
 *   - times are unix seconds from 0 to MRL_TIME_MAX (the last second of
 *     9999 in China time); days are counted from 1970-01-01.
 *
 * Link with -ljansson.
 */

#ifndef _MEMBER_RULES_H_INCLUDED_
#define _MEMBER_RULES_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include <jansson.h>


#ifdef __cplusplus
extern "C" {
#endif


#define MRL_VERSION_MAJOR  1
#define MRL_VERSION_MINOR  0


typedef enum {
    MRL_OK = 0,
    MRL_BAD_ARG,        /* NULL pointer or a number out of range */
    MRL_TOO_SMALL,      /* the output buffer is too small */
    MRL_MALFORMED,      /* not a day, not a card number */
    MRL_BAD_RULES,      /* the rules are refused: the message says why */
    MRL_NO_MEMORY       /* jansson could not allocate */
} mrl_status_t;


/* A stable name for a status: "ok", "bad_arg", ... */
const char *mrl_strerror(mrl_status_t status);


/*
 * The calendar -- mrl_calendar.c
 *
 * The brand's calendar is China time (UTC+8, no daylight saving): a day,
 * a month, a birthday begin at 16:00 UTC the evening before.
 */

#define MRL_TZ        (8 * 3600)
#define MRL_TIME_MAX  INT64_C(253402271999)   /* 9999-12-31 23:59:59 +8 */
#define MRL_DAY_LEN   10                      /* YYYY-MM-DD */

typedef struct {
    int  year;
    int  mon;           /* 1..12 */
    int  mday;          /* 1..31 */
    int  hour;
    int  min;
    int  sec;
    int  wday;          /* 0: Sunday */
} mrl_tm_t;

/* The days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar. */
int64_t mrl_days_from_civil(int64_t y, int m, int d);

/* The days of month m (1..12) of year y; 0 for a month out of range. */
int mrl_month_days(int64_t y, int m);

/* t broken down in UTC, and in China time. */
mrl_status_t mrl_utc_tm(int64_t t, mrl_tm_t *tm);
mrl_status_t mrl_china_tm(int64_t t, mrl_tm_t *tm);

/* The China-time day of t, "YYYY-MM-DD" (cap >= MRL_DAY_LEN + 1). */
mrl_status_t mrl_china_day(int64_t t, char *out, size_t cap,
    size_t *out_len);

/* The China-time day of t counted from 1970-01-01, and its hour. */
int64_t mrl_china_day_number(int64_t t);
int mrl_china_hour(int64_t t);

/* The month (1..12) of a day counted from 1970-01-01 (day >= 0). */
int mrl_day_month(int64_t day);

/*
 * Months since year 0 (year * 12 + month - 1) of t in China time, and the
 * first second of such a month in China time (mi >= 0).
 */
int64_t mrl_month_index(int64_t t);
int64_t mrl_month_start(int64_t mi);

/*
 * A day "YYYY-MM-DD" of the years 2000..2999 that exists (no 2026-02-30),
 * as the unix time of its 00:00 UTC (utc may be NULL); MRL_MALFORMED else.
 */
mrl_status_t mrl_day_parse(const char *s, size_t len, int64_t *utc);

/*
 * What the rules say at now (docs/ledger.md): points earned now expire at
 * the end of the expire_months-th month after this one (0: never); the
 * tier period is the period_months-long block of months (12 when <= 0)
 * that holds this one, counted from year 0.
 */
typedef struct {
    int64_t  lot;                       /* 0: never */
    int64_t  period;
    int64_t  period_end;                /* the next period's first second */
    char     today[MRL_DAY_LEN + 1];
} mrl_moment_t;

#define MRL_MONTHS_MAX  1200

mrl_status_t mrl_moment(int64_t now, int64_t expire_months,
    int64_t period_months, mrl_moment_t *mo);

/*
 * The birthdays the day of now (China time) celebrates: "MMDD" and, on
 * 28 February of a common year, "0229" too (else "").
 */
typedef struct {
    int   year;
    char  today[MRL_DAY_LEN + 1];       /* YYYY-MM-DD */
    char  mmdd[5];
    char  also[5];                      /* "0229" or "" */
} mrl_birthday_t;

mrl_status_t mrl_birthday(int64_t now, mrl_birthday_t *b);


/*
 * Card numbers -- mrl_card.c
 *
 * "88", the member id on 13 digits and a Luhn check digit: 16 digits that
 * map to the member without an index.  Member ids are 1..MRL_CARD_ID_MAX.
 */

#define MRL_CARD_LEN     16
#define MRL_CARD_ID_MAX  UINT64_C(9999999999999)

/* The card number of id, with its NUL (cap >= MRL_CARD_LEN + 1). */
mrl_status_t mrl_card_no(uint64_t id, char *out, size_t cap,
    size_t *out_len);

/* The member id of a card number; MRL_MALFORMED for anything else. */
mrl_status_t mrl_card_to_id(const char *s, size_t len, uint64_t *id);


/*
 * The rules -- mrl_rules.c, mrl_triggers.c, mrl_messages.c
 *
 * mrl_rules_validate() checks a rules document (docs/ledger.md,
 * docs/campaigns.md, docs/outbox.md) and completes it where it is
 * accepted: the sections left out are the defaults', "version" is
 * dropped, integers with a default get it, triggers.birthday.when
 * becomes "month".  On MRL_BAD_RULES msg holds "<field>: <what is
 * needed>", cut to cap - 1 bytes, and *path_len (may be NULL) the length
 * of <field> in msg, e.g. "tiers[1].discount_pct: an integer 1..100 is
 * needed".  A document refused may have been changed in part.
 */

#define MRL_MSG_MAX         160     /* what 422 bad_rules says, with NUL */
#define MRL_TIERS_MAX       10
#define MRL_AMOUNT_MAX      100000000       /* fen: 1,000,000 yuan */
#define MRL_POINTS_MAX      1000000000
#define MRL_TRIGGER_POINTS  1000000
#define MRL_RECHARGE_OPTIONS_MAX  12

mrl_status_t mrl_rules_validate(json_t *rules, char *msg, size_t cap,
    size_t *path_len);

/*
 * Validated rules: the bonus a recharge of amount gets (the highest
 * recharge_bonus step it reaches, 0 below the first), and whether a member
 * may recharge amount by WeChat Pay (1..MRL_AMOUNT_MAX, and one of
 * recharge_options when the rules list them).
 */
int64_t mrl_recharge_bonus(json_t *rules, int64_t amount);
int mrl_recharge_allowed(json_t *rules, int64_t amount);

/* The contract's rules before any PUT, as JSON text. */
const char *mrl_rules_defaults(void);


/*
 * Route patterns -- mrl_route.c
 *
 * A pattern is segments joined by "/": a literal segment matches itself,
 * "<name>" one non-empty segment, which is captured, "<name*>" one or
 * more segments, "/" included, as many as leave one for each literal
 * segment after it (only literal ones may follow it) and not empty as a
 * whole, and "**", last only, any rest of the path, none included.  A
 * pattern ending in "/?" matches the path with or without one "/" at its
 * end.  A path matches when every
 * segment is matched: no segment is left over, none is missing, and an
 * empty segment ("a//b") matches no capture.  A path longer than
 * MRL_ROUTE_MAX matches nothing.
 */

#define MRL_ROUTE_MAX       4096
#define MRL_ROUTE_CAPTURES  4

typedef struct {
    const char  *data;
    size_t       len;
} mrl_span_t;

typedef struct {
    mrl_span_t  capture[MRL_ROUTE_CAPTURES];
    size_t      ncaptures;
} mrl_route_match_t;

/*
 * 1 when path matches pattern, its captures in order in m (may be NULL;
 * they point into path); 0 else, m left in an unspecified state.
 */
int mrl_route_match(const char *pattern, const char *path, size_t len,
    mrl_route_match_t *m);

/*
 * MRL_OK for a pattern mrl_route_match() can use: at most
 * MRL_ROUTE_CAPTURES captures, no empty segment but a final "/?", "**"
 * last only, "<" and ">" only around a capture's name, literal segments
 * only after a "<name*>".
 */
mrl_status_t mrl_route_valid(const char *pattern);


#ifdef __cplusplus
}
#endif

#endif /* _MEMBER_RULES_H_INCLUDED_ */
