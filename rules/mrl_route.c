/*
 * Route patterns: "members/<id>/transactions", "keys/?", "**".
 * One pass over the pattern and the path together, segment by segment.
 */

#include <string.h>

#include "member_rules.h"


/* the end of the segment that starts at p: its "/" or last */

static const char *
mrl_segment_end(const char *p, const char *last)
{
    while (p < last && *p != '/') {
        p++;
    }

    return p;
}


static int
mrl_segment_is(const char *p, const char *end, const char *s)
{
    size_t  len;

    len = strlen(s);

    return (size_t) (end - p) == len && memcmp(p, s, len) == 0;
}


static int
mrl_segment_capture(const char *p, const char *end)
{
    return end - p >= 3 && p[0] == '<' && end[-1] == '>';
}


/* "<name*>": one or more segments */

static int
mrl_segment_rest(const char *p, const char *end)
{
    return end - p >= 4 && end[-2] == '*';
}


/* the segments from p to last */

static size_t
mrl_segments(const char *p, const char *last)
{
    size_t  n;

    for (n = 1; p < last; p++) {
        n += (*p == '/');
    }

    return n;
}


int
mrl_route_match(const char *pattern, const char *path, size_t len,
    mrl_route_match_t *m)
{
    size_t       plen, n;
    const char  *p, *plast, *pend, *s, *slast, *send;

    if (pattern == NULL || (path == NULL && len) || len > MRL_ROUTE_MAX) {
        return 0;
    }

    if (m) {
        m->ncaptures = 0;
    }

    plen = strlen(pattern);
    p = pattern;
    plast = p + plen;
    s = path ? path : "";
    slast = s + len;

    /* "keys/?": "keys" and "keys/" */
    if (plen >= 2 && plast[-1] == '?' && plast[-2] == '/') {
        plast -= 2;

        if (len && slast[-1] == '/') {
            slast--;
        }
    }

    for ( ;; ) {
        pend = mrl_segment_end(p, plast);

        if (mrl_segment_is(p, pend, "**")) {
            return 1;
        }

        if (s == NULL) {
            return 0;                   /* the path ended first */
        }

        send = mrl_segment_end(s, slast);

        if (mrl_segment_capture(p, pend) && mrl_segment_rest(p, pend)) {

            /* as many segments as leave one for each of the pattern's */
            n = (pend == plast) ? 0 : mrl_segments(pend + 1, plast);

            for (send = slast; n; n--) {
                while (send > s && send[-1] != '/') {
                    send--;
                }

                if (send == s) {
                    return 0;
                }

                send--;
            }
        }

        if (mrl_segment_capture(p, pend)) {
            if (send == s) {
                return 0;
            }

            if (m) {
                if (m->ncaptures == MRL_ROUTE_CAPTURES) {
                    return 0;
                }

                m->capture[m->ncaptures].data = s;
                m->capture[m->ncaptures].len = (size_t) (send - s);
                m->ncaptures++;
            }

        } else if (pend - p != send - s || memcmp(p, s, pend - p) != 0) {
            return 0;
        }

        if (pend == plast) {
            return send == slast;       /* no segment left over */
        }

        p = pend + 1;
        s = (send == slast) ? NULL : send + 1;
    }
}


mrl_status_t
mrl_route_valid(const char *pattern)
{
    size_t       n;
    const char  *p, *last, *end, *c;

    if (pattern == NULL || *pattern == '\0') {
        return MRL_BAD_ARG;
    }

    p = pattern;
    last = p + strlen(p);

    if (last - p >= 2 && last[-1] == '?' && last[-2] == '/') {
        last -= 2;
    }

    for (n = 0; ; p = end + 1) {
        end = mrl_segment_end(p, last);

        if (end == p) {
            return MRL_MALFORMED;
        }

        if (mrl_segment_is(p, end, "**")) {
            if (end != last) {
                return MRL_MALFORMED;
            }

        } else if (mrl_segment_capture(p, end)) {
            if (++n > MRL_ROUTE_CAPTURES) {
                return MRL_MALFORMED;
            }

            for (c = p + 1; c < end - 1; c++) {
                if (*c == '<' || *c == '>' || *c == '?'
                    || (*c == '*' && (c != end - 2 || c == p + 1)))
                {
                    return MRL_MALFORMED;
                }
            }

            /* after "<name*>" literal segments only: where it ends is known */
            if (mrl_segment_rest(p, end)) {
                for (c = end; c < last; c++) {
                    if (*c == '<' || *c == '*') {
                        return MRL_MALFORMED;
                    }
                }
            }

        } else {
            for (c = p; c < end; c++) {
                if (*c == '<' || *c == '>' || *c == '*' || *c == '?') {
                    return MRL_MALFORMED;
                }
            }
        }

        if (end == last) {
            return MRL_OK;
        }
    }
}
