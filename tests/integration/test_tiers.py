"""GET tiers (member_api): the brand's tiers for the card page, the
member's tier and its spend in the current period."""

from harness import wait_until
from test_scan import Till, code_of

TIERS = [
    {"level": "normal", "name": "普通会员", "min_spend_fen": 0, "discount_pct": 100, "points_pct": 100},
    {"level": "silver", "name": "银卡", "min_spend_fen": 100000, "discount_pct": 98, "points_pct": 120},
    {"level": "gold", "name": "金卡", "min_spend_fen": 500000, "discount_pct": 95, "points_pct": 150},
    {"level": "platinum", "name": "白金卡", "min_spend_fen": 2000000, "discount_pct": 90,
     "points_pct": 200},
]


def test_tiers_and_the_members_progress(env):
    mid, _ = env.member("tiered", level="silver")
    env.admin("POST", f"members/{mid}/recharge", {"amount_fen": 100000, "idempotency_key": "t1"})
    token = env.login("tiered").json["token"]
    r = env.api("tiers", token)
    assert r.status == 200, r
    assert r.headers["cache-control"] == "no-store"
    assert r.json == {"level": "silver", "period_spend_fen": 0, "tier_period_months": 12,
                      "tiers": TIERS}, r.json
    till = Till(env, "T1")
    ticket = till.verify(code_of(mid)).json["ticket"]
    r = till.call("pay", {"ticket": ticket, "amount_fen": 20000, "order_id": "o1"})
    assert r.status == 200, r
    spent = r.json["charged_fen"]
    got = env.api("tiers", token).json
    assert (got["level"], got["period_spend_fen"]) == ("silver", spent), got
    # the rules' tiers as they change, within the workers' second
    rules = env.admin("GET", "rules").json
    del rules["version"]
    rules["tiers"][1]["name"] = "银卡会员"
    assert env.admin("PUT", "rules", rules).status == 200
    wait_until("the new rules", lambda: env.api("tiers", token).json["tiers"][1]["name"] == "银卡会员")
    # a refund takes the spend back
    assert till.call("refund", {"order_id": "o1"}).status == 200
    assert env.api("tiers", token).json["period_spend_fen"] == 0


def test_tiers_need_a_member(env):
    r = env.request("GET", "/api/tiers")
    assert r.status == 401 and r.json["error"] == "unauthorized", r
    assert env.api("tiers", "1." + "A" * 43).status == 401
    visitor = env.login("tierless").json["token"]
    r = env.api("tiers", visitor)
    assert r.status == 404 and r.json["error"] == "not_found", r
    mid, _ = env.member("tiermethods")
    token = env.login("tiermethods").json["token"]
    for method in ["POST", "PUT", "DELETE"]:
        r = env.api("tiers", token, method=method)
        assert r.status == 405, (method, r)
    r = env.api("tiers", token, method="HEAD")
    assert r.status == 200 and r.body == b""
    # a member who deleted their data has no card page
    r = env.request("DELETE", "/api/profile", headers={"Authorization": "Bearer " + token})
    assert r.status in (200, 204), r
    r = env.api("tiers", token)
    assert r.status in (401, 404), r
