"""Wallet card activation through WeChat's form (docs/outbox.md): a pushed
submit_membercard_user_info, sealed in safe mode, makes the outbox read the
form (card/membercard/userinfo/get), register the member with it as POST
register does (a phone of an existing member links the card to that member)
and call card/membercard/activate once with the card number, the points and
the balance: through WeChat failing, duplicate pushes and garbage answers."""

import json
import time

import harness
from test_oa import assert_success, event, hgetall, member_id, openid, push_safe
from test_outbox import card_calls, cards, fake_config
from test_pages import redis_dump

ENV = {"extra_http": "member_wechat_outbox http://127.0.0.1:@PORT@/admin/;"}

CARD_ID = "pCard000000000000000000001"
_codes = [0]


def remember(env, *secrets):
    env.secrets = getattr(env, "secrets", []) + list(secrets)


def new_code():
    _codes[0] += 1
    return "7001%08d" % (int(time.time()) % 10**6 * 100 + _codes[0])


def fake_post(env, path, body):
    c = harness.http.client.HTTPConnection("127.0.0.1", env.fake_port, timeout=5)
    c.request("POST", path, body=json.dumps(body))
    assert c.getresponse().status == 200
    c.close()


def form(env, code, phone=None, name=None, birthday=None, sex=None, **spec):
    """What userinfo/get answers for this card code."""
    if not spec:
        names = {"USER_FORM_INFO_FLAG_MOBILE": phone, "USER_FORM_INFO_FLAG_NAME": name,
                 "USER_FORM_INFO_FLAG_BIRTHDAY": birthday, "USER_FORM_INFO_FLAG_SEX": sex}
        spec = {"fields": {k: v for k, v in names.items() if v is not None}}
    fake_post(env, "/_fake/form", dict(spec, code=code))


def claim(env, name, code):
    """The wallet card claimed (user_get_card): the openid's member."""
    oid = openid(name)
    assert_success(push_safe(env, event(oid, "user_get_card", CardId=CARD_ID,
                                        UserCardCode=code, IsGiveByFriend="0")))
    return oid, member_id(env, oid)


def submit(env, oid, code):
    xml = event(oid, "submit_membercard_user_info", CardId=CARD_ID, UserCardCode=code)
    assert_success(push_safe(env, xml))
    return xml


def activated(env, code, timeout=20):
    harness.wait_until(f"card {code} activated",
                       lambda: cards(env).get(code, {}).get("activated"), timeout=timeout)
    return cards(env)[code]


def form_calls(env, code):
    return [json.loads(c["body"]) for c in env.fake_get("/_fake/calls")
            if c["path"] == "/card/membercard/userinfo/get"
            and json.loads(c["body"]).get("code") == code]


def money(env, mid, recharge_fen, points, key):
    r = env.admin("POST", f"members/{mid}/recharge",
                  {"amount_fen": recharge_fen, "idempotency_key": key + "-r"})
    assert r.status == 200, r
    r = env.admin("POST", f"members/{mid}/points",
                  {"delta": points, "reason": "test", "idempotency_key": key + "-p"})
    assert r.status == 200, r


def test_the_form_registers_and_activates_once(env):
    code = new_code()
    oid, mid = claim(env, "form1", code)
    assert hgetall(env, f"{{m:{mid}}}")["wx_card_status"] == "claimed"
    money(env, mid, 12300, 45, "form1")
    form(env, code, phone="13900000001", name="王小明", birthday="1991-02-03", sex="男")
    remember(env, "13900000001", "王小明")

    xml = submit(env, oid, code)
    for _ in range(3):                      # WeChat retrying the same push
        assert_success(push_safe(env, xml))
    card = activated(env, code)
    assert card["activations"] == 1 and card["card_id"] == CARD_ID

    # registered as POST register does it: sealed, decrypted for the admin
    rec = env.admin("GET", f"members/{mid}").json
    assert rec["name"] == "王小明" and rec["phone"] == "13900000001", rec
    assert rec["birthday"] == "1991-02-03" and rec["gender"] == "male", rec
    m = hgetall(env, f"{{m:{mid}}}")
    assert m["registered_at"] and m["phone_index"].startswith("phone:")
    assert m["consent_privacy"] == "wechat_card_form" and m["wx_form"] == "read"
    assert m["name_masked"] == "王*" and m["birth_md"] == "0203"
    r = env.admin("POST", "members/lookup", {"phone": "13900000001"})
    assert r.status == 200 and r.json["member_id"] == str(mid), r
    dump = redis_dump(env)
    assert "13900000001" not in dump and "王小明" not in dump

    # the activation: the card number, the points and the balance, once
    acts = card_calls(env, code, "/card/membercard/activate")
    assert len(acts) == 1, acts
    assert acts[0]["membership_number"] == rec["card_no"]
    assert acts[0]["init_bonus"] == 45 and acts[0]["init_balance"] == 12300, acts
    assert acts[0]["card_id"] == CARD_ID
    assert form_calls(env, code) == [{"card_id": CARD_ID, "code": code}]
    harness.wait_until("the card activated", lambda: hgetall(
        env, f"{{m:{mid}}}")["wx_card_status"] == "activated")

    # a later push of the same form changes nothing
    assert_success(push_safe(env, xml))
    submit(env, oid, code)
    time.sleep(2.5)
    assert len(card_calls(env, code, "/card/membercard/activate")) == 1
    assert len(form_calls(env, code)) == 1
    # the card then follows the ledger as any card does
    money(env, mid, 1000, 5, "form1-later")
    harness.wait_until("the card updated",
                       lambda: cards(env)[code]["balance"] == 13300, timeout=15)
    assert env.fake_get("/_fake/violations") == []


