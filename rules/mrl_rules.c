/*
 * The rules document of PUT admin/rules (docs/ledger.md): its sections,
 * the tiers, points, recharge bonus and campaigns, completed with the
 * defaults of the sections left out.  A refusal names the field at fault
 * the way 422 bad_rules says it.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mrl_private.h"


static mrl_status_t mrl_rules_stores(json_t *obj, const char *path,
    mrl_err_t *err);
static int mrl_date_valid(const char *s);


/* the contract's defaults: rules before any PUT */
static const char  mrl_default_rules[] =
    "{\"tiers\":["
    "{\"level\":\"normal\",\"name\":\"\xe6\x99\xae\xe9\x80\x9a\xe4\xbc\x9a"
    "\xe5\x91\x98\",\"min_spend_fen\":0,\"discount_pct\":100,"
    "\"points_pct\":100},"
    "{\"level\":\"silver\",\"name\":\"\xe9\x93\xb6\xe5\x8d\xa1\","
    "\"min_spend_fen\":100000,\"discount_pct\":98,\"points_pct\":120},"
    "{\"level\":\"gold\",\"name\":\"\xe9\x87\x91\xe5\x8d\xa1\","
    "\"min_spend_fen\":500000,\"discount_pct\":95,\"points_pct\":150},"
    "{\"level\":\"platinum\",\"name\":\"\xe7\x99\xbd\xe9\x87\x91\xe5\x8d\xa1\","
    "\"min_spend_fen\":2000000,\"discount_pct\":90,\"points_pct\":200}],"
    "\"tier_period_months\":12,"
    "\"points\":{\"per_yuan\":1,\"expire_after_months\":12,"
    "\"redeem_fen_per_point\":1,\"redeem_min_points\":100},"
    "\"recharge_bonus\":[{\"min_fen\":50000,\"bonus_fen\":5000},"
    "{\"min_fen\":100000,\"bonus_fen\":15000}],"
    "\"campaigns\":[]}";


const char *
mrl_rules_defaults(void)
{
    return mrl_default_rules;
}


mrl_status_t
mrl_fail(mrl_err_t *err, const char *path, const char *name,
    const char *fmt, ...)
{
    int      n;
    size_t   len;
    va_list  ap;

    n = snprintf(err->msg, err->cap, "%s%s: ", path, name);
    len = n < 0 ? 0 : (size_t) n;

    err->path_len = strlen(path) + strlen(name);

    if (len < err->cap) {
        va_start(ap, fmt);
        vsnprintf(err->msg + len, err->cap - len, fmt, ap);
        va_end(ap);
    }

    /* the path as far as the message holds it */
    len = strlen(err->msg);
    if (err->path_len > len) {
        err->path_len = len;
    }

    return MRL_BAD_RULES;
}


int
mrl_id_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'
           || c == ':';
}


mrl_status_t
mrl_rules_int(json_t *obj, const mrl_int_rule_t *rule, const char *path,
    mrl_err_t *err)
{
    json_t  *v;

    v = json_object_get(obj, rule->name);

    if (v == NULL && rule->def >= 0) {
        json_object_set_new(obj, rule->name, json_integer(rule->def));
        return MRL_OK;
    }

    if (v == NULL || !json_is_integer(v)
        || json_integer_value(v) < rule->min
        || json_integer_value(v) > rule->max)
    {
        return mrl_fail(err, path, rule->name,
                        "an integer %lld..%lld is needed",
                        (long long) rule->min, (long long) rule->max);
    }

    return MRL_OK;
}


mrl_status_t
mrl_rules_ints(json_t *obj, const mrl_int_rule_t *rules, const char *path,
    mrl_err_t *err)
{
    for ( /* void */ ; rules->name; rules++) {
        if (mrl_rules_int(obj, rules, path, err) != MRL_OK) {
            return MRL_BAD_RULES;
        }
    }

    return MRL_OK;
}


