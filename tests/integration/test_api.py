"""The member API: card, balance, points and transactions by session."""

import time


def member_with_token(env, name, level=None):
    mid, card = env.member(name, level=level)
    token = env.login(name).json["token"]
    return mid, card, token


def test_card_balance_points(env):
    mid, card, token = member_with_token(env, "cardy", level="platinum")
    env.admin("POST", f"members/{mid}/recharge", {"amount_fen": 50000, "idempotency_key": "c1"})
    r = env.api("card", token)
    assert r.status == 200, r
    assert r.json == {"member_id": mid, "card_no": card, "level": "platinum",
                      "points": 0, "balance_fen": 55000, "status": "active"}
    assert r.headers["cache-control"] == "no-store"
    assert env.api("balance", token).json == {"balance_fen": 55000}
    assert env.api("points", token).json == {"points": 0, "expiring": []}


def test_transactions(env):
    mid, _, token = member_with_token(env, "ledgy")
    for i in range(3):
        env.admin("POST", f"members/{mid}/recharge",
                  {"amount_fen": 1000 * (i + 1), "idempotency_key": f"t{i}"})
    page = env.api("transactions?limit=2", token).json
    assert [e["amount_fen"] for e in page["items"]] == [3000, 2000]
    rest = env.api("transactions?limit=2&before=" + page["next"], token).json
    assert [e["amount_fen"] for e in rest["items"]] == [1000] and rest["next"] is None


def test_tokens_that_do_not_open_anything(env):
    mid, _, token = member_with_token(env, "locked")
    other_mid, _ = env.member("other")
    secret = token.split(".")[1]
    for bad in ["", "x", mid, mid + ".", mid + "." + secret[:-1], mid + "." + secret + "A",
                other_mid + "." + secret, "0." + secret, "01." + secret,
                mid + "." + secret[:-1] + "!", mid + ".." + secret[1:],
                "99999999999999." + secret]:
        r = env.api("card", bad)
        assert r.status == 401 and r.json["error"] == "unauthorized", (bad, r)
    r = env.request("GET", "/api/card")
    assert r.status == 401, r
    r = env.request("GET", "/api/card", headers={"Authorization": "Basic " + token})
    assert r.status == 401, r
    assert env.api("card", token).status == 200


def test_expired_session(env):
    mid, _, token = member_with_token(env, "expiring")
    key = env.rcli("KEYS", "{m:" + mid + "}:s:*").split()[0]
    field = key.split("}:", 1)[1]
    # the member hash keeps the session's end, so that a card is one HMGET
    end = int(env.rcli("HGET", "{m:" + mid + "}", field))
    assert abs(end - time.time() - 7 * 24 * 3600) < 60
    # what the session's TTL and its end do when they pass
    env.rcli("HSET", "{m:" + mid + "}", field, str(int(time.time()) - 1))
    env.rcli("DEL", key)
    for path in ["card", "balance", "points", "transactions", "code.png"]:
        r = env.api(path, token)
        assert r.status == 401 and r.json["error"] == "unauthorized", (path, r)


def test_session_without_its_end_in_the_member_hash(env):
    mid, _, token = member_with_token(env, "older")
    key = env.rcli("KEYS", "{m:" + mid + "}:s:*").split()[0]
    env.rcli("HDEL", "{m:" + mid + "}", key.split("}:", 1)[1])
    assert env.api("card", token).json["member_id"] == mid    # the key decides
    env.rcli("DEL", key)
    assert env.api("card", token).status == 401


def test_next_login_drops_ended_sessions(env):
    mid, _, token = member_with_token(env, "tidy")
    key = env.rcli("KEYS", "{m:" + mid + "}:s:*").split()[0]
    field = key.split("}:", 1)[1]
    env.rcli("HSET", "{m:" + mid + "}", field, "1")
    env.login("tidy")
    assert env.rcli("HEXISTS", "{m:" + mid + "}", field) == "0"


def test_unknown_route_and_method(env):
    _, _, token = member_with_token(env, "routes")
    assert env.api("nothing", token).status == 404
    r = env.api("card", token, method="POST")
    assert r.status == 405 and r.json["error"] == "method_not_allowed", r
    r = env.api("card", token, method="HEAD")
    assert r.status == 200 and r.body == b""
