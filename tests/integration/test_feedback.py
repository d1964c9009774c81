"""Members' feedback: POST/GET feedback in the member API, the brand's list
and answers in the admin API; the texts sealed in Redis, never logged."""

import json
import os
import socket
import time

from harness import ADMIN_TOKEN, digest

DUMP_ALL = """
local out = {}
for _, k in ipairs(redis.call('KEYS', '*')) do
    local t = redis.call('TYPE', k).ok
    local v
    if t == 'string' then v = {redis.call('GET', k)}
    elseif t == 'hash' then v = redis.call('HGETALL', k)
    elseif t == 'zset' then v = redis.call('ZRANGE', k, 0, -1)
    elseif t == 'list' then v = redis.call('LRANGE', k, 0, -1)
    elseif t == 'set' then v = redis.call('SMEMBERS', k)
    elseif t == 'stream' then v = redis.call('XRANGE', k, '-', '+')
    end
    out[#out + 1] = {k, v}
end
return cjson.encode(out)
"""

_n = [0]


def member_token(env):
    _n[0] += 1
    name = f"fb{_n[0]}"
    mid, card = env.member(name)
    r = env.login(name)
    assert r.status == 200 and r.json["member_id"] == mid, r
    return mid, card, r.json["token"]


def post(env, token, body):
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    return env.request("POST", "/api/feedback", body,
                       {"Authorization": "Bearer " + token,
                        "Content-Type": "application/json"})


def mine(env, token, query=""):
    r = env.request("GET", "/api/feedback" + query,
                    headers={"Authorization": "Bearer " + token})
    assert r.status == 200, r
    return r.json


def everything_in_redis(env):
    return env.rcli("EVAL", DUMP_ALL, "0")