mrl_status_t
mrl_rules_keys(json_t *obj, const char *const *allowed, const char *path,
    mrl_err_t *err)
{
    const char         *key;
    json_t             *v;
    const char *const  *a;

    if (!json_is_object(obj)) {
        return mrl_fail(err, path, "", "an object is needed");
    }

    json_object_foreach(obj, key, v) {
        for (a = allowed; *a; a++) {
            if (strcmp(*a, key) == 0) {
                break;
            }
        }

        if (*a == NULL) {
            return mrl_fail(err, path, key, "unknown field");
        }
    }

    return MRL_OK;
}


mrl_status_t
mrl_rules_object(json_t *obj, const char *const *keys,
    const mrl_int_rule_t *ints, const char *path, mrl_err_t *err)
{
    if (mrl_rules_keys(obj, keys, path, err) != MRL_OK) {
        return MRL_BAD_RULES;
    }

    return mrl_rules_ints(obj, ints, path, err);
}


static mrl_status_t
mrl_rules_stores(json_t *obj, const char *path, mrl_err_t *err)
{
    size_t        i, j;
    json_t       *a, *v;
    const char   *s;
    unsigned char c;

    a = json_object_get(obj, "exclude_stores");
    if (a == NULL) {
        return MRL_OK;
    }

    if (!json_is_array(a) || json_array_size(a) > 1000) {
        goto bad;
    }

    json_array_foreach(a, i, v) {
        s = json_string_value(v);

        if (s == NULL || json_string_length(v) == 0
            || json_string_length(v) > 32)
        {
            goto bad;
        }

        for (j = 0; s[j]; j++) {
            c = (unsigned char) s[j];

            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                  || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            {
                goto bad;
            }
        }
    }

    return MRL_OK;

bad:

    return mrl_fail(err, path, "exclude_stores", "store ids are needed");
}


/* a day YYYY-MM-DD that exists, as a C string */

static int
mrl_date_valid(const char *s)
{
    return s != NULL && mrl_day_parse(s, strlen(s), NULL) == MRL_OK;
}


