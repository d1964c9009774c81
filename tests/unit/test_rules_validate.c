/*
 * mrl_rules.c, mrl_triggers.c, mrl_messages.c: each refusal of the rules
 * with its whole message and the length of the field path at its head
 * (the 422 bad_rules of PUT admin/rules); what an accepted document is
 * completed with; the message cut to the buffer.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "member_rules.h"


#define T0  "{\"level\":\"normal\",\"min_spend_fen\":0,\"discount_pct\":100," \
            "\"points_pct\":100}"
#define T1  "{\"level\":\"gold\",\"min_spend_fen\":5,\"discount_pct\":90," \
            "\"points_pct\":150}"
#define P   "\"per_yuan\":1,\"expire_after_months\":12," \
            "\"redeem_fen_per_point\":1,\"redeem_min_points\":100"
#define C   "\"name\":\"x\",\"from\":\"2026-01-01\",\"to\":\"2026-01-31\"," \
            "\"points_pct\":200"
#define M   "\"channel\":\"template\",\"template_id\":\"tpl_1\""


static const struct {
    const char  *json;
    const char  *path;          /* the field at fault */
    const char  *text;          /* after ": " */
} refused[] = {
    /* the top level */
    { "{\"colour\":1}", "colour", "unknown field" },
    { "[1]", "", "an object is needed" },
    { "{\"tier_period_months\":0}", "tier_period_months",
      "an integer 1..120 is needed" },
    { "{\"tier_period_months\":12.0}", "tier_period_months",
      "an integer 1..120 is needed" },
    { "{\"tier_period_months\":null}", "tier_period_months",
      "an integer 1..120 is needed" },
    { "{\"tier_downgrade_steps\":11}", "tier_downgrade_steps",
      "an integer 0..10 is needed" },
    { "{\"tiers\":[],\"tier_period_months\":0}", "tiers",
      "1 to 10 tiers are needed" },
    { "{\"points\":5,\"recharge_bonus\":5}", "points.",
      "an object is needed" },
    { "{\"recharge_bonus\":5,\"campaigns\":5}", "recharge_bonus",
      "up to 20 steps" },
    { "{\"campaigns\":5,\"triggers\":5}", "campaigns",
      "up to 100 campaigns" },
    { "{\"triggers\":{\"welcome\":5},\"referral\":5}", "referral",
      "an object is needed" },

    /* tiers */
    { "{\"tiers\":{}}", "tiers", "1 to 10 tiers are needed" },
    { "{\"tiers\":[" T0 ",null]}", "tiers[1].", "an object is needed" },
    { "{\"tiers\":[{\"colour\":1,\"discount_pct\":0}]}", "tiers[0].colour",
      "unknown field" },
    { "{\"tiers\":[{\"level\":\"a\",\"min_spend_fen\":-1}]}",
      "tiers[0].min_spend_fen", "an integer 0..100000000000 is needed" },
    { "{\"tiers\":[{\"level\":\"a\",\"min_spend_fen\":0,"
      "\"discount_pct\":101}]}",
      "tiers[0].discount_pct", "an integer 1..100 is needed" },
    { "{\"tiers\":[{\"level\":\"a\",\"min_spend_fen\":0,\"discount_pct\":1,"
      "\"points_pct\":1001}]}",
      "tiers[0].points_pct", "an integer 0..1000 is needed" },
    { "{\"tiers\":[{\"level\":\"Gold\",\"min_spend_fen\":0,"
      "\"discount_pct\":1,\"points_pct\":1}]}",
      "tiers[0].level", "1 to 16 of [a-z0-9_]" },
    { "{\"tiers\":[{\"level\":\"aaaaaaaaaaaaaaaaa\",\"min_spend_fen\":0,"
      "\"discount_pct\":1,\"points_pct\":1}]}",
      "tiers[0].level", "1 to 16 of [a-z0-9_]" },
    { "{\"tiers\":[{\"level\":\"a\",\"name\":5,\"min_spend_fen\":0,"
      "\"discount_pct\":1,\"points_pct\":1}]}",
      "tiers[0].name", "a string up to 64 bytes" },
    { "{\"tiers\":[" T0 "," T0 "]}", "tiers[1].level", "used twice" },
    { "{\"tiers\":[" T1 "]}", "tiers[0].min_spend_fen",
      "the first tier starts at 0 and each next one higher" },
    { "{\"tiers\":[" T0 "," T1 ",{\"level\":\"x\",\"min_spend_fen\":5,"
      "\"discount_pct\":1,\"points_pct\":1}]}", "tiers[2].min_spend_fen",
      "the first tier starts at 0 and each next one higher" },

    /* points */
    { "{\"points\":{}}", "points.per_yuan", "an integer 0..100 is needed" },
    { "{\"points\":{" P ",\"colour\":1}}", "points.colour",
      "unknown field" },
    { "{\"points\":{" P ",\"exclude_stores\":[\"a b\"]}}",
      "points.exclude_stores", "store ids are needed" },
    { "{\"points\":{" P ",\"exclude_stores\":[\"\"]}}",
      "points.exclude_stores", "store ids are needed" },
    { "{\"points\":{\"per_yuan\":1,\"exclude_stores\":5}}",
      "points.exclude_stores", "store ids are needed" },
    { "{\"points\":{" P ",\"redeem_min_points\":1000000001}}",
      "points.redeem_min_points", "an integer 0..1000000000 is needed" },

    /* recharge bonus */
    { "{\"recharge_bonus\":[5]}", "recharge_bonus[0].",
      "an object is needed" },
    { "{\"recharge_bonus\":[{\"min_fen\":0,\"bonus_fen\":1}]}",
      "recharge_bonus[0].min_fen", "an integer 1..100000000 is needed" },
    { "{\"recharge_bonus\":[{\"min_fen\":5,\"bonus_fen\":1},"
      "{\"min_fen\":5,\"bonus_fen\":1}]}",
      "recharge_bonus[1].min_fen", "steps ascend" },

    /* recharge options (WeChat Pay's buttons) */
    { "{\"recharge_options\":[]}", "recharge_options", "1 to 12 amounts" },
    { "{\"recharge_options\":{}}", "recharge_options", "1 to 12 amounts" },
    { "{\"recharge_options\":[5]}", "recharge_options[0].",
      "an object is needed" },
    { "{\"recharge_options\":[{\"amount_fen\":0}]}",
      "recharge_options[0].amount_fen", "an integer 1..100000000 is needed" },
    { "{\"recharge_options\":[{\"amount\":5}]}",
      "recharge_options[0].amount", "unknown field" },
    { "{\"recharge_options\":[{\"amount_fen\":9},{\"amount_fen\":5}]}",
      "recharge_options[1].amount_fen", "amounts ascend" },
    { "{\"recharge_options\":[{\"amount_fen\":1},{\"amount_fen\":2},"
      "{\"amount_fen\":3},{\"amount_fen\":4},{\"amount_fen\":5},"
      "{\"amount_fen\":6},{\"amount_fen\":7},{\"amount_fen\":8},"
      "{\"amount_fen\":9},{\"amount_fen\":10},{\"amount_fen\":11},"
      "{\"amount_fen\":12},{\"amount_fen\":13}]}",
      "recharge_options", "1 to 12 amounts" },

    /* campaigns */
    { "{\"campaigns\":[{" C ",\"colour\":1}]}", "campaigns[0].colour",
      "unknown field" },
    { "{\"campaigns\":[{" C ",\"exclude_stores\":[1]}]}",
      "campaigns[0].exclude_stores", "store ids are needed" },
    { "{\"campaigns\":[{\"name\":\"\",\"from\":\"2026-01-01\","
      "\"to\":\"2026-01-01\",\"points_pct\":1}]}",
      "campaigns[0].name", "1 to 64 bytes" },
    { "{\"campaigns\":[{\"name\":\"x\",\"from\":\"2027-02-29\","
      "\"to\":\"2027-03-01\",\"points_pct\":1}]}",
      "campaigns[0].from", "a date YYYY-MM-DD" },
    { "{\"campaigns\":[{\"name\":\"x\",\"from\":\"2028-02-29\","
      "\"to\":\"2028-02-28\",\"points_pct\":1}]}",
      "campaigns[0].to", "a date YYYY-MM-DD, not before from" },
    { "{\"campaigns\":[{\"name\":\"x\",\"from\":\"2028-02-29\","
      "\"to\":5,\"points_pct\":1}]}",
      "campaigns[0].to", "a date YYYY-MM-DD, not before from" },

    /* triggers */
    { "{\"triggers\":[]}", "triggers", "an object is needed" },
    { "{\"triggers\":{\"colour\":{}}}", "triggers.colour", "unknown field" },
    { "{\"triggers\":{\"welcome\":null}}", "triggers.welcome.",
      "an object is needed" },
    { "{\"triggers\":{\"welcome\":{\"points\":1,\"when\":\"day\"}}}",
      "triggers.welcome.when", "unknown field" },
    { "{\"triggers\":{\"anniversary\":{\"points\":1000001}}}",
      "triggers.anniversary.points", "an integer 0..1000000 is needed" },
    { "{\"triggers\":{\"birthday\":{\"points\":5,\"when\":\"week\"}}}",
      "triggers.birthday.when", "month or day" },
    { "{\"triggers\":{\"recall\":{\"points\":5}}}",
      "triggers.recall.silent_days", "an integer 1..3650 is needed" },
    { "{\"triggers\":{\"recall\":{\"silent_days\":30}}}",
      "triggers.recall", "points or a coupon is needed" },
    { "{\"triggers\":{\"recall\":{\"silent_days\":30,\"coupon\":[]}}}",
      "triggers.recall.coupon.", "an object is needed" },
    { "{\"triggers\":{\"recall\":{\"silent_days\":30,\"coupon\":"
      "{\"name\":\"c\",\"value_fen\":0,\"valid_days\":1}}}}",
      "triggers.recall.coupon.value_fen",
      "an integer 1..100000000 is needed" },
    { "{\"triggers\":{\"recall\":{\"silent_days\":30,\"coupon\":"
      "{\"name\":\"\",\"value_fen\":1,\"valid_days\":1}}}}",
      "triggers.recall.coupon.name", "1 to 64 bytes" },

    /* referral */
    { "{\"referral\":{}}", "referral.referrer_points",
      "an integer 0..1000000 is needed" },
    { "{\"referral\":{\"referrer_points\":1,\"referee_points\":1,"
      "\"max_per_referrer\":1000001}}", "referral.max_per_referrer",
      "an integer 0..1000000 is needed" },

    /* messages */
    { "{\"messages\":[]}", "messages", "an object is needed" },
    { "{\"messages\":{\"colour\":{}}}", "messages.colour",
      "unknown field" },
    { "{\"messages\":{\"balance\":5}}", "messages.balance.",
      "an object is needed" },
    { "{\"messages\":{\"balance\":{" M ",\"days\":1}}}",
      "messages.balance.days", "unknown field" },
    { "{\"messages\":{\"points_expiring\":{" M ",\"days\":91}}}",
      "messages.points_expiring.days", "an integer 1..90 is needed" },
    { "{\"messages\":{\"birthday\":{\"channel\":\"sms\"}}}",
      "messages.birthday.channel", "template or subscribe" },
    { "{\"messages\":{\"balance\":{\"channel\":\"template\","
      "\"template_id\":\"a b\"}}}",
      "messages.balance.template_id", "1 to 64 of [A-Za-z0-9_.:-] is needed" },
    { "{\"messages\":{\"balance\":{" M ",\"url\":\"ftp://x\"}}}",
      "messages.balance.url", "an http(s) URL of at most 512 bytes, for the "
      "template channel only" },
    { "{\"messages\":{\"balance\":{" M ",\"page\":\"p\"}}}",
      "messages.balance.page", "a mini-program page of at most 256 bytes, "
      "for the subscribe channel only" },
    { "{\"messages\":{\"balance\":{" M "}}}", "messages.balance.data",
      "an object of 1 to 20 data keys is needed" },
    { "{\"messages\":{\"balance\":{" M ",\"data\":{\"a-b\":\"amount\"}}}}",
      "messages.balance.data.a-b", "a data key is 1 to 32 of [A-Za-z0-9_]" },
    { "{\"messages\":{\"balance\":{" M ",\"data\":{\"k\":\"gift_points\"}}}}",
      "messages.balance.data.k",
      "one of amount, change, ... (the fields of balance) or =text" },
    { "{\"messages\":{\"birthday\":{" M ",\"data\":{\"k\":\"=\"}}}}",
      "messages.birthday.data.k",
      "one of gift_points, points, ... (the fields of birthday) or =text" },
};


