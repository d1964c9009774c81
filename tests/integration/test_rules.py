"""PUT rules, section by section (docs/ledger.md, docs/campaigns.md): what
each section accepts and refuses, and the whole message of the 422
bad_rules, whose first part is the path of the field at fault.  The
validators check every object the same way (its keys, then its integers in
a fixed order, then the rest); these tables pin that order and every
message, so that the validators' code can change shape and not an answer.
A refused PUT makes no version; an accepted one is stored as answered."""

from test_ledger import DEFAULT_TIERS

POINTS = {"per_yuan": 1, "expire_after_months": 12, "redeem_fen_per_point": 1,
          "redeem_min_points": 100}
CAMPAIGN = {"name": "x", "from": "2026-03-01", "to": "2026-03-02", "points_pct": 200}
COUPON = {"name": "x", "value_fen": 100, "valid_days": 3}
REFERRAL = {"referrer_points": 1, "referee_points": 1, "max_per_referrer": 1}


def need(path, lo, hi):
    return f"{path}: an integer {lo}..{hi} is needed"


def tier(i=0, **changes):
    t = dict(DEFAULT_TIERS[i], **changes)
    return {k: v for k, v in t.items() if v is not None}


def refused(env, cases):
    """Every body is 422 bad_rules with exactly its message; no version."""
    version = env.admin("GET", "rules").json["version"]
    for body, message in cases:
        r = env.admin("PUT", "rules", body)
        assert r.status == 422, (body, r)
        assert r.json == {"error": "bad_rules", "message": message}, (body, r.json)
    assert env.admin("GET", "rules").json["version"] == version, "a bad PUT made a version"


def accepted(env, body):
    """The rules stored and answered, as GET reads them back."""
    r = env.admin("PUT", "rules", body)
    assert r.status == 200, (body, r)
    assert env.admin("GET", "rules").json == r.json
    return r.json


# ----------------------------------------------------------------------------
# the body and the top level


def test_rules_body_not_an_object(env):
    for body, message in [("[1]", "a JSON object is expected"),
                          ("", "a JSON object is expected"),
                          ("{", "the body is not valid JSON"),
                          ('{"points": {}, "points": {}}', "the body is not valid JSON"),
                          ('{"tier_period_months": 99999999999999999999}',
                           "the body is not valid JSON")]:
        r = env.admin("PUT", "rules", body)
        assert r.status == 400, (body, r)
        assert r.json == {"error": "bad_request", "message": message}, (body, r.json)


def test_rules_top_level(env):
    period = need("tier_period_months", 1, 120)
    steps = need("tier_downgrade_steps", 0, 10)
    refused(env, [
        ({"colour": 1}, "colour: unknown field"),
        ({"Tiers": []}, "Tiers: unknown field"),
        ({"tier_period_months": 0}, period),
        ({"tier_period_months": 121}, period),
        ({"tier_period_months": -1}, period),
        ({"tier_period_months": "12"}, period),
        ({"tier_period_months": 12.0}, period),
        ({"tier_period_months": True}, period),
        ({"tier_period_months": None}, period),
        ({"tier_downgrade_steps": -1}, steps),
        ({"tier_downgrade_steps": 11}, steps),
        ({"tier_downgrade_steps": "1"}, steps),
        ({"tier_downgrade_steps": None}, steps),
        # the tiers are checked before the period, the period before the steps
        ({"tiers": [], "tier_period_months": 0}, "tiers: 1 to 10 tiers are needed"),
        ({"tier_period_months": 0, "tier_downgrade_steps": -1}, period),
        # and the sections in this order: tiers, period, steps, points,
        # recharge_bonus, campaigns, triggers, referral
        ({"tier_downgrade_steps": -1, "points": 5}, steps),
        ({"points": 5, "recharge_bonus": 5}, "points.: an object is needed"),
        ({"recharge_bonus": 5, "campaigns": 5}, "recharge_bonus: up to 20 steps"),
        ({"campaigns": 5, "triggers": 5}, "campaigns: up to 100 campaigns"),
        ({"triggers": 5, "referral": 5}, "triggers: an object is needed"),
        # both are objects before anything inside either is looked at
        ({"triggers": {"welcome": 5}, "referral": 5}, "referral: an object is needed"),
        ({"triggers": {"welcome": 5}, "referral": {"colour": 1}},
         "triggers.welcome.: an object is needed"),
    ])
    v = accepted(env, {"tier_period_months": 1, "tier_downgrade_steps": 0, "version": 99})
    assert v["tier_period_months"] == 1 and v["tier_downgrade_steps"] == 0, v
    assert v["version"] != 99 and v["tiers"] == DEFAULT_TIERS, v      # defaults filled
    v = accepted(env, {"tier_period_months": 120, "tier_downgrade_steps": 10})
    assert v["tier_period_months"] == 120 and v["tier_downgrade_steps"] == 10, v
    assert "tier_downgrade_steps" not in accepted(env, {})