def access_log(env):
    try:
        with open(os.path.join(env.dir, "access.log"), errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


TEXT = "奶茶太甜了，希望能选少糖。店员 Wang 很热情！"
ANSWER = "谢谢反馈：下单时可选「少糖」，已转告门店。"


def test_feedback_happy_path(env):
    mid, card, token = member_token(env)
    r = post(env, token, {"text": TEXT, "rating": 4, "order_id": "ORD-1001"})
    assert r.status == 201, r
    fid = r.json["feedback_id"]
    assert len(fid) == 21 and set(fid) <= set("0123456789abcdef")
    r = post(env, token, {"text": "x" * 1000, "rating": 1})
    assert r.status == 201, r
    fid2 = r.json["feedback_id"]
    assert fid2 > fid

    page = mine(env, token)
    assert [f["feedback_id"] for f in page["items"]] == [fid2, fid] and page["next"] is None
    f = page["items"][1]
    assert f["text"] == TEXT and f["rating"] == 4 and f["order_id"] == "ORD-1001"
    assert f["status"] == "open" and f["answer"] is None and f["answered_at"] is None
    assert abs(f["created_at"] - time.time()) < 60
    assert "member_id" not in f and "answered_by" not in f
    assert page["items"][0]["order_id"] is None

    r = env.admin("GET", "feedback?status=open&limit=100")
    assert r.status == 200, r
    listed = {x["feedback_id"]: x for x in r.json["items"]}
    assert listed[fid]["member_id"] == mid and listed[fid]["card_no"] == card
    assert listed[fid]["text"] == TEXT and listed[fid]["status"] == "open"

    r = env.admin("POST", f"feedback/{fid}/answer", {"answer": ANSWER})
    assert r.status == 200 and r.json == {"feedback_id": fid, "status": "answered"}, r
    f = [x for x in mine(env, token)["items"] if x["feedback_id"] == fid][0]
    assert f["status"] == "answered" and f["answer"] == ANSWER
    assert abs(f["answered_at"] - time.time()) < 60

    open_ids = [x["feedback_id"] for x in env.admin("GET", "feedback?status=open&limit=100")
                .json["items"]]
    answered = env.admin("GET", "feedback?status=answered&limit=100").json["items"]
    assert fid not in open_ids and fid2 in open_ids
    assert [x["feedback_id"] for x in answered] == [fid]
    assert answered[0]["answer"] == ANSWER and answered[0]["answered_by"] == "bootstrap"
    everything = [x["feedback_id"] for x in env.admin("GET", "feedback?limit=100")
                  .json["items"]]
    assert everything.index(fid2) < everything.index(fid)

    # the answer is audited, with the status before and after
    deadline = time.monotonic() + 5
    while True:
        items = env.admin("GET", f"audit?target=feedback/{fid}").json["items"]
        if items or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert items[0]["route"] == f"feedback/{fid}/answer" and items[0]["actor"] == "bootstrap"
    assert items[0]["before"] == {"status": "open"}
    assert items[0]["after"] == {"status": "answered"}
    assert ANSWER not in json.dumps(items, ensure_ascii=False)

    # another member sees none of it
    _, _, other = member_token(env)
    assert mine(env, other)["items"] == []


def test_feedback_is_sealed_in_redis_and_never_logged(env):
    _, _, token = member_token(env)
    secret_text = "我的手机号是13987654321，住在幸福路8号"
    r = post(env, token, {"text": secret_text, "rating": 2})
    assert r.status == 201, r
    fid = r.json["feedback_id"]
    r = env.admin("POST", f"feedback/{fid}/answer", {"answer": "已致电 13987654321 回访"})
    assert r.status == 200, r
    dump = everything_in_redis(env)
    for s in [secret_text, "13987654321", "幸福路", "回访"]:
        assert s not in dump and json.dumps(s)[1:-1] not in dump, s
    raw = json.loads(env.rcli("HGET", "{b}:feedback", fid))
    assert raw["text"].startswith("k1:") and raw["answer"].startswith("k1:")
    # a sealed text copied into another feedback does not open there
    r = post(env, token, {"text": "another", "rating": 3})
    other = r.json["feedback_id"]
    rec = json.loads(env.rcli("HGET", "{b}:feedback", other))
    rec["text"] = raw["text"]
    env.rcli("HSET", "{b}:feedback", other, json.dumps(rec))
    items = {x["feedback_id"]: x for x in mine(env, token)["items"]}
    assert items[other]["text"] is None and items[fid]["text"] == secret_text
    for s in [secret_text, "13987654321", "幸福路"]:
        assert s not in env.log_text() and s not in access_log(env), s


def test_bad_feedback_is_400_and_changes_nothing(env):
    _, _, token = member_token(env)
    assert post(env, token, {"text": "ok", "rating": 5}).status == 201
    before = digest(env)
    bodies = [{}, {"rating": 5}, {"text": "hi"}, {"text": "", "rating": 5},
              {"text": "   \n\t ", "rating": 5}, {"text": "x" * 1001, "rating": 5},
              {"text": "好" * 1001, "rating": 5}, {"text": 5, "rating": 5},
              {"text": None, "rating": 5}, {"text": "a\u0000b", "rating": 5},
              {"text": "hi", "rating": 0}, {"text": "hi", "rating": 6},
              {"text": "hi", "rating": -1}, {"text": "hi", "rating": "5"},
              {"text": "hi", "rating": 4.5}, {"text": "hi", "rating": True},
              {"text": "hi", "rating": None}, {"text": "hi", "rating": 5, "order_id": ""},
              {"text": "hi", "rating": 5, "order_id": "has space"},
              {"text": "hi", "rating": 5, "order_id": "x" * 65},
              {"text": "hi", "rating": 5, "order_id": 17}]
    for body in bodies:
        r = post(env, token, body)
        assert r.status == 400 and r.json["error"] == "bad_request", (body, r)
    for raw in [b"{", b"[]", b"", b"nul", b"\xff\xfe", b'"text"', b'{"text":"hi","rating":5',
                b'{"text":"\xff","rating":5}', b"[" * 5000]:
        r = post(env, token, raw)
        assert r.status == 400, (raw[:20], r)
    assert digest(env) == before
    # no session, a wrong one, a wrong method
    assert env.request("POST", "/api/feedback", "{}").status == 401
    r = post(env, token[:-1] + ("A" if token[-1] != "A" else "B"), {"text": "hi", "rating": 5})
    assert r.status == 401, r
    r = env.request("DELETE", "/api/feedback", headers={"Authorization": "Bearer " + token})
    assert r.status == 405, r
    for q in ["?limit=0", "?limit=101", "?before=zz", "?before=" + "0" * 22]:
        r = env.request("GET", "/api/feedback" + q, headers={"Authorization": "Bearer " + token})
        assert r.status == 400, (q, r)
    assert digest(env) == before


def test_a_visitor_gives_no_feedback(env):
    r = env.login("fb-visitor-only")
    assert r.status == 200 and r.json["member_id"] is None, r
    token = r.json["token"]
    before = digest(env)
    r = post(env, token, {"text": "hi", "rating": 5})
    assert r.status in (401, 403), r
    assert digest(env) == before


def test_feedback_per_member_per_day(env):
    _, _, token = member_token(env)
    for i in range(10):
        assert post(env, token, {"text": f"note {i}", "rating": 3}).status == 201
    before = digest(env)
    r = post(env, token, {"text": "one more", "rating": 3})
    assert r.status == 429 and r.json["error"] == "rate_limited", r
    assert digest(env) == before
    # paging through them
    first = mine(env, token, "?limit=4")
    assert len(first["items"]) == 4 and first["next"] == first["items"][3]["feedback_id"]
    second = mine(env, token, "?limit=4&before=" + first["next"])
    third = mine(env, token, "?limit=4&before=" + second["next"])
    texts = [x["text"] for x in first["items"] + second["items"] + third["items"]]
    assert texts == [f"note {i}" for i in range(9, -1, -1)] and third["next"] is None
    # another member has a quota of their own
    _, _, other = member_token(env)
    assert post(env, other, {"text": "mine", "rating": 5}).status == 201


def test_feedback_posted_in_one_millisecond_lists_in_order(env):
    """Ten posts pipelined on one connection come within a millisecond or
    two of each other: their ids still sort as they were posted."""
    _, _, token = member_token(env)
    reqs = b""
    for i in range(10):
        body = json.dumps({"text": f"quick {i}", "rating": 4}).encode()
        reqs += (b"POST /api/feedback HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer "
                 + token.encode() + b"\r\nContent-Type: application/json\r\n"
                 + b"Content-Length: %d\r\n\r\n" % len(body) + body)
    with socket.create_connection(("127.0.0.1", env.port), timeout=10) as s:
        s.sendall(reqs)
        got = b""
        while got.count(b"HTTP/1.1 201") < 10:
            chunk = s.recv(65536)
            assert chunk, got
            got += chunk
    items = mine(env, token, "?limit=10")["items"]
    assert [x["text"] for x in items] == [f"quick {i}" for i in range(9, -1, -1)], items


def test_admin_feedback_bad_paths(env):
    _, _, token = member_token(env)
    fid = post(env, token, {"text": "hello", "rating": 5}).json["feedback_id"]
    before = digest(env)
    r = env.admin("GET", "feedback?status=closed")
    assert r.status == 400, r
    for body in [{}, {"answer": ""}, {"answer": " "}, {"answer": "x" * 2001}, {"answer": 1}]:
        r = env.admin("POST", f"feedback/{fid}/answer", body)
        assert r.status == 400 and r.json["error"] == "bad_request", (body, r)
    for raw in [b"{", b"", b"[]", b"\xff"]:
        r = env.admin("POST", f"feedback/{fid}/answer", raw)
        assert r.status == 400, (raw, r)
    r = env.admin("POST", "feedback/" + "0" * 21 + "/answer", {"answer": "x"})
    assert r.status == 404 and r.json["error"] == "not_found", r
    for path in ["feedback/xyz/answer", f"feedback/{fid}", f"feedback/{fid}/reply",
                 f"feedback/{fid}/answer/x", "feedback/" + "G" * 21 + "/answer"]:
        r = env.admin("POST", path, {"answer": "x"})
        assert r.status == 404, (path, r)
    assert env.admin("GET", f"feedback/{fid}/answer").status == 405
    assert env.admin("POST", "feedback", {}).status == 405
    assert env.admin("GET", "feedback", token=None).status == 401
    assert env.admin("GET", "feedback", token=ADMIN_TOKEN + "x").status == 401
    env.rcli("DEL", "{b}:admin:fail:127.0.0.1")
    assert digest(env) == before


def test_export_has_the_feedback_and_delete_erases_it(env):
    mid, _, token = member_token(env)
    auth = {"Authorization": "Bearer " + token}
    fid = post(env, token, {"text": "我家住在春风路", "rating": 3}).json["feedback_id"]
    assert env.admin("POST", f"feedback/{fid}/answer", {"answer": "已记录"}).status == 200
    _, _, other = member_token(env)
    kept = post(env, other, {"text": "someone else's", "rating": 4}).json["feedback_id"]

    r = env.request("GET", "/api/export", headers=auth)
    assert r.status == 200, r
    assert [(f["feedback_id"], f["text"], f["answer"]) for f in r.json["feedback"]] == \
        [(fid, "我家住在春风路", "已记录")]

    r = env.request("DELETE", "/api/profile", headers=auth)
    assert r.status == 200, r
    assert env.rcli("HGET", "{b}:feedback", fid) == ""
    for key in ["{b}:feedback:all", "{b}:feedback:answered"]:
        assert env.rcli("ZSCORE", key, fid) == "", key
    listed = [f["feedback_id"] for f in env.admin("GET", "feedback?limit=100").json["items"]]
    assert fid not in listed and kept in listed
    assert env.rcli("EXISTS", "{b}:feedback:m:" + mid) == "0"
    assert json.loads(env.rcli("HGET", "{b}:feedback", kept))["feedback_id"] == kept