static void
test_refused(void **state)
{
    char          msg[MRL_MSG_MAX], want[MRL_MSG_MAX];
    size_t        i, path_len;
    json_t       *rules;
    json_error_t  error;

    (void) state;

    for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        rules = json_loads(refused[i].json, 0, &error);
        assert_non_null(rules);

        path_len = 999;
        assert_int_equal(mrl_rules_validate(rules, msg, sizeof(msg),
                                            &path_len),
                         MRL_BAD_RULES);

        snprintf(want, sizeof(want), "%s: %s", refused[i].path,
                 refused[i].text);
        if (strcmp(msg, want) != 0) {
            fail_msg("case %zu: \"%s\", not \"%s\"", i, msg, want);
        }

        assert_int_equal(path_len, strlen(refused[i].path));

        json_decref(rules);
    }
}


/* what an accepted document is completed with */

static void
test_completed(void **state)
{
    char          msg[MRL_MSG_MAX];
    size_t        path_len;
    json_t       *rules, *defaults, *v;
    json_error_t  error;

    (void) state;

    rules = json_loads("{\"version\":99,\"tier_period_months\":6,"
                       "\"triggers\":{\"birthday\":{\"points\":5},"
                       "\"recall\":{\"silent_days\":9,\"coupon\":"
                       "{\"name\":\"c\",\"value_fen\":1,\"valid_days\":1}}},"
                       "\"messages\":{\"points_expiring\":{" M ","
                       "\"data\":{\"k\":\"=hello\",\"d\":\"expire_date\"}}}}",
                       0, &error);
    assert_non_null(rules);

    path_len = 5;
    assert_int_equal(mrl_rules_validate(rules, msg, sizeof(msg), &path_len),
                     MRL_OK);
    assert_int_equal(path_len, 0);

    assert_null(json_object_get(rules, "version"));
    assert_int_equal(json_integer_value(json_object_get(rules,
                         "tier_period_months")), 6);
    assert_null(json_object_get(rules, "tier_downgrade_steps"));

    /* the sections left out are the defaults' */
    defaults = json_loads(mrl_rules_defaults(), 0, &error);
    assert_non_null(defaults);
    assert_true(json_equal(json_object_get(rules, "tiers"),
                           json_object_get(defaults, "tiers")));
    assert_true(json_equal(json_object_get(rules, "points"),
                           json_object_get(defaults, "points")));
    assert_true(json_equal(json_object_get(rules, "recharge_bonus"),
                           json_object_get(defaults, "recharge_bonus")));
    json_decref(defaults);

    v = json_object_get(rules, "triggers");
    assert_string_equal(json_string_value(json_object_get(
        json_object_get(v, "birthday"), "when")), "month");
    assert_int_equal(json_integer_value(json_object_get(
        json_object_get(v, "recall"), "points")), 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(
        json_object_get(rules, "messages"), "points_expiring"), "days")), 7);

    /* what was accepted is accepted again, unchanged */
    v = json_deep_copy(rules);
    assert_int_equal(mrl_rules_validate(v, msg, sizeof(msg), NULL), MRL_OK);
    assert_true(json_equal(v, rules));
    json_decref(v);

    json_decref(rules);

    /* the defaults themselves, and an empty document */
    rules = json_loads(mrl_rules_defaults(), 0, &error);
    assert_int_equal(mrl_rules_validate(rules, msg, sizeof(msg), NULL),
                     MRL_OK);
    json_decref(rules);

    rules = json_object();
    assert_int_equal(mrl_rules_validate(rules, msg, sizeof(msg), NULL),
                     MRL_OK);
    assert_int_equal(json_object_size(rules), 5);
    json_decref(rules);
}


