"""The official account's server URL (member_wechat_oa): URL verification,
plain, compatible and safe mode, every member-card event applied once, text
replies, key rotation, two brands on one nginx, and every bad path."""

import http.client
import json
import secrets
import time
import urllib.parse

import harness
from harness import APPID, OA_AES_KEY, OA_AES_KEY_OLD, OA_TOKEN
from wxcrypt import WXBizMsgCrypt, fields, sha1_sorted

BRAND2_APPID = "wx2222222222222222"
BRAND2_TOKEN = "brand2Token0b9e4a"
BRAND2_AES_KEY = "myvwQinzRKO6RHzr2Qqi3jYfOtKOBLs6m54VtGgYlEg"

# a second brand on the same nginx and Redis server, its own database
ENV = {"extra_http": f"""
    server {{
        listen 127.0.0.1:@PORT@;
        server_name brand2.test;
        member_redis 127.0.0.1:@REDIS_PORT@ db=1;
        member_wechat_appid {BRAND2_APPID};
        member_wechat_token {BRAND2_TOKEN};
        member_wechat_aes_key {BRAND2_AES_KEY};
        location = /oa {{
            member_wechat_oa;
        }}
    }}
"""}

WX = WXBizMsgCrypt(OA_TOKEN, OA_AES_KEY, APPID)
WX_OLD = WXBizMsgCrypt(OA_TOKEN, OA_AES_KEY_OLD, APPID)
WX2 = WXBizMsgCrypt(BRAND2_TOKEN, BRAND2_AES_KEY, BRAND2_APPID)
GH = "gh_0123456789ab"

_n = [0]


def openid(name):
    return ("oOa" + name + "_" * 28)[:28]


def nonce():
    return str(secrets.randbelow(10**9) + 10**9)


def msg(openid_, msg_type, create_time=None, **more):
    """A pushed message; more fields as keyword arguments, in CDATA."""
    parts = [f"<ToUserName><![CDATA[{GH}]]></ToUserName>",
             f"<FromUserName><![CDATA[{openid_}]]></FromUserName>",
             f"<CreateTime>{create_time or int(time.time())}</CreateTime>",
             f"<MsgType><![CDATA[{msg_type}]]></MsgType>"]
    parts += [f"<{k}><![CDATA[{v}]]></{k}>" for k, v in more.items()]
    return "<xml>" + "".join(parts) + "</xml>"


def event(openid_, name, **more):
    _n[0] += 1          # a distinct CreateTime for each event of a test
    return msg(openid_, "event", int(time.time()) - 100 + _n[0] % 90, Event=name, **more)


def text(openid_, content):
    _n[0] += 1
    return msg(openid_, "text", Content=content, MsgId=str(7000000000000000000 + _n[0]))


def post(env, body, query, host=None, path="/oa"):
    headers = {"Content-Type": "text/xml"}
    if host:
        headers["Host"] = host
    if isinstance(body, str):
        body = body.encode()
    return env.request("POST", path + "?" + urllib.parse.urlencode(query), body, headers)


def plain_query(ts=None, nonce_=None, token=OA_TOKEN):
    ts = str(int(time.time()) if ts is None else ts)
    nonce_ = nonce_ or nonce()
    return {"signature": sha1_sorted(token, ts, nonce_), "timestamp": ts, "nonce": nonce_,
            "openid": "ignored"}


def post_plain(env, body, query, **kw):
    return post(env, body, query, path="/oa-plain", **kw)


def push_plain(env, xml, ts=None, nonce_=None, **kw):
    """Plain mode, to the location without member_wechat_aes_key (/oa has
    one, and refuses plain pushes)."""
    kw.setdefault("path", "/oa-plain")
    return post(env, xml, plain_query(ts, nonce_), **kw)


def push_safe(env, xml, wx=WX, ts=None, nonce_=None, compatible=False, host=None):
    query, body = wx.seal_push(xml, int(time.time()) if ts is None else ts,
                               nonce_ or nonce(), compatible=compatible)
    return post(env, body, query, host=host)


def push_safe_raw(env, encrypt, ts=None, nonce_=None, sign=True, wx=WX):
    """A safe-mode push of an Encrypt text as given, signed over it."""
    ts = str(int(time.time()) if ts is None else ts)
    nonce_ = nonce_ or nonce()
    query = {"timestamp": ts, "nonce": nonce_, "encrypt_type": "aes",
             "msg_signature": wx.sign(ts, nonce_, encrypt) if sign else "0" * 40}
    body = f"<xml><ToUserName><![CDATA[{GH}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    return post(env, body, query)