def test_wechat_failing_then_recovering(env):
    code = new_code()
    oid, mid = claim(env, "form2", code)
    form(env, code, phone="13900000002", name="李四")
    remember(env, "13900000002")
    fake_config(env, form_fail=2, card_fail=2)
    try:
        submit(env, oid, code)
        card = activated(env, code, timeout=40)
    finally:
        fake_config(env)
    assert card["activations"] == 1
    assert len(form_calls(env, code)) == 3            # two refusals, then read
    assert len(card_calls(env, code, "/card/membercard/activate")) == 3
    rec = env.admin("GET", f"members/{mid}").json
    assert rec["phone"] == "13900000002" and rec["name"] == "李四"
    m = hgetall(env, f"{{m:{mid}}}")
    assert m["wx_form"] == "read" and "wx_form_error" not in m
    assert "not read: WeChat answered errcode -1, retried later" in env.log_text()


def test_a_phone_of_an_existing_member_links_the_card(env):
    r = env.admin("POST", "members", {"phone": "13900000003", "name": "老顾客"})
    assert r.status == 201, r
    old, old_card = r.json["member_id"], r.json["card_no"]
    money(env, old, 20000, 77, "form3")
    remember(env, "13900000003", "老顾客")

    code = new_code()
    oid, mid = claim(env, "form3", code)
    assert str(mid) != old
    form(env, code, phone="13900000003", name="老顾客", birthday="19850607")
    submit(env, oid, code)
    activated(env, code)
    acts = card_calls(env, code, "/card/membercard/activate")
    assert len(acts) == 1 and acts[0]["membership_number"] == old_card, acts
    assert acts[0]["init_bonus"] == 77 and acts[0]["init_balance"] == 20000, acts

    # the openid and the card now name the old member; no second member
    assert member_id(env, oid) == int(old)
    o = hgetall(env, f"{{m:{old}}}")
    assert o["openid"] == oid and o["wx_card_code"] == code
    rec = env.admin("GET", f"members/{old}").json
    assert rec["birthday"] == "1985-06-07" and rec["phone"] == "13900000003"
    gone = hgetall(env, f"{{m:{mid}}}")
    assert gone["status"] == "merged" and gone["merged_into"] == old, gone
    assert "openid" not in gone and "wx_card_code" not in gone
    r = env.admin("POST", "members/lookup", {"phone": "13900000003"})
    assert r.status == 200 and r.json["member_id"] == old, r
    harness.wait_until("the card activated", lambda: hgetall(
        env, f"{{m:{old}}}")["wx_card_status"] == "activated")