/* the bonus of an amount, and the amounts a member may recharge */

static void
test_recharge(void **state)
{
    char          msg[MRL_MSG_MAX];
    json_t       *rules;
    json_error_t  error;

    (void) state;

    rules = json_object();
    assert_int_equal(mrl_rules_validate(rules, msg, sizeof(msg), NULL),
                     MRL_OK);
    assert_null(json_object_get(rules, "recharge_options"));

    /* the defaults' steps: 50000 gives 5000, 100000 gives 15000 */
    assert_int_equal(mrl_recharge_bonus(rules, 49999), 0);
    assert_int_equal(mrl_recharge_bonus(rules, 50000), 5000);
    assert_int_equal(mrl_recharge_bonus(rules, 99999), 5000);
    assert_int_equal(mrl_recharge_bonus(rules, 100000), 15000);
    assert_true(mrl_recharge_allowed(rules, 1));
    assert_true(mrl_recharge_allowed(rules, MRL_AMOUNT_MAX));
    assert_false(mrl_recharge_allowed(rules, 0));
    assert_false(mrl_recharge_allowed(rules, -5));
    assert_false(mrl_recharge_allowed(rules, MRL_AMOUNT_MAX + 1));
    json_decref(rules);

    rules = json_loads("{\"recharge_options\":[{\"amount_fen\":10000},"
                       "{\"amount_fen\":50000}]}", 0, &error);
    assert_non_null(rules);
    assert_int_equal(mrl_rules_validate(rules, msg, sizeof(msg), NULL),
                     MRL_OK);
    assert_true(mrl_recharge_allowed(rules, 10000));
    assert_true(mrl_recharge_allowed(rules, 50000));
    assert_false(mrl_recharge_allowed(rules, 20000));
    assert_false(mrl_recharge_allowed(rules, 1));
    json_decref(rules);
}