# ------------------------------------------------------------------ Redis views

DIGEST = """
local keys = redis.call('KEYS', '*')
table.sort(keys)
local acc = {}
for _, k in ipairs(keys) do
    -- the ledger's sweep and the fold (their timers) keep their own schedule;
    -- on a cluster a database is a brand (db<N>): its keys are read as one
    local t = string.gsub(string.gsub(k, '^{b:db%d+', '{b'), '^db%d+:', '')
    if not (string.sub(t, 1, 7) == 'ledger:' or string.find(t, '^{b}:fold') or string.find(t, '^{b}:day:')
            or string.find(t, '^{b:fold:') or string.find(t, '^{b:due:')
            or string.find(t, '^{b}:store:') or t == '{b}:cursors'
            or t == '{b}:members' or t == '{b}:totals') then
        acc[#acc + 1] = k
        acc[#acc + 1] = redis.call('DUMP', k)
    end
end
return redis.sha1hex(table.concat(acc, '|')) .. ' ' .. #acc / 2
"""


def snapshot(env):
    return env.rcli("EVAL", DIGEST, "0") + " / " + env.rcli("-n", "1", "EVAL", DIGEST, "0")


def member_id(env, openid_, db=0):
    v = env.rcli("-n", str(db), "GET", "openid:" + openid_)
    return int(v) if v else None


def hgetall(env, key, db=0):
    out = env.rcli("-n", str(db), "EVAL",
                   "return cjson.encode(redis.call('HGETALL', KEYS[1]))", "1", key)
    flat = json.loads(out)
    return dict(zip(flat[::2], flat[1::2])) if flat else {}


def activity(env, mid, db=0):
    out = env.rcli("-n", str(db), "EVAL",
                   "return cjson.encode(redis.call('XRANGE', KEYS[1], '-', '+'))", "1",
                   f"{{m:{mid}}}:activity")
    entries = json.loads(out) if out not in ("", "{}") else []
    return [dict(zip(e[1][::2], e[1][1::2])) for e in entries]