# ----------------------------------------------------------------------------
# tiers


def test_rules_tiers(env):
    spend = need("tiers[0].min_spend_fen", 0, 100000000000)
    discount = need("tiers[0].discount_pct", 1, 100)
    pct = need("tiers[0].points_pct", 0, 1000)
    level = "tiers[0].level: 1 to 16 of [a-z0-9_]"
    refused(env, [
        ({"tiers": {}}, "tiers: 1 to 10 tiers are needed"),
        ({"tiers": [tier(0)] + [tier(1, level=f"t{i}", min_spend_fen=i + 1)
                                for i in range(10)]}, "tiers: 1 to 10 tiers are needed"),
        ({"tiers": [5]}, "tiers[0].: an object is needed"),
        ({"tiers": [[]]}, "tiers[0].: an object is needed"),
        ({"tiers": [tier(0), None]}, "tiers[1].: an object is needed"),
        ({"tiers": [tier(0, colour="red")]}, "tiers[0].colour: unknown field"),
        ({"tiers": [tier(0), tier(1, colour="red")]}, "tiers[1].colour: unknown field"),
        # the keys before the integers, the integers in order, then the level
        ({"tiers": [tier(0, colour="red", discount_pct=0)]}, "tiers[0].colour: unknown field"),
        ({"tiers": [tier(0, min_spend_fen=-1, discount_pct=0)]}, spend),
        ({"tiers": [tier(0, discount_pct=0, points_pct=-1)]}, discount),
        ({"tiers": [tier(0, points_pct=-1, level="")]}, pct),
        ({"tiers": [tier(0, min_spend_fen=None)]}, spend),
        ({"tiers": [tier(0, min_spend_fen=100000000001)]}, spend),
        ({"tiers": [tier(0, min_spend_fen="0")]}, spend),
        ({"tiers": [tier(0, discount_pct=None)]}, discount),
        ({"tiers": [tier(0, discount_pct=0)]}, discount),
        ({"tiers": [tier(0, discount_pct=101)]}, discount),
        ({"tiers": [tier(0, discount_pct=99.5)]}, discount),
        ({"tiers": [tier(0, points_pct=None)]}, pct),
        ({"tiers": [tier(0, points_pct=1001)]}, pct),
        ({"tiers": [tier(0), tier(1, points_pct=-5)]}, need("tiers[1].points_pct", 0, 1000)),
        ({"tiers": [tier(0, level=None)]}, level),
        ({"tiers": [tier(0, level="")]}, level),
        ({"tiers": [tier(0, level="Gold")]}, level),
        ({"tiers": [tier(0, level="a" * 17)]}, level),
        ({"tiers": [tier(0, level=5)]}, level),
        ({"tiers": [tier(0, name=5)]}, "tiers[0].name: a string up to 64 bytes"),
        ({"tiers": [tier(0, name="n" * 65)]}, "tiers[0].name: a string up to 64 bytes"),
        ({"tiers": [tier(0), tier(1, level="normal")]}, "tiers[1].level: used twice"),
        ({"tiers": [tier(0, min_spend_fen=1)]},
         "tiers[0].min_spend_fen: the first tier starts at 0 and each next one higher"),
        ({"tiers": [tier(0), tier(1, min_spend_fen=0)]},
         "tiers[1].min_spend_fen: the first tier starts at 0 and each next one higher"),
    ])
    # the message is cut at 159 bytes
    long = "k" * 200
    refused(env, [({"tiers": [dict(tier(0), **{long: 1})]},
                   ("tiers[0]." + long + ": unknown field")[:159])])

    edge = [tier(0, level="a" * 16, name="n" * 64, discount_pct=1, points_pct=0),
            tier(1, level="a_9", name=None, min_spend_fen=100000000000, discount_pct=100,
                 points_pct=1000)]
    assert accepted(env, {"tiers": edge})["tiers"] == edge
    ten = [tier(0)] + [tier(1, level=f"t{i}", min_spend_fen=i + 1) for i in range(9)]
    assert accepted(env, {"tiers": ten})["tiers"] == ten