mrl_status_t
mrl_rules_validate(json_t *rules, char *msg, size_t cap, size_t *path_len)
{
    char           path[64];
    size_t         i, j;
    json_t        *defaults, *a, *v, *prev, *w;
    mrl_err_t      err;
    const char    *s;
    mrl_status_t   rc;

    static const char *const  top[] = { "tiers", "tier_period_months",
                                        "tier_downgrade_steps", "points",
                                        "recharge_bonus",
                                        "recharge_options", "campaigns",
                                        "triggers", "referral", "messages",
                                        "version", NULL };
    static const char *const  tier[] = { "level", "name", "min_spend_fen",
                                         "discount_pct", "points_pct",
                                         NULL };
    static const char *const  points[] = { "per_yuan",
                                           "expire_after_months",
                                           "redeem_fen_per_point",
                                           "redeem_min_points",
                                           "exclude_stores", NULL };
    static const char *const  bonus[] = { "min_fen", "bonus_fen", NULL };
    static const char *const  option[] = { "amount_fen", NULL };
    static const char *const  campaign[] = { "name", "from", "to",
                                             "points_pct", "exclude_stores",
                                             NULL };

    static const mrl_int_rule_t  tier_ints[] = {
        { "min_spend_fen", 0, INT64_C(100000000000), -1 },
        { "discount_pct", 1, 100, -1 },
        { "points_pct", 0, 1000, -1 },
        { NULL, 0, 0, 0 }
    };
    static const mrl_int_rule_t  points_ints[] = {
        { "per_yuan", 0, 100, -1 },
        { "expire_after_months", 0, 120, -1 },
        { "redeem_fen_per_point", 0, 10000, -1 },
        { "redeem_min_points", 0, MRL_POINTS_MAX, -1 },
        { NULL, 0, 0, 0 }
    };
    static const mrl_int_rule_t  bonus_ints[] = {
        { "min_fen", 1, MRL_AMOUNT_MAX, -1 },
        { "bonus_fen", 0, MRL_AMOUNT_MAX, -1 },
        { NULL, 0, 0, 0 }
    };
    static const mrl_int_rule_t  option_ints[] = {
        { "amount_fen", 1, MRL_AMOUNT_MAX, -1 },
        { NULL, 0, 0, 0 }
    };
    static const mrl_int_rule_t  period_int =
        { "tier_period_months", 1, 120, -1 };
    static const mrl_int_rule_t  steps_int =
        { "tier_downgrade_steps", 0, MRL_TIERS_MAX, -1 };
    static const mrl_int_rule_t  campaign_ints[] = {
        { "points_pct", 0, 1000, -1 },
        { NULL, 0, 0, 0 }
    };

    if (rules == NULL || msg == NULL || cap == 0) {
        return MRL_BAD_ARG;
    }

    msg[0] = '\0';

    err.msg = msg;
    err.cap = cap;
    err.path_len = 0;

    rc = MRL_BAD_RULES;
    path[0] = '\0';

    if (mrl_rules_keys(rules, top, path, &err) != MRL_OK) {
        goto done;
    }

    json_object_del(rules, "version");

    /* the sections left out are the defaults' */
    defaults = json_loads(mrl_default_rules, 0, NULL);
    if (defaults == NULL) {
        return MRL_NO_MEMORY;
    }

    json_object_update_missing(rules, defaults);
    json_decref(defaults);

    /* tiers: from 0, ascending thresholds, distinct levels */
    a = json_object_get(rules, "tiers");

    if (!json_is_array(a) || json_array_size(a) == 0
        || json_array_size(a) > MRL_TIERS_MAX)
    {
        mrl_fail(&err, "tiers", "", "1 to %d tiers are needed",
                 MRL_TIERS_MAX);
        goto done;
    }

    prev = NULL;

    json_array_foreach(a, i, v) {
        snprintf(path, sizeof(path), "tiers[%zu].", i);

        if (mrl_rules_object(v, tier, tier_ints, path, &err) != MRL_OK) {
            goto done;
        }

        s = json_string_value(json_object_get(v, "level"));

        for (j = 0; s && s[j]; j++) {
            if (!((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= '0' && s[j] <= '9')
                  || s[j] == '_'))
            {
                break;
            }
        }

        if (s == NULL || j == 0 || j > 16 || s[j]) {
            mrl_fail(&err, path, "level", "1 to 16 of [a-z0-9_]");
            goto done;
        }

        w = json_object_get(v, "name");

        if (w && (!json_is_string(w) || json_string_length(w) > 64)) {
            mrl_fail(&err, path, "name", "a string up to 64 bytes");
            goto done;
        }

        for (j = 0; j < i; j++) {
            if (strcmp(s, json_string_value(json_object_get(
                              json_array_get(a, j), "level")))
                == 0)
            {
                mrl_fail(&err, path, "level", "used twice");
                goto done;
            }
        }

        if ((i == 0
             && json_integer_value(json_object_get(v, "min_spend_fen")) != 0)
            || (prev
                && json_integer_value(json_object_get(v, "min_spend_fen"))
                   <= json_integer_value(json_object_get(prev,
                                                         "min_spend_fen"))))
        {
            mrl_fail(&err, path, "min_spend_fen", "the first tier starts "
                     "at 0 and each next one higher");
            goto done;
        }

        prev = v;
    }

    path[0] = '\0';

    if (mrl_rules_int(rules, &period_int, path, &err) != MRL_OK) {
        goto done;
    }

    if (json_object_get(rules, "tier_downgrade_steps")
        && mrl_rules_int(rules, &steps_int, path, &err) != MRL_OK)
    {
        goto done;
    }

    /* points */
    v = json_object_get(rules, "points");

    if (mrl_rules_keys(v, points, "points.", &err) != MRL_OK
        || mrl_rules_stores(v, "points.", &err) != MRL_OK
        || mrl_rules_ints(v, points_ints, "points.", &err) != MRL_OK)
    {
        goto done;
    }

    /* recharge bonus steps, ascending */
    a = json_object_get(rules, "recharge_bonus");

    if (!json_is_array(a) || json_array_size(a) > 20) {
        mrl_fail(&err, "recharge_bonus", "", "up to 20 steps");
        goto done;
    }

    prev = NULL;

    json_array_foreach(a, i, v) {
        snprintf(path, sizeof(path), "recharge_bonus[%zu].", i);

        if (mrl_rules_object(v, bonus, bonus_ints, path, &err) != MRL_OK) {
            goto done;
        }

        if (prev && json_integer_value(json_object_get(v, "min_fen"))
                    <= json_integer_value(json_object_get(prev, "min_fen")))
        {
            mrl_fail(&err, path, "min_fen", "steps ascend");
            goto done;
        }

        prev = v;
    }

    /*
     * the amounts a member may recharge by WeChat Pay, the page's buttons:
     * optional; distinct, ascending
     */
    a = json_object_get(rules, "recharge_options");

    if (a && (!json_is_array(a) || json_array_size(a) == 0
              || json_array_size(a) > MRL_RECHARGE_OPTIONS_MAX))
    {
        mrl_fail(&err, "recharge_options", "", "1 to %d amounts",
                 MRL_RECHARGE_OPTIONS_MAX);
        goto done;
    }

    prev = NULL;

    json_array_foreach(a, i, v) {
        snprintf(path, sizeof(path), "recharge_options[%zu].", i);

        if (mrl_rules_object(v, option, option_ints, path, &err) != MRL_OK) {
            goto done;
        }

        if (prev && json_integer_value(json_object_get(v, "amount_fen"))
                    <= json_integer_value(json_object_get(prev, "amount_fen")))
        {
            mrl_fail(&err, path, "amount_fen", "amounts ascend");
            goto done;
        }

        prev = v;
    }

    /* campaigns: dates in order */
    a = json_object_get(rules, "campaigns");

    if (!json_is_array(a) || json_array_size(a) > 100) {
        mrl_fail(&err, "campaigns", "", "up to 100 campaigns");
        goto done;
    }

    json_array_foreach(a, i, v) {
        snprintf(path, sizeof(path), "campaigns[%zu].", i);

        if (mrl_rules_object(v, campaign, campaign_ints, path, &err)
            != MRL_OK
            || mrl_rules_stores(v, path, &err) != MRL_OK)
        {
            goto done;
        }

        w = json_object_get(v, "name");

        if (!json_is_string(w) || json_string_length(w) == 0
            || json_string_length(w) > 64)
        {
            mrl_fail(&err, path, "name", "1 to 64 bytes");
            goto done;
        }

        if (!mrl_date_valid(json_string_value(json_object_get(v, "from")))) {
            mrl_fail(&err, path, "from", "a date YYYY-MM-DD");
            goto done;
        }

        if (!mrl_date_valid(json_string_value(json_object_get(v, "to")))
            || strcmp(json_string_value(json_object_get(v, "to")),
                      json_string_value(json_object_get(v, "from"))) < 0)
        {
            mrl_fail(&err, path, "to", "a date YYYY-MM-DD, not before from");
            goto done;
        }
    }

    /* triggers and referral (mrl_triggers.c), messages (mrl_messages.c) */
    if (mrl_triggers_validate(rules, &err) != MRL_OK
        || mrl_messages_validate(rules, &err) != MRL_OK)
    {
        goto done;
    }

    rc = MRL_OK;

done:

    if (path_len) {
        *path_len = rc == MRL_OK ? 0 : err.path_len;
    }

    return rc;
}


int64_t
mrl_recharge_bonus(json_t *rules, int64_t amount)
{
    size_t    i;
    json_t   *step;
    int64_t   bonus;

    bonus = 0;

    json_array_foreach(json_object_get(rules, "recharge_bonus"), i, step) {
        if (amount >= json_integer_value(json_object_get(step, "min_fen"))) {
            bonus = json_integer_value(json_object_get(step, "bonus_fen"));
        }
    }

    return bonus;
}


int
mrl_recharge_allowed(json_t *rules, int64_t amount)
{
    size_t   i;
    json_t  *a, *v;

    if (amount < 1 || amount > MRL_AMOUNT_MAX) {
        return 0;
    }

    a = json_object_get(rules, "recharge_options");

    if (a == NULL) {
        return 1;
    }

    json_array_foreach(a, i, v) {
        if (json_integer_value(json_object_get(v, "amount_fen")) == amount) {
            return 1;
        }
    }

    return 0;
}