def card_no(mid):
    s = "88%013d" % mid
    total = 0
    for i, ch in enumerate(reversed(s)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return s + str((10 - total % 10) % 10)


def assert_success(r):
    assert r.status == 200 and r.body == b"success", r


def claim(env, name, push=push_plain, **more):
    oid = openid(name)
    fields_ = {"CardId": "pCard000000000000000000001", "IsGiveByFriend": "0",
               "UserCardCode": "1234" + str(secrets.randbelow(10**8)).zfill(8),
               "OuterStr": "mp_home", "IsRestoreMemberCard": "0"}
    fields_.update(more)
    assert_success(push(env, event(oid, "user_get_card", **fields_)))
    return oid, member_id(env, oid), fields_


# ------------------------------------------------------------------ the good paths

def test_url_verification(env):
    ts, n = str(int(time.time())), nonce()
    sig = sha1_sorted(OA_TOKEN, ts, n)
    q = urllib.parse.urlencode({"signature": sig, "timestamp": ts, "nonce": n,
                                "echostr": "4375120948345356249"})
    r = env.request("GET", "/oa?" + q)
    assert r.status == 200 and r.body == b"4375120948345356249", r
    before = snapshot(env)
    for bad in ({"signature": "0" * 40}, {"signature": sig.upper()[:-1] + "X"},
                {"timestamp": str(int(ts) - 301)}, {"nonce": n + "1"}):
        query = {"signature": sig, "timestamp": ts, "nonce": n, "echostr": "42"}
        query.update(bad)
        r = env.request("GET", "/oa?" + urllib.parse.urlencode(query))
        assert r.status == 401, (bad, r)
    r = env.request("GET", "/oa?" + urllib.parse.urlencode(
        {"signature": sig, "timestamp": ts, "nonce": n}))
    assert r.status == 400, r
    r = env.request("GET", "/oa?" + urllib.parse.urlencode(
        {"signature": sig, "timestamp": ts, "nonce": n, "echostr": "<script>"}))
    assert r.status == 400, r
    assert snapshot(env) == before


def test_plain_mode_claim_makes_a_member(env):
    oid, mid, f = claim(env, "plain", UnionId="uUnion0000000000000000000001")
    assert mid is not None
    m = hgetall(env, f"{{m:{mid}}}")
    assert m["status"] == "active" and m["openid"] == oid and m["id"] == str(mid)
    assert m["card_no"] == card_no(mid) and m["level"] == "normal"
    assert m["points"] == "0" and m["balance_fen"] == "0"
    assert m["wx_card_id"] == f["CardId"] and m["wx_card_code"] == f["UserCardCode"]
    assert m["wx_card_status"] == "claimed" and m["wx_card_gifted"] == "0"
    assert m["channel"] == "mp_home" and m["unionid"] == "uUnion0000000000000000000001"
    acts = activity(env, mid)
    assert len(acts) == 1 and acts[0]["event"] == "user_get_card"
    assert acts[0]["card_code"] == f["UserCardCode"] and acts[0]["outer_str"] == "mp_home"
    r = env.admin("GET", f"members/{mid}")
    assert r.status == 200 and r.json["card_no"] == card_no(mid), r
    assert r.json["status"] == "active"


def test_a_retried_push_is_answered_again_and_applied_once(env):
    oid = openid("retry")
    xml = event(oid, "user_get_card", CardId="pCardR", UserCardCode="555000111",
                OuterStr="qr_store_7")
    q = plain_query()
    assert_success(post_plain(env, xml, q))
    seq = env.rcli("GET", "member:seq")
    for _ in range(3):              # WeChat: up to three retries
        assert_success(post_plain(env, xml, q))
    for _ in range(2):              # a retry under a new timestamp and nonce
        assert_success(push_plain(env, xml))
    query, body = WX.seal_push(xml, int(time.time()), nonce())
    for _ in range(2):              # and in safe mode, same query twice
        assert_success(post(env, body, query))
    mid = member_id(env, oid)
    assert len(activity(env, mid)) == 1
    assert env.rcli("GET", "member:seq") == seq       # no other member made


def test_concurrent_copies_apply_once(env):
    import threading
    oid = openid("concurrent")
    xml = event(oid, "user_get_card", CardId="pCardC", UserCardCode="777000111")
    q = plain_query()
    out = []
    threads = [threading.Thread(target=lambda: out.append(post_plain(env, xml, q)))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status == 200 and r.body == b"success" for r in out), out
    mid = member_id(env, oid)
    assert len(activity(env, mid)) == 1
    assert hgetall(env, f"{{m:{mid}}}")["card_no"] == card_no(mid)


def test_safe_mode_claim_and_text_replies(env):
    oid, mid, f = claim(env, "safe", push=push_safe)
    m = hgetall(env, f"{{m:{mid}}}")
    assert m["status"] == "active" and m["wx_card_code"] == f["UserCardCode"]
    r = env.admin("POST", f"members/{mid}/recharge",
                  {"amount_fen": 3500, "idempotency_key": "oa-safe-1"})
    assert r.status == 200, r

    r = push_safe(env, text(oid, "积分"))
    assert r.status == 200, r
    reply = fields(WX.open_reply(r.body))
    assert reply["ToUserName"] == oid and reply["FromUserName"] == GH
    assert reply["MsgType"] == "text" and abs(int(reply["CreateTime"]) - time.time()) < 5
    assert reply["Content"] == "积分 0\n等级 普通会员", reply

    reply = fields(WX.open_reply(push_safe(env, text(oid, " 余额 ")).body))
    assert reply["Content"] == "余额 ¥35.00\n等级 普通会员", reply

    reply = fields(WX.open_reply(push_safe(env, text(oid, "我的会员卡")).body))
    assert reply["Content"] == f"会员卡号 {card_no(mid)}\n等级 普通会员\n积分 0\n余额 ¥35.00"

    reply = fields(WX.open_reply(push_safe(env, text(oid, "你好")).body))
    assert "回复" in reply["Content"] and "积分" in reply["Content"]


def test_plain_mode_text_replies(env):
    oid, mid, _ = claim(env, "plaintext")
    env.rcli("HSET", f"{{m:{mid}}}", "level", "gold", "points", "1280",
             "balance_fen", "100005")
    r = push_plain(env, text(oid, "会员卡"))
    assert r.status == 200 and r.body.startswith(b"<xml>"), r
    reply = fields(r.body)
    assert reply["ToUserName"] == oid and reply["FromUserName"] == GH
    assert reply["Content"] == f"会员卡号 {card_no(mid)}\n等级 金卡\n积分 1280\n余额 ¥1000.05"
    # a stranger asking gets told how to get a card; no record is made
    stranger = openid("stranger")
    reply = fields(push_plain(env, text(stranger, "积分")).body)
    assert "还没有会员卡" in reply["Content"]
    assert member_id(env, stranger) is None


def test_compatible_mode(env):
    oid, mid, _ = claim(env, "compat", push=lambda e, x: push_safe(e, x, compatible=True))
    assert hgetall(env, f"{{m:{mid}}}")["status"] == "active"
    r = push_safe(env, text(oid, "积分"), compatible=True)
    assert fields(WX.open_reply(r.body))["Content"].startswith("积分 0")
    # the plaintext copy is not signed: only the encrypted message counts
    query, body = WX.seal_push(text(oid, "积分"), int(time.time()), nonce(), compatible=True)
    body = body.replace(oid.encode(), openid("intruder").encode(), 1)
    r = post(env, body, query)
    assert fields(WX.open_reply(r.body))["ToUserName"] == oid


def test_with_a_key_only_sealed_pushes_are_read(env):
    # safe mode: a plain push's body is signed by nothing, so anyone who saw
    # one signed query could claim cards for any openid; 401, nothing applied
    oid = openid("unsealed")
    xml = event(oid, "user_get_card", CardId="pU", UserCardCode="888000111")
    before = snapshot(env)
    for extra in ({}, {"encrypt_type": "raw"}):
        q = dict(plain_query(), **extra)
        r = post(env, xml, q)
        assert r.status == 401 and r.json["error"] == "unauthorized", (extra, r)
        assert "encrypt_type=aes" in r.json["message"], r
    # a body carrying Encrypt, sent without encrypt_type, is not read either
    query, body = WX.seal_push(xml, int(time.time()), nonce(), compatible=True)
    r = post(env, body, plain_query())
    assert r.status == 401, r
    # brand2's server has a key too
    q = plain_query(token=BRAND2_TOKEN)
    assert post(env, xml, q, host="brand2.test").status == 401
    assert text_reply_refused(env, oid)
    assert snapshot(env) == before and member_id(env, oid) is None
    # the same push sealed is applied; URL verification stays plain
    assert_success(post(env, body, query))
    assert member_id(env, oid) is not None
    ts, n = str(int(time.time())), nonce()
    r = env.request("GET", "/oa?" + urllib.parse.urlencode(
        {"signature": sha1_sorted(OA_TOKEN, ts, n), "timestamp": ts, "nonce": n,
         "echostr": "ok123"}))
    assert r.status == 200 and r.body == b"ok123", r


def text_reply_refused(env, oid):
    r = post(env, text(oid, "积分"), plain_query())
    return r.status == 401 and not r.body.startswith(b"<xml>")


def test_every_card_event_lands_once(env):
    oid, mid, f = claim(env, "events", push=push_safe)
    code = f["UserCardCode"]
    pushes = [
        event(oid, "submit_membercard_user_info", CardId=f["CardId"], UserCardCode=code),
        event(oid, "user_view_card", CardId=f["CardId"], UserCardCode=code, OuterStr="menu"),
        event(oid, "user_enter_session_from_card", CardId=f["CardId"], UserCardCode=code),
        event(oid, "user_consume_card", CardId=f["CardId"], UserCardCode=code,
              ConsumeSource="FROM_API", LocationName="Store 1", StaffOpenId="oStaff",
              VerifyCode="secret-verify", RemarkAmount="12"),
        event(oid, "update_member_card", CardId=f["CardId"], UserCardCode=code,
              ModifyBonus="10", ModifyBalance="-200"),
    ]
    for xml in pushes:
        for push in (push_safe, push_plain, push_safe):      # retries, any mode
            assert_success(push(env, xml))
    m = hgetall(env, f"{{m:{mid}}}")
    # the form is the outbox's to read (test_activation.py): WeChat has
    # not accepted an activation yet, so the card stays claimed
    assert m["wx_card_status"] == "claimed" and m["wx_form"] == "submitted"
    acts = activity(env, mid)
    assert [a["event"] for a in acts] == [
        "user_get_card", "submit_membercard_user_info", "user_view_card",
        "user_enter_session_from_card", "user_consume_card", "update_member_card"]
    assert acts[4]["consume_source"] == "FROM_API" and acts[4]["location_name"] == "Store 1"
    assert "secret-verify" not in json.dumps(acts)
    assert acts[5]["modify_bonus"] == "10" and acts[5]["modify_balance"] == "-200"
    # WeChat's own bookkeeping does not move the ledger's money
    assert m["points"] == "0" and m["balance_fen"] == "0"

    # the card removed: the member and its history stay
    xml = event(oid, "user_del_card", CardId=f["CardId"], UserCardCode=code)
    for _ in range(2):
        assert_success(push_plain(env, xml))
    m = hgetall(env, f"{{m:{mid}}}")
    assert m["wx_card_status"] == "removed" and m["status"] == "active"
    assert m["card_no"] == card_no(mid)
    acts = activity(env, mid)
    assert len(acts) == 7 and acts[-1]["event"] == "user_del_card"

    # claimed again, gifted by a friend: linked to the same member
    claim(env, "events", IsGiveByFriend="1", FriendUserName=openid("friend"),
          OuterStr="gift")
    m = hgetall(env, f"{{m:{mid}}}")
    assert m["wx_card_status"] == "claimed" and m["wx_card_gifted"] == "1"
    assert m["channel"] == "mp_home"            # the first channel stays
    assert member_id(env, oid) == mid


def test_an_old_card_deleted_leaves_the_new_one(env):
    oid, mid, f = claim(env, "twocards")
    _, _, f2 = claim(env, "twocards")
    assert_success(push_plain(env, event(oid, "user_del_card", CardId=f["CardId"],
                                         UserCardCode=f["UserCardCode"])))
    m = hgetall(env, f"{{m:{mid}}}")
    assert m["wx_card_status"] == "claimed" and m["wx_card_code"] == f2["UserCardCode"]


def test_claim_links_an_existing_member(env):
    oid = openid("existing")
    r = env.admin("POST", "members", {"openid": oid, "level": "gold"})
    assert r.status == 201, r
    mid = int(r.json["member_id"])
    assert_success(push_plain(env, event(oid, "user_get_card", CardId="pX",
                                         UserCardCode="999000")))
    m = hgetall(env, f"{{m:{mid}}}")
    assert member_id(env, oid) == mid
    assert m["level"] == "gold" and m["card_no"] == r.json["card_no"]
    assert m["wx_card_code"] == "999000"


def test_a_visitor_becomes_a_member_by_claiming(env):
    r = env.login("oavisitor")
    assert r.status == 200, r
    oid = harness.openid_for("oavisitor")
    mid = member_id(env, oid)
    assert hgetall(env, f"{{m:{mid}}}")["status"] == "visitor"
    assert_success(push_plain(env, event(oid, "user_get_card", CardId="pV",
                                         UserCardCode="111222")))
    m = hgetall(env, f"{{m:{mid}}}")
    assert m["status"] == "active" and m["card_no"] == card_no(mid)
    r = env.api("card", r.json["token"])
    assert r.status == 200 and r.json["card_no"] == card_no(mid), r


def test_events_before_a_claim_and_other_messages(env):
    oid = openid("early")
    assert_success(push_plain(env, event(oid, "user_view_card", CardId="pE",
                                         UserCardCode="1")))
    mid = member_id(env, oid)
    assert hgetall(env, f"{{m:{mid}}}")["status"] == "visitor"
    assert [a["event"] for a in activity(env, mid)] == ["user_view_card"]
    before = snapshot(env)
    # not card events: answered, nothing but the nonce written
    for xml in (event(openid("sub"), "subscribe"), event(openid("sub"), "card_pass_check",
                                                          CardId="pE"),
                msg(openid("img"), "image", PicUrl="http://x/y.png", MsgId="1")):
        assert_success(push_plain(env, xml))
    assert member_id(env, openid("sub")) is None and member_id(env, openid("img")) is None
    assert snapshot(env).split(" / ")[1] == before.split(" / ")[1]


def test_rotated_key(env):
    # WeChat still seals with the previous EncodingAESKey: accepted, and
    # the reply is sealed with the key that opened the push
    oid, mid, _ = claim(env, "rotated", push=lambda e, x: push_safe(e, x, wx=WX_OLD))
    assert hgetall(env, f"{{m:{mid}}}")["status"] == "active"
    r = push_safe(env, text(oid, "积分"), wx=WX_OLD)
    assert fields(WX_OLD.open_reply(r.body))["Content"].startswith("积分 0")


def test_two_brands_on_one_nginx(env):
    oid = openid("brand2")
    xml = event(oid, "user_get_card", CardId="pB2", UserCardCode="222333")
    assert_success(push_safe(env, xml, wx=WX2, host="brand2.test"))
    assert member_id(env, oid, db=1) == 1 and member_id(env, oid) is None
    m = hgetall(env, "{m:1}", db=1)
    assert m["wx_card_code"] == "222333" and m["openid"] == oid
    before = snapshot(env)
    # one brand's credentials do not open the other's door
    assert push_safe(env, xml, wx=WX, host="brand2.test").status == 401
    assert push_safe(env, xml, wx=WX2).status == 401
    q = plain_query(token=OA_TOKEN)
    assert post(env, xml, q, host="brand2.test").status == 401
    assert snapshot(env) == before
    r = push_safe(env, text(oid, "会员卡"), wx=WX2, host="brand2.test")
    assert card_no(1) in fields(WX2.open_reply(r.body))["Content"]


def test_logs_hold_no_signature_and_no_openid(env):
    oid = openid("logged")
    push_plain(env, text(oid, "积分"))
    push_plain(env, "<xml>broken", ts=int(time.time()) - 1000)
    push_safe(env, text(oid, "积分"))
    with open(env.dir + "/access.log") as f:
        access = f.read()
    assert "POST /oa HTTP/1.1" in access
    for text_ in (access, env.log_text()):
        assert "signature=" not in text_ and oid not in text_


# ------------------------------------------------------------------ the bad paths

def refused(env, status, send):
    """send() gets `status`, Redis stays as it was, the worker lives on."""
    workers = env.worker_pids()
    before = snapshot(env)
    r = send()
    assert r.status == status, r
    assert r.json["error"] in ("bad_request", "unauthorized", "bad_signature", "too_large",
                               "method_not_allowed"), r
    assert snapshot(env) == before
    assert env.request("GET", "/status").status == 200
    assert env.worker_pids() == workers


def test_replayed_nonce_is_refused(env):
    oid = openid("replay")
    q = plain_query()
    assert_success(post_plain(env, event(oid, "user_view_card", CardId="pR", UserCardCode="1"), q))
    other = event(oid, "user_consume_card", CardId="pR", UserCardCode="1")
    refused(env, 401, lambda: post_plain(env, other, q))
    refused(env, 401, lambda: post_plain(env, text(oid, "积分"), q))
    # and in safe mode
    ts, n = int(time.time()), nonce()
    query, body = WX.seal_push(event(oid, "user_view_card", CardId="pR2"), ts, n)
    assert_success(post(env, body, query))
    query, body = WX.seal_push(event(oid, "user_del_card", CardId="pR2"), ts, n)
    refused(env, 401, lambda: post(env, body, query))


def test_bad_signatures_and_timestamps(env):
    xml = event(openid("badsig"), "user_get_card", CardId="pS", UserCardCode="1")
    q = plain_query()
    refused(env, 401, lambda: post_plain(env, xml, dict(q, signature="0" * 40)))
    refused(env, 401, lambda: post_plain(env, xml, dict(q, signature="xyz")))
    refused(env, 401, lambda: post_plain(env, xml, {k: v for k, v in q.items() if k != "signature"}))
    refused(env, 401, lambda: post_plain(env, xml, {k: v for k, v in q.items() if k != "nonce"}))
    refused(env, 401, lambda: post_plain(env, xml, plain_query(token="someoneElsesToken")))
    refused(env, 401, lambda: push_plain(env, xml, ts=int(time.time()) - 302))
    refused(env, 401, lambda: push_plain(env, xml, ts=int(time.time()) + 302))
    now = int(time.time())
    refused(env, 401, lambda: push_plain(env, xml, ts="17000x"))
    refused(env, 401, lambda: push_plain(env, xml, nonce_="12<3"))
    refused(env, 401, lambda: push_safe(env, xml, ts=now - 400))
    # safe mode: msg_signature covers Encrypt
    query, body = WX.seal_push(xml, now, nonce())
    refused(env, 401, lambda: post(env, body, dict(query, msg_signature="0" * 40)))
    refused(env, 401, lambda: post(env, body, {k: v for k, v in query.items()
                                               if k != "msg_signature"}))
    enc = body.decode().split("<![CDATA[")[2].split("]]>")[0]
    flipped = enc[:10] + ("A" if enc[10] != "A" else "B") + enc[11:]
    refused(env, 401, lambda: post(env, body.replace(enc.encode(), flipped.encode()), query))
    refused(env, 400, lambda: post(env, body, dict(query, encrypt_type="des")))


def test_bad_ciphertexts(env):
    xml = event(openid("badcipher"), "user_get_card", CardId="pC", UserCardCode="1").encode()
    # sealed for another account: correctly signed, wrong AppID inside
    refused(env, 401, lambda: push_safe_raw(env, WX.encrypt(xml, appid=b"wx0123456789abcdee")))
    refused(env, 400, lambda: push_safe_raw(env, WX2.encrypt(xml), wx=WX))   # another key
    good = WX.encrypt(xml)
    refused(env, 400, lambda: push_safe_raw(env, good[:-4]))              # truncated
    refused(env, 400, lambda: push_safe_raw(env, good[:-24] + "===="))   # bad length
    refused(env, 400, lambda: push_safe_raw(env, "!!!!" + good[4:]))      # not base64
    refused(env, 400, lambda: push_safe_raw(env, good[:20] + " " + good[21:]))
    plain = WX.plaintext(xml)
    for pad in (0, 33, 64):                                   # padding out of 1..32
        body = plain + bytes([pad]) * (32 - len(plain) % 32)
        refused(env, 400, lambda: push_safe_raw(env, WX.encrypt_raw(body)))
    body = plain + b"\x05" * (32 - len(plain) % 32 - 1) + b"\x06"     # pad bytes differ
    refused(env, 400, lambda: push_safe_raw(env, WX.encrypt_raw(body)))
    # an inner length beyond the plaintext
    bad_len = plain[:16] + b"\x00\x01\x00\x00" + plain[20:]
    n = 32 - len(bad_len) % 32
    refused(env, 400, lambda: push_safe_raw(env, WX.encrypt_raw(bad_len + bytes([n]) * n)))
    refused(env, 400, lambda: push_safe_raw(env, ""))
    # well sealed, but not XML inside
    refused(env, 400, lambda: push_safe_raw(env, WX.encrypt(b"<xml><a>unclosed")))
    refused(env, 400, lambda: push_safe_raw(env, WX.encrypt(b'{"ToUserName":"gh"}')))


def sub(s, old, new):
    assert old in s, old
    return s.replace(old, new, 1)


def test_bad_xml(env):
    oid = openid("badxml")
    good = event(oid, "user_get_card", CardId="pX", UserCardCode="1", OuterStr="mp_home")
    refused(env, 400, lambda: push_plain(env, ""))
    refused(env, 400, lambda: push_plain(env, good[:-3]))
    refused(env, 400, lambda: push_plain(env, "not xml at all"))
    refused(env, 400, lambda: push_plain(env, sub(good, "<xml>", "<root>").replace(
        "</xml>", "</root>")))
    refused(env, 400, lambda: push_plain(env, good + good))
    refused(env, 400, lambda: push_plain(env, sub(good, "</xml>", "<a><b><c><d>x</d></c></b></a></xml>")))
    refused(env, 400, lambda: push_plain(env, "<xml>" + "".join(
        f"<F{i}>1</F{i}>" for i in range(100)) + "</xml>"))
    refused(env, 400, lambda: push_plain(env, sub(good, "</xml>",
                                             "<Ext><A><B>1</B></A></Ext></xml>")))
    refused(env, 400, lambda: push_plain(env, sub(good, "</xml>", "<MsgType>x</MsgType></xml>")))
    # entities: expansion and external ones
    laughs = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">'
              '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>')
    refused(env, 400, lambda: push_plain(env, laughs + sub(good, "<![CDATA[mp_home]]>", "&c;")))
    refused(env, 400, lambda: push_plain(env, '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY e '
                                         'SYSTEM "file:///etc/passwd">]>' + sub(good, "<![CDATA[mp_home]]>", "&e;")))
    refused(env, 400, lambda: push_plain(env, '<!DOCTYPE xml SYSTEM "http://127.0.0.1:1/x.dtd">' + good))
    refused(env, 400, lambda: push_plain(env, sub(good, "<![CDATA[mp_home]]>", "&undefined;")))
    # entities inside a sealed message too
    refused(env, 400, lambda: push_safe_raw(env, WX.encrypt((laughs + sub(
        good, "<![CDATA[mp_home]]>", "&c;")).encode())))
    # missing or invalid header fields
    refused(env, 400, lambda: push_plain(env, sub(good, f"<FromUserName><![CDATA[{oid}]]>"
                                                            "</FromUserName>", "")))
    refused(env, 400, lambda: push_plain(env, sub(good, oid, "o'; DROP")))
    refused(env, 400, lambda: push_plain(env, sub(good, "<CreateTime>", "<CreateTime>x")))
    refused(env, 400, lambda: push_plain(env, msg(oid, "text", Content="x" * 5000, MsgId="1")))
    refused(env, 400, lambda: push_plain(env, event(oid, "user_get_card", CardId="p" * 300)))
    refused(env, 400, lambda: push_plain(env, msg(oid, "text", Content="积分", MsgId="12a")))
    refused(env, 400, lambda: push_plain(env, good.encode("utf-16")))
    refused(env, 400, lambda: push_plain(env, sub(good, "mp_home", "\xff").encode("latin-1")))