# ----------------------------------------------------------------------------
# points


def test_rules_points(env):
    stores = "points.exclude_stores: store ids are needed"
    refused(env, [
        ({"points": 5}, "points.: an object is needed"),
        ({"points": []}, "points.: an object is needed"),
        ({"points": None}, "points.: an object is needed"),
        ({"points": dict(POINTS, colour=1)}, "points.colour: unknown field"),
        ({"points": {}}, need("points.per_yuan", 0, 100)),
        ({"points": {"per_yuan": 1}}, need("points.expire_after_months", 0, 120)),
        ({"points": dict(POINTS, per_yuan=-1)}, need("points.per_yuan", 0, 100)),
        ({"points": dict(POINTS, per_yuan=101)}, need("points.per_yuan", 0, 100)),
        ({"points": dict(POINTS, per_yuan="1")}, need("points.per_yuan", 0, 100)),
        ({"points": dict(POINTS, expire_after_months=121)},
         need("points.expire_after_months", 0, 120)),
        ({"points": dict(POINTS, redeem_fen_per_point=10001)},
         need("points.redeem_fen_per_point", 0, 10000)),
        ({"points": dict(POINTS, redeem_min_points=1000000001)},
         need("points.redeem_min_points", 0, 1000000000)),
        ({"points": dict(POINTS, redeem_min_points=-1)},
         need("points.redeem_min_points", 0, 1000000000)),
        ({"points": dict(POINTS, exclude_stores="s1")}, stores),
        ({"points": dict(POINTS, exclude_stores=[""])}, stores),
        ({"points": dict(POINTS, exclude_stores=["bad store"])}, stores),
        ({"points": dict(POINTS, exclude_stores=["s" * 33])}, stores),
        ({"points": dict(POINTS, exclude_stores=[5])}, stores),
        ({"points": dict(POINTS, exclude_stores=["s"] * 1001)}, stores),
        # the keys, then the store ids, then the integers
        ({"points": dict(POINTS, colour=1, exclude_stores=5)}, "points.colour: unknown field"),
        ({"points": dict(POINTS, per_yuan=-1, exclude_stores=5)}, stores),
        ({"points": dict(POINTS, per_yuan=-1, redeem_min_points=-1)},
         need("points.per_yuan", 0, 100)),
    ])
    edge = {"per_yuan": 100, "expire_after_months": 120, "redeem_fen_per_point": 10000,
            "redeem_min_points": 1000000000, "exclude_stores": ["s" * 32, "A-b_9"]}
    assert accepted(env, {"points": edge})["points"] == edge
    zero = {"per_yuan": 0, "expire_after_months": 0, "redeem_fen_per_point": 0,
            "redeem_min_points": 0, "exclude_stores": []}
    assert accepted(env, {"points": zero})["points"] == zero


# ----------------------------------------------------------------------------
# recharge_bonus


