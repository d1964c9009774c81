"""Bad input never gets a 5xx: every route, every method, odd bodies,
with valid credentials so that the bodies are read."""

import json

from test_scan import Till, member_with_money

BODIES = [b"", b"{", b"[]", b"null", b"0", b'"x"', b"{}", b'{"a":1,"a":2}',
          b"\xff\xfe\x00", b'{"code":null}', b'{"amount_fen":1e400}',
          json.dumps({k: v for k in ["code", "ticket", "order_id", "amount_fen",
                                     "idempotency_key", "openid", "level", "name",
                                     "phone", "birthday", "store_id", "delta",
                                     "reason", "points", "consent", "gender",
                                     "coupon_id", "template_id", "member_ids", "tag",
                                     "refund_key", "value_fen", "pct", "valid_days",
                                     "invite_code", "triggers", "referral",
                                     "messages", "template_ids"]
                      for v in [[{"x": "\u0000"}]]}).encode(),
          json.dumps({"amount_fen": 2 ** 63, "order_id": "x" * 65, "code": "9" * 18,
                      "ticket": "1." + "A" * 43, "idempotency_key": "k",
                      "level": "gold", "openid": "o" * 200}).encode(),
          json.dumps({"name": "名" * 5000}).encode()[:15000]]

ADMIN = ["members", "members/1", "members/lookup", "members/1/recharge",
         "members/1/transactions", "members/1/level", "members/1/points",
         "stores", "rules", "clock", "members?openid=%00", "members?card_no=%ff",
         "keys", "keys/0123456789abcdef", "audit", "audit?actor=%00&target=%ff", "whoami",
         "feedback", "feedback?status=%00", "feedback/0000000000000000000aa/answer",
         "coupons/templates", "coupons/issue", "members/1/coupons", "members/1/recharge/refund",
         "members/1/transactions?type=%00&from=-1&store=%ff",
         "campaigns", "campaigns/run", "campaigns/%00", "stores/G9/rotate", "stores/%00/rotate",
         "stores//rotate"]
API = ["card", "balance", "points", "transactions?before=%00", "code", "code.png",
       "code.svg", "jssdk?url=%00", "card-ext?card_id=", "register", "subscriptions",
       "profile",
       "export", "coupons", "transactions?type=x&to=%00", "referral",
       "tiers"]
SCAN = ["verify", "pay", "earn", "refund"]


def test_no_bad_input_gets_a_5xx(env):
    _, _, token = member_with_money(env, "garbage")
    till = Till(env, "G1")
    workers = env.worker_pids()
    seen = []
    for body in BODIES:
        for path in ADMIN:
            for method in ["GET", "POST", "PUT", "DELETE"]:
                seen.append((method, "/admin/" + path,
                             env.admin(method, path, body).status))
        for path in API:
            for method in ["GET", "POST", "PUT", "DELETE"]:
                r = env.request(method, "/api/" + path, body,
                                {"Authorization": "Bearer " + token})
                seen.append((method, "/api/" + path, r.status))
        for path in SCAN:
            r = env.request("POST", "/scan/" + path, body,
                            till.headers("/scan/" + path, body))
            seen.append(("POST", "/scan/" + path, r.status))
        for path in ["/login", "/oauth/", "/oa"]:
            seen.append(("POST", path, env.request("POST", path, body).status))
    bad = [s for s in seen if s[2] >= 500]
    assert not bad, bad[:10]
    assert len(seen) > 1000
    # the same worker answers (DELETE profile did erase this member)
    assert env.worker_pids() == workers
    assert env.request("GET", "/status").status == 200
