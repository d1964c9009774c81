/*
 * The rules' "triggers" and "referral" sections (docs/campaigns.md).
 */

#include <stdio.h>
#include <string.h>

#include "mrl_private.h"


static mrl_status_t mrl_triggers_coupon(json_t *coupon, mrl_err_t *err);


static mrl_status_t
mrl_triggers_coupon(json_t *coupon, mrl_err_t *err)
{
    json_t  *name;

    static const char *const  keys[] = { "name", "value_fen", "valid_days",
                                         NULL };

    static const mrl_int_rule_t  ints[] = {
        { "value_fen", 1, MRL_AMOUNT_MAX, -1 },
        { "valid_days", 1, 3650, -1 },
        { NULL, 0, 0, 0 }
    };

    if (mrl_rules_object(coupon, keys, ints, "triggers.recall.coupon.", err)
        != MRL_OK)
    {
        return MRL_BAD_RULES;
    }

    name = json_object_get(coupon, "name");

    if (!json_is_string(name) || json_string_length(name) == 0
        || json_string_length(name) > 64)
    {
        return mrl_fail(err, "triggers.recall.coupon.name", "",
                        "1 to 64 bytes");
    }

    return MRL_OK;
}


mrl_status_t
mrl_triggers_validate(json_t *rules, mrl_err_t *err)
{
    char         path[32];
    size_t       i;
    json_t      *triggers, *v, *when;
    const char  *s;

    static const char *const  sections[] = { "welcome", "birthday",
                                             "recall", "anniversary", NULL };
    static const char *const  points_only[] = { "points", NULL };
    static const char *const  birthday[] = { "points", "when", NULL };
    static const char *const  recall[] = { "silent_days", "points",
                                           "coupon", NULL };
    static const char *const  referral[] = { "referrer_points",
                                             "referee_points",
                                             "max_per_referrer", NULL };

    static const mrl_int_rule_t  points_int[] = {
        { "points", 0, MRL_TRIGGER_POINTS, -1 },
        { NULL, 0, 0, 0 }
    };
    static const mrl_int_rule_t  recall_ints[] = {
        { "silent_days", 1, 3650, -1 },
        { "points", 0, MRL_TRIGGER_POINTS, 0 },
        { NULL, 0, 0, 0 }
    };
    static const mrl_int_rule_t  referral_ints[] = {
        { "referrer_points", 0, MRL_TRIGGER_POINTS, -1 },
        { "referee_points", 0, MRL_TRIGGER_POINTS, -1 },
        { "max_per_referrer", 0, 1000000, -1 },
        { NULL, 0, 0, 0 }
    };

    triggers = json_object_get(rules, "triggers");

    for (i = 0; i < 2; i++) {
        s = i ? "referral" : "triggers";
        v = json_object_get(rules, s);

        if (v && !json_is_object(v)) {
            return mrl_fail(err, s, "", "an object is needed");
        }
    }

    if (triggers) {
        if (mrl_rules_keys(triggers, sections, "triggers.", err) != MRL_OK) {
            return MRL_BAD_RULES;
        }

        for (i = 0; sections[i]; i++) {
            s = sections[i];
            v = json_object_get(triggers, s);

            if (v == NULL) {
                continue;
            }

            snprintf(path, sizeof(path), "triggers.%s.", s);

            if (mrl_rules_object(v,
                    i == 1 ? birthday : (i == 2 ? recall : points_only),
                    i == 2 ? recall_ints : points_int, path, err)
                != MRL_OK)
            {
                return MRL_BAD_RULES;
            }
        }

        v = json_object_get(triggers, "birthday");
        when = v ? json_object_get(v, "when") : NULL;

        if (v && when == NULL) {
            json_object_set_new(v, "when", json_string("month"));

        } else if (when
                   && (!json_is_string(when)
                       || (strcmp(json_string_value(when), "month") != 0
                           && strcmp(json_string_value(when), "day") != 0)))
        {
            return mrl_fail(err, "triggers.birthday.when", "",
                            "month or day");
        }

        v = json_object_get(triggers, "recall");

        if (v && json_object_get(v, "coupon")
            && mrl_triggers_coupon(json_object_get(v, "coupon"), err)
               != MRL_OK)
        {
            return MRL_BAD_RULES;
        }

        if (v && json_object_get(v, "coupon") == NULL
            && json_integer_value(json_object_get(v, "points")) == 0)
        {
            return mrl_fail(err, "triggers.recall", "",
                            "points or a coupon is needed");
        }
    }

    v = json_object_get(rules, "referral");

    if (v
        && mrl_rules_object(v, referral, referral_ints, "referral.", err)
           != MRL_OK)
    {
        return MRL_BAD_RULES;
    }

    return MRL_OK;
}