def test_rules_recharge_bonus(env):
    step = {"min_fen": 100, "bonus_fen": 10}
    min_fen = need("recharge_bonus[0].min_fen", 1, 100000000)
    bonus = need("recharge_bonus[0].bonus_fen", 0, 100000000)
    refused(env, [
        ({"recharge_bonus": {}}, "recharge_bonus: up to 20 steps"),
        ({"recharge_bonus": None}, "recharge_bonus: up to 20 steps"),
        ({"recharge_bonus": [dict(step, min_fen=i + 1) for i in range(21)]},
         "recharge_bonus: up to 20 steps"),
        ({"recharge_bonus": [5]}, "recharge_bonus[0].: an object is needed"),
        ({"recharge_bonus": [step, "x"]}, "recharge_bonus[1].: an object is needed"),
        ({"recharge_bonus": [dict(step, colour=1)]}, "recharge_bonus[0].colour: unknown field"),
        ({"recharge_bonus": [dict(step, colour=1, min_fen=0)]},
         "recharge_bonus[0].colour: unknown field"),
        ({"recharge_bonus": [dict(step, min_fen=0, bonus_fen=-1)]}, min_fen),
        ({"recharge_bonus": [{"bonus_fen": 1}]}, min_fen),
        ({"recharge_bonus": [dict(step, min_fen=100000001)]}, min_fen),
        ({"recharge_bonus": [dict(step, min_fen="100")]}, min_fen),
        ({"recharge_bonus": [{"min_fen": 1}]}, bonus),
        ({"recharge_bonus": [dict(step, bonus_fen=-1)]}, bonus),
        ({"recharge_bonus": [dict(step, bonus_fen=100000001)]}, bonus),
        ({"recharge_bonus": [step, dict(step, bonus_fen=1.5)]},
         need("recharge_bonus[1].bonus_fen", 0, 100000000)),
        ({"recharge_bonus": [step, step]}, "recharge_bonus[1].min_fen: steps ascend"),
        # the integers of a step before its order
        ({"recharge_bonus": [step, dict(step, bonus_fen=-1)]},
         need("recharge_bonus[1].bonus_fen", 0, 100000000)),
    ])
    edge = [{"min_fen": 1, "bonus_fen": 0}, {"min_fen": 100000000, "bonus_fen": 100000000}]
    assert accepted(env, {"recharge_bonus": edge})["recharge_bonus"] == edge
    twenty = [dict(step, min_fen=i + 1) for i in range(20)]
    assert accepted(env, {"recharge_bonus": twenty})["recharge_bonus"] == twenty
    assert accepted(env, {"recharge_bonus": []})["recharge_bonus"] == []


# ----------------------------------------------------------------------------
# campaigns (the ledger's points days)


def test_rules_campaigns(env):
    pct = need("campaigns[0].points_pct", 0, 1000)
    name = "campaigns[0].name: 1 to 64 bytes"
    stores = "campaigns[0].exclude_stores: store ids are needed"
    refused(env, [
        ({"campaigns": {}}, "campaigns: up to 100 campaigns"),
        ({"campaigns": [CAMPAIGN] * 101}, "campaigns: up to 100 campaigns"),
        ({"campaigns": ["x"]}, "campaigns[0].: an object is needed"),
        ({"campaigns": [CAMPAIGN, 5]}, "campaigns[1].: an object is needed"),
        ({"campaigns": [dict(CAMPAIGN, colour=1)]}, "campaigns[0].colour: unknown field"),
        ({"campaigns": [CAMPAIGN, dict(CAMPAIGN, colour=1)]}, "campaigns[1].colour: unknown field"),
        ({"campaigns": [{"name": "x", "from": "2026-03-01", "to": "2026-03-02"}]}, pct),
        ({"campaigns": [dict(CAMPAIGN, points_pct=-1)]}, pct),
        ({"campaigns": [dict(CAMPAIGN, points_pct=1001)]}, pct),
        ({"campaigns": [dict(CAMPAIGN, points_pct="200")]}, pct),
        ({"campaigns": [dict(CAMPAIGN, exclude_stores=["a b"])]}, stores),
        # the keys, the integer, the store ids, the name, from, to
        ({"campaigns": [dict(CAMPAIGN, colour=1, points_pct=-1)]},
         "campaigns[0].colour: unknown field"),
        ({"campaigns": [dict(CAMPAIGN, points_pct=-1, exclude_stores=5)]}, pct),
        ({"campaigns": [dict(CAMPAIGN, exclude_stores=5, name="")]}, stores),
        ({"campaigns": [dict(CAMPAIGN, name="", **{"from": "x"})]}, name),
        ({"campaigns": [{"from": "2026-03-01", "to": "2026-03-02", "points_pct": 1}]}, name),
        ({"campaigns": [dict(CAMPAIGN, name="n" * 65)]}, name),
        ({"campaigns": [dict(CAMPAIGN, name=5)]}, name),
        ({"campaigns": [dict(CAMPAIGN, **{"from": "2026-3-1"})]},
         "campaigns[0].from: a date YYYY-MM-DD"),
        ({"campaigns": [dict(CAMPAIGN, to=None)]},
         "campaigns[0].to: a date YYYY-MM-DD, not before from"),
    ])
    edge = [dict(CAMPAIGN, points_pct=0, name="n" * 64),
            dict(CAMPAIGN, points_pct=1000, exclude_stores=["s1"])]
    assert accepted(env, {"campaigns": edge})["campaigns"] == edge
    assert len(accepted(env, {"campaigns": [CAMPAIGN] * 100})["campaigns"]) == 100