def test_a_stale_or_broken_phone_index(env):
    """The form's phone is indexed to a member who has another phone now:
    the form's own member takes it (link.lua's STALE, a forced claim); an
    index that names no member id is Redis failing: read again later."""
    r = env.admin("POST", "members", {"phone": "13900000033", "name": "旧号"})
    assert r.status == 201, r
    old = r.json["member_id"]
    remember(env, "13900000033", "旧号")
    index = env.rcli("HGET", f"{{m:{old}}}", "phone_index")
    assert index.startswith("phone:") and env.rcli("GET", index) == old
    env.rcli("HSET", f"{{m:{old}}}", "phone_index", "phone:another")

    code = new_code()
    oid, mid = claim(env, "form-stale", code)
    form(env, code, phone="13900000033", name="旧号")
    submit(env, oid, code)
    act = activated(env, code)
    assert env.rcli("GET", index) == str(mid)
    m = hgetall(env, f"{{m:{mid}}}")
    assert m["phone_index"] == index and m["status"] == "active", m
    assert act["membership_number"] == m["card_no"], act
    assert member_id(env, oid) == mid

    env.rcli("SET", index, "not-a-member-id")
    code = new_code()
    oid, mid = claim(env, "form-broken", code)
    form(env, code, phone="13900000033", name="旧号")
    submit(env, oid, code)
    harness.wait_until("the form's error recorded", lambda: hgetall(
        env, f"{{m:{mid}}}").get("wx_form_error") == "Redis failed at the phone index")
    assert "phone_index" not in hgetall(env, f"{{m:{mid}}}")
    assert env.rcli("GET", index) == "not-a-member-id"
    env.rcli("DEL", index)


def test_garbage_forms(env):
    cases = {
        "no phone": ({"fields": {"USER_FORM_INFO_FLAG_NAME": "无号"}},
                     "rejected", "the form has no phone"),
        "bad phone": ({"fields": {"USER_FORM_INFO_FLAG_MOBILE": "call me"}},
                      "rejected", "the form's phone is not a phone number"),
        "blank phone": ({"fields": {"USER_FORM_INFO_FLAG_MOBILE": ""}},
                        "rejected", "the form has no phone"),
        "long name": ({"fields": {"USER_FORM_INFO_FLAG_MOBILE": "13900000009",
                                  "USER_FORM_INFO_FLAG_NAME": "长" * 22}},
                      "rejected", "the form's name is too long"),
        "no list": ({"answer": {"errcode": 0, "errmsg": "ok", "openid": "x"}},
                    "rejected", "the form has no common_field_list"),
        "list of junk": ({"answer": {"errcode": 0, "user_info": {"common_field_list": [
                             1, None, {"name": 5}, {"name": "USER_FORM_INFO_FLAG_MOBILE"}]}}},
                         "rejected", "the form has no phone"),
        "bad code": ({"answer": {"errcode": 40056, "errmsg": "invalid code"}},
                     "rejected", "WeChat answered errcode 40056"),
        "busy": ({"answer": {"errcode": -1, "errmsg": "system error"}},
                 "submitted", "WeChat answered errcode -1"),
        "not json": ({"raw": "<html>oops</html>"},
                     "submitted", "WeChat's answer is not JSON"),
        "odd errcode": ({"answer": {"errcode": "zero"}},
                        "submitted", "WeChat answered errcode -2"),
    }
    members = {}
    for i, (what, (spec, _, _)) in enumerate(cases.items()):
        code = new_code()
        oid, mid = claim(env, f"junk{i}", code)
        form(env, code, **spec)
        submit(env, oid, code)
        members[what] = (code, mid)

    for what, (spec, state, reason) in cases.items():
        code, mid = members[what]
        harness.wait_until(f"the outcome of {what}", lambda: hgetall(
            env, f"{{m:{mid}}}").get("wx_form_error") == reason, timeout=20)
        m = hgetall(env, f"{{m:{mid}}}")
        assert m["wx_form"] == state, (what, m)
        assert "registered_at" not in m and "phone_index" not in m, (what, m)
        assert m["wx_card_status"] == "claimed", (what, m)
        assert card_calls(env, code, "/card/membercard/activate") == [], what
    assert env.request("GET", "/status").status == 200

    # a member whose form was refused submits it again, now good
    code, mid = members["no phone"]
    # (optional fields left blank, a birthday WeChat wrote otherwise)
    form(env, code, phone="13900000004", name="", birthday="May 1st", sex="")
    remember(env, "13900000004")
    submit(env, member_openid(env, mid), code)
    activated(env, code)
    m = hgetall(env, f"{{m:{mid}}}")
    assert m["wx_form"] == "read" and "wx_form_error" not in m and m["registered_at"]
    rec = env.admin("GET", f"members/{mid}").json
    assert rec["phone"] == "13900000004" and "birthday" not in rec and "name" not in rec, rec
    assert env.fake_get("/_fake/violations") == []


def member_openid(env, mid):
    return hgetall(env, f"{{m:{mid}}}")["openid"]