def post_chunked(env, path, chunks):
    c = http.client.HTTPConnection("127.0.0.1", env.port, timeout=10)
    try:
        c.request("POST", path, body=iter(chunks), encode_chunked=True)
        r = c.getresponse()
        return harness.Response(r.status, dict(r.getheaders()), r.read())
    finally:
        c.close()


def test_huge_bodies_and_methods(env):
    oid = openid("huge")
    huge = event(oid, "user_get_card", CardId="pH", OuterStr="x" * 20000)
    refused(env, 413, lambda: push_plain(env, huge))
    q = plain_query()
    refused(env, 413, lambda: post_chunked(env, "/oa-plain?" + urllib.parse.urlencode(q),
                                           [huge.encode()[:9000], huge.encode()[9000:]]))
    refused(env, 405, lambda: env.request("PUT", "/oa?" + urllib.parse.urlencode(q), b"<xml/>"))
    refused(env, 405, lambda: env.request("DELETE", "/oa"))


def test_configuration_is_checked(env):
    import subprocess

    def nginx_t(server):
        conf = (f"load_module {harness.MODULE}; pid {env.dir}/t.pid; error_log {env.dir}/t.log;"
                f"events {{}} http {{ member_redis 127.0.0.1:{env.redis_port}; server {{"
                f"listen 127.0.0.1:{env.port}; {server} location = /oa {{ member_wechat_oa; }} }} }}")
        path = env.dir + "/t.conf"
        with open(path, "w") as f:
            f.write(conf)
        return subprocess.run(["nginx", "-t", "-q", "-p", env.dir + "/", "-c", path, "-e",
                               env.dir + "/t.log"], capture_output=True, text=True, timeout=30)

    good = f"member_wechat_appid {APPID}; member_wechat_token {OA_TOKEN};"
    assert nginx_t(good).returncode == 0
    assert nginx_t(good + f" member_wechat_aes_key {OA_AES_KEY};").returncode == 0
    for bad in (f"member_wechat_aes_key {OA_AES_KEY[:-1]};",
                f"member_wechat_aes_key {OA_AES_KEY[:-1]}+;",
                f"member_wechat_aes_key {OA_AES_KEY} {OA_AES_KEY}x;",
                f"member_wechat_aes_key {OA_AES_KEY} {OA_AES_KEY} {OA_AES_KEY};",
                f"member_wechat_aes_key {OA_AES_KEY}; member_wechat_aes_key {OA_AES_KEY};",
                "member_wechat_oa_window 1s;"):
        out = nginx_t(good + " " + bad)
        assert out.returncode != 0 and "emerg" in out.stderr, (bad, out)
        assert OA_AES_KEY[:-1] not in out.stderr, out.stderr
    for bad in (f"member_wechat_appid {APPID};", f"member_wechat_token {OA_TOKEN};",
                f"member_wechat_appid {APPID}; member_wechat_token ab;"):
        out = nginx_t(bad)
        assert out.returncode != 0 and "member_wechat_oa" in out.stderr, (bad, out)