# ----------------------------------------------------------------------------
# triggers and referral (docs/campaigns.md)


def test_rules_triggers(env):
    def t(**sections):
        return {"triggers": sections}

    def points(section):
        return need(f"triggers.{section}.points", 0, 1000000)

    silent = need("triggers.recall.silent_days", 1, 3650)
    value = need("triggers.recall.coupon.value_fen", 1, 100000000)
    days = need("triggers.recall.coupon.valid_days", 1, 3650)
    cname = "triggers.recall.coupon.name: 1 to 64 bytes"
    refused(env, [
        ({"triggers": []}, "triggers: an object is needed"),
        ({"triggers": None}, "triggers: an object is needed"),
        ({"triggers": "welcome"}, "triggers: an object is needed"),
        (t(colour={}), "triggers.colour: unknown field"),
        (t(welcome=5), "triggers.welcome.: an object is needed"),
        (t(welcome=None), "triggers.welcome.: an object is needed"),
        (t(birthday=[]), "triggers.birthday.: an object is needed"),
        (t(recall="x"), "triggers.recall.: an object is needed"),
        (t(anniversary=1), "triggers.anniversary.: an object is needed"),
        # each section: its keys, then its integers
        (t(welcome={"points": 1, "colour": 1}), "triggers.welcome.colour: unknown field"),
        (t(welcome={"points": -1, "colour": 1}), "triggers.welcome.colour: unknown field"),
        (t(welcome={"points": 1, "when": "day"}), "triggers.welcome.when: unknown field"),
        (t(welcome={}), points("welcome")),
        (t(welcome={"points": -1}), points("welcome")),
        (t(welcome={"points": 1000001}), points("welcome")),
        (t(welcome={"points": None}), points("welcome")),
        (t(birthday={"points": 1, "colour": 1}), "triggers.birthday.colour: unknown field"),
        (t(birthday={"points": 5.5}), points("birthday")),
        (t(birthday={"points": 1000001, "when": "week"}), points("birthday")),
        (t(birthday={"points": 5, "when": "week"}), "triggers.birthday.when: month or day"),
        (t(birthday={"points": 5, "when": 1}), "triggers.birthday.when: month or day"),
        (t(birthday={"points": 5, "when": None}), "triggers.birthday.when: month or day"),
        (t(anniversary={"points": "many"}), points("anniversary")),
        (t(anniversary={"points": 1, "silent_days": 3}),
         "triggers.anniversary.silent_days: unknown field"),
        (t(recall={"silent_days": 30, "points": 1, "colour": 1}),
         "triggers.recall.colour: unknown field"),
        (t(recall={"points": 5}), silent),
        (t(recall={"silent_days": 0, "points": 5}), silent),
        (t(recall={"silent_days": 3651, "points": 5}), silent),
        (t(recall={"silent_days": 0, "points": -1}), silent),
        (t(recall={"silent_days": 30, "points": -1}), points("recall")),
        (t(recall={"silent_days": 30, "points": 1000001}), points("recall")),
        (t(recall={"silent_days": 30}), "triggers.recall: points or a coupon is needed"),
        (t(recall={"silent_days": 30, "points": 0}),
         "triggers.recall: points or a coupon is needed"),
        # the coupon: its keys, its integers, its name
        (t(recall={"silent_days": 30, "coupon": 5}),
         "triggers.recall.coupon.: an object is needed"),
        (t(recall={"silent_days": 30, "coupon": None}),
         "triggers.recall.coupon.: an object is needed"),
        (t(recall={"silent_days": 30, "coupon": dict(COUPON, colour=1, value_fen=0)}),
         "triggers.recall.coupon.colour: unknown field"),
        (t(recall={"silent_days": 30, "coupon": dict(COUPON, value_fen=0, valid_days=0)}),
         value),
        (t(recall={"silent_days": 30, "coupon": dict(COUPON, value_fen=100000001)}), value),
        (t(recall={"silent_days": 30, "coupon": {"name": "x", "valid_days": 3}}), value),
        (t(recall={"silent_days": 30, "coupon": dict(COUPON, valid_days=0, name="")}), days),
        (t(recall={"silent_days": 30, "coupon": dict(COUPON, valid_days=3651)}), days),
        (t(recall={"silent_days": 30, "coupon": dict(COUPON, valid_days="3")}), days),
        (t(recall={"silent_days": 30, "coupon": dict(COUPON, name="")}), cname),
        (t(recall={"silent_days": 30, "coupon": dict(COUPON, name="n" * 65)}), cname),
        (t(recall={"silent_days": 30, "coupon": {"value_fen": 1, "valid_days": 1}}), cname),
        # the sections in the order welcome, birthday, recall, anniversary,
        # whatever the body's; all of their keys and integers before
        # birthday's when, and that before the recall's coupon
        (t(anniversary={"points": -1}, welcome={"points": -1}), points("welcome")),
        (t(anniversary={"points": -1}, recall={"points": 1}), silent),
        (t(recall={"silent_days": 0}, birthday={"points": -1}), points("birthday")),
        (t(birthday={"points": 1, "when": "week"}, anniversary={"colour": 1}),
         "triggers.anniversary.colour: unknown field"),
        (t(birthday={"points": 1, "when": "week"},
           recall={"silent_days": 30, "coupon": dict(COUPON, name="")}),
         "triggers.birthday.when: month or day"),
        (t(recall={"silent_days": 30, "points": 0, "coupon": dict(COUPON, name="")}), cname),
    ])
    top = 1000000
    v = accepted(env, t(welcome={"points": 0}, birthday={"points": top},
                        recall={"silent_days": 3650,
                                "coupon": {"name": "n" * 64, "value_fen": 100000000,
                                           "valid_days": 3650}},
                        anniversary={"points": top}))["triggers"]
    assert v["welcome"] == {"points": 0}, v
    assert v["birthday"]["points"] == top and v["birthday"]["when"] == "month", v
    assert v["recall"]["points"] == 0, v                     # the default, written
    assert v["recall"]["silent_days"] == 3650 and v["recall"]["coupon"]["valid_days"] == 3650
    assert v["anniversary"] == {"points": top}, v
    v = accepted(env, t(birthday={"points": 1, "when": "day"},
                        recall={"silent_days": 1, "points": 1}))["triggers"]
    assert v["birthday"]["when"] == "day" and "coupon" not in v["recall"], v
    assert "welcome" not in v and "anniversary" not in v, v
    assert accepted(env, t())["triggers"] == {}


