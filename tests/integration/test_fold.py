"""Brand totals: the fold (docs/ledger.md).  Every script that changes a
member hints the member in {b}:fold."""

import harness


def hints(env, mid):
    return int(env.rcli("HGET", "{b}:fold:gen", str(mid)) or 0)


def test_hints_follow_changes(env):
    mid, _ = env.member("foldhint")
    assert hints(env, mid) == 1
    assert env.rcli("ZSCORE", "{b}:fold", mid) != ""
    r = env.admin("POST", f"members/{mid}/recharge",
                  {"amount_fen": 1000, "idempotency_key": "fold-hint-1"})
    assert r.status == 200, r
    harness.wait_until("the hint", lambda: hints(env, mid) == 2)
    r = env.admin("POST", f"members/{mid}/points",
                  {"delta": 5, "reason": "test", "idempotency_key": "fold-hint-2"})
    assert r.status == 200, r
    harness.wait_until("the hint", lambda: hints(env, mid) == 3)
    r = env.admin("PUT", f"members/{mid}/level", {"level": "gold", "reason": "vip"})
    assert r.status == 200, r
    harness.wait_until("the hint", lambda: hints(env, mid) == 4)
    # a request refused before any script makes no hint
    r = env.admin("POST", f"members/{mid}/recharge", {"amount_fen": -1, "idempotency_key": "x"})
    assert r.status == 400, r
    assert hints(env, mid) == 4