/* a message longer than the buffer is cut, the path with it */

static void
test_cut(void **state)
{
    char          msg[MRL_MSG_MAX], key[201], json[400];
    size_t        path_len;
    json_t       *rules;
    json_error_t  error;

    (void) state;

    memset(key, 'k', 200);
    key[200] = '\0';
    snprintf(json, sizeof(json), "{\"tiers\":[{\"%s\":1}]}", key);

    rules = json_loads(json, 0, &error);
    assert_non_null(rules);
    assert_int_equal(mrl_rules_validate(rules, msg, sizeof(msg), &path_len),
                     MRL_BAD_RULES);
    assert_int_equal(strlen(msg), MRL_MSG_MAX - 1);
    assert_memory_equal(msg, "tiers[0].kkk", 12);
    assert_int_equal(path_len, MRL_MSG_MAX - 1);
    json_decref(rules);

    /* a buffer of 1 byte holds the empty string */
    rules = json_loads("{\"colour\":1}", 0, &error);
    assert_int_equal(mrl_rules_validate(rules, msg, 1, &path_len),
                     MRL_BAD_RULES);
    assert_string_equal(msg, "");
    assert_int_equal(path_len, 0);

    /* "colour: unk" */
    assert_int_equal(mrl_rules_validate(rules, msg, 12, &path_len),
                     MRL_BAD_RULES);
    assert_string_equal(msg, "colour: unk");
    assert_int_equal(path_len, 6);

    assert_int_equal(mrl_rules_validate(rules, msg, 0, &path_len),
                     MRL_BAD_ARG);
    assert_int_equal(mrl_rules_validate(rules, NULL, 10, &path_len),
                     MRL_BAD_ARG);
    assert_int_equal(mrl_rules_validate(NULL, msg, 10, &path_len),
                     MRL_BAD_ARG);
    json_decref(rules);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_completed),
        cmocka_unit_test(test_recharge),
        cmocka_unit_test(test_cut),
    };

    return cmocka_run_group_tests_name("rules_validate", tests, NULL, NULL);
}