def test_rules_referral(env):
    refused(env, [
        ({"referral": 5}, "referral: an object is needed"),
        ({"referral": []}, "referral: an object is needed"),
        ({"referral": None}, "referral: an object is needed"),
        ({"referral": dict(REFERRAL, colour=1)}, "referral.colour: unknown field"),
        ({"referral": dict(REFERRAL, colour=1, referrer_points=-1)},
         "referral.colour: unknown field"),
        ({"referral": {}}, need("referral.referrer_points", 0, 1000000)),
        ({"referral": dict(REFERRAL, referrer_points=-1, referee_points=-1)},
         need("referral.referrer_points", 0, 1000000)),
        ({"referral": dict(REFERRAL, referrer_points=1000001)},
         need("referral.referrer_points", 0, 1000000)),
        ({"referral": dict(REFERRAL, referee_points=-1, max_per_referrer=-1)},
         need("referral.referee_points", 0, 1000000)),
        ({"referral": dict(REFERRAL, referee_points="1")},
         need("referral.referee_points", 0, 1000000)),
        ({"referral": {"referrer_points": 1, "referee_points": 1}},
         need("referral.max_per_referrer", 0, 1000000)),
        ({"referral": dict(REFERRAL, max_per_referrer=1000001)},
         need("referral.max_per_referrer", 0, 1000000)),
    ])
    for edge in ({"referrer_points": 0, "referee_points": 0, "max_per_referrer": 0},
                 {"referrer_points": 1000000, "referee_points": 1000000,
                  "max_per_referrer": 1000000}):
        assert accepted(env, {"referral": edge})["referral"] == edge
    assert "referral" not in accepted(env, {})
