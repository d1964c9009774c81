"""The card page and the console in a real browser: Debian's headless
Chromium driven by playwright-core (tests/browser/pages.mjs), against this
file's nginx, Redis and fake WeChat, with the pages as conf/pages.conf
serves them (make pages builds build/html).  Each test runs one scenario
and checks what the browser saw against the APIs; screenshots are kept in
build/artifacts/."""

import atexit
import hashlib
import json
import os
import re
import select
import subprocess
import time

import harness
from harness import ADMIN_TOKEN, APPID, ROOT, make_key, openid_for
from test_scan import Till, code_of

SCRIPT = os.path.join(ROOT, "tests", "browser", "pages.mjs")
SHOTS = os.path.join(ROOT, "build", "artifacts")
PERIOD = 10         # the codes' period here: the countdown is seen to end
CARD_ID = "pTestCard0001"

ENV = {"extra_server": f"""
        member_code_period {PERIOD}s;
        root {ROOT}/build/html;
        include {ROOT}/conf/pages.conf;
        location = /card/config.json {{
            default_type application/json;
            return 200 '{{"demo":true,"brand":"测试品牌","card_id":"{CARD_ID}"}}';
        }}
"""}


class Browser:
    """One node process and one Chromium for the whole file."""

    proc = None

    @classmethod
    def run(cls, scenario, args):
        if cls.proc is None or cls.proc.poll() is not None:
            cls.proc = subprocess.Popen(["node", SCRIPT], cwd=ROOT, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
            atexit.register(cls.close)
            cls.answer(60)                                  # {"ready": version}
        cls.proc.stdin.write(json.dumps({"scenario": scenario, "args": args}) + "\n")
        cls.proc.stdin.flush()
        return cls.answer(90)

    @classmethod
    def answer(cls, timeout):
        ready, _, _ = select.select([cls.proc.stdout], [], [], timeout)
        line = cls.proc.stdout.readline() if ready else ""
        if not line.startswith("{"):
            cls.close()
            raise AssertionError("the browser did not answer")
        return json.loads(line)

    @classmethod
    def close(cls):
        if cls.proc and cls.proc.poll() is None:
            cls.proc.stdin.close()
            try:
                cls.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                cls.proc.kill()
                cls.proc.wait()
        cls.proc = None


def browse(env, scenario, **args):
    os.makedirs(SHOTS, exist_ok=True)
    args.update(base=f"http://127.0.0.1:{env.port}", shots=SHOTS)
    seen = Browser.run(scenario, args)
    assert not seen["problems"], seen["problems"]
    return seen["result"]


def zbar(path):
    out = subprocess.run(["zbarimg", "--raw", "-q", path], capture_output=True, text=True)
    return out.stdout.strip()


def money(fen):
    return f"¥{fen // 100:,}.{fen % 100:02d}"


def fb_date(f, field="created_at"):
    return time.strftime("%Y/%m/%d", time.gmtime(f[field] + 8 * 3600))


def masked(card):
    return card[:4] + " **** **** " + card[-4:]


def ledger(env, mid):
    items, before = [], ""
    while True:
        page = env.admin("GET", f"members/{mid}/transactions?limit=100{before}").json
        items += page["items"]
        if not page["next"]:
            return items
        before = "&before=" + page["next"]


def remember(env, *secrets):
    env.secrets = getattr(env, "secrets", []) + list(secrets)


def till(env):
    if not hasattr(env, "till"):
        env.till = Till(env, "SB1")
    return env.till


def test_card_shows_the_members_numbers(env):
    mid, card = env.member("browsy", level="gold")
    assert env.admin("POST", f"members/{mid}/recharge",
                     {"amount_fen": 50000, "idempotency_key": "b0"}).status == 200
    # more entries than a page, so that the list has to scroll for the rest
    for i in range(24):
        assert env.admin("POST", f"members/{mid}/recharge",
                         {"amount_fen": 100 + i, "idempotency_key": f"b{i + 1}"}).status == 200
    # the last period's code (still in its grace), so that the one the
    # page shows is another
    r = till(env).verify(code_of(mid, at=time.time() - PERIOD, period=PERIOD))
    assert r.status == 200, r
    r = till(env).call("pay", {"ticket": r.json["ticket"], "amount_fen": 12345, "order_id": "web-1"})
    assert r.status == 200 and r.json["points_earned"] > 0, r
    token = env.login("browsy").json["token"]
    remember(env, token.split(".")[1])
    api = env.api("card", token).json

    seen = browse(env, "card", token=token, name="card")
    assert seen["card_no"] == masked(card), seen
    assert seen["balance"] == money(api["balance_fen"]), (seen, api)
    assert seen["points"] == str(api["points"]) and api["points"] > 0, (seen, api)
    assert seen["tier"] == "金卡" and seen["brand"] == "测试品牌", seen
    assert seen["profile_phone"] == ""
    # the whole ledger, newest first, through the infinite scroll
    entries = ledger(env, mid)
    assert len(entries) > 20
    assert [t["id"] for t in seen["transactions"]] == [e["id"] for e in entries]
    pay = next(t for t in seen["transactions"] if t["type"] == "pay")
    assert "-" + money(12345 * 95 // 100) in pay["text"], pay
    assert len(seen["expiring"]) == len(env.api("points", token).json["expiring"])
    # the tiers (GET tiers) and the way to the next one
    tiers = env.api("tiers", token).json
    spent = tiers["period_spend_fen"]
    assert spent == 12345 * 95 // 100 and seen["tiers_shown"], (tiers, seen)
    assert seen["tier_progress"] == f"本期消费 {money(spent)}，再消费 {money(2000000 - spent)} 升级为白金卡"
    # not shown outside WeChat
    assert not seen["wallet_shown"]
    # the QR image on the screen reads as a code the till accepts
    code = zbar(seen["qr"])
    assert re.fullmatch(r"\d{18}", code), code
    r = till(env).verify(code)
    assert r.status == 200 and r.json["member"]["card_no"] == card, r


def test_countdown_refreshes_the_code(env):
    mid, card = env.member("ticker")
    token = env.login("ticker").json["token"]
    remember(env, token.split(".")[1])
    seen = browse(env, "countdown", token=token, period=PERIOD)
    assert seen["changed"], seen
    counts = [int(re.search(r"\d+", c).group()) for c in seen["counts"]]
    assert all(0 <= c <= PERIOD for c in counts), counts
    assert counts == sorted(counts, reverse=True) and counts[-1] <= 1, counts   # it runs down
    assert counts[0] - counts[-1] >= 3, counts
    assert int(re.search(r"\d+", seen["after"]).group()) >= PERIOD - 2, seen  # and starts again
    first, second = zbar(seen["first"]), zbar(seen["second"])
    assert re.fullmatch(r"\d{18}", first) and re.fullmatch(r"\d{18}", second), (first, second)
    assert first != second                               # a new code, not the same image
    r = till(env).verify(second)
    assert r.status == 200 and r.json["member"]["card_no"] == card, r


def test_registration_with_the_demo_login(env):
    seen = browse(env, "register", name="韩梅梅", phone="13700001234", feedback="咖啡很好喝")
    assert seen["badge"] == "演示"
    assert "隐私" in seen["no_consent_error"], seen
    token = seen["token"]
    remember(env, token.split(".")[1], "13700001234", "韩梅梅")
    card = env.api("card", token).json
    assert card["status"] == "active" and seen["card_no"] == masked(card["card_no"]), (seen, card)
    assert seen["balance"] == "¥0.00" and seen["points"] == "0"
    p = env.api("profile", token).json
    assert p["name"] == "韩梅梅" and p["phone"] == "137****1234", p
    assert p["birthday"] == "1992-03-04" and p["gender"] == "female", p
    assert seen["profile_name"] == "韩梅梅" and seen["profile_phone"] == "137****1234"
    # the feedback sent from the page, as the member API keeps it
    (fb,) = env.api("feedback", token).json["items"]
    assert (fb["text"], fb["rating"]) == ("咖啡很好喝", 4), fb
    assert seen["feedback_list"] == ["★★★★ 咖啡很好喝" + fb_date(fb)], seen
    remember(env, "咖啡很好喝")
    # the brand finds the new member by the phone typed in
    r = env.admin("POST", "members/lookup", {"phone": "13700001234"})
    assert r.status == 200 and r.json["card_no"] == card["card_no"], r
    # a new visitor each time: the demo login never lands on someone else
    again = browse(env, "register", name="李雷", phone="13700005678")
    assert again["card_no"] != seen["card_no"]
    remember(env, again["token"].split(".")[1], "13700005678")
    # an invite link (GET referral's): the page registers with its code
    code = env.api("referral", token).json["code"]
    invited = browse(env, "register", name="王芳", phone="13700009012",
                     query="?invite=" + code)
    remember(env, invited["token"].split(".")[1], "13700009012", "王芳")
    assert env.rcli("HGET", "{m:%s}" % invited["token"].split(".")[0],
                    "referred_by") == token.split(".")[0]
    # a stale or forged one keeps nobody from joining
    forged = browse(env, "register", name="赵敏", phone="13700009013",
                    query="?invite=AAAAAAAA" + token.split(".")[0])
    remember(env, forged["token"].split(".")[1], "13700009013", "赵敏")
    assert env.api("card", forged["token"]).json["status"] == "active"
    assert env.rcli("HGET", "{m:%s}" % forged["token"].split(".")[0], "referred_by") == ""


def test_wallet_button_inside_wechat_only(env):
    mid, card = env.member("wallety")
    token = env.login("wallety").json["token"]
    remember(env, token.split(".")[1])
    # pages.example.com (member_page_domain) resolves to this nginx
    code = env.api("referral", token).json["code"]
    seen = browse(env, "wallet", token=token, page_base=f"http://pages.example.com:{env.port}",
                  query="?invite=" + code)
    assert not seen["outside_shown"]
    cfg = seen["config"]
    state = env.fake_get("/_fake/state")
    ticket = state["tickets"]["jsapi"]
    remember(env, ticket, state["tickets"].get("wx_card", ""), state["token"])
    expect = hashlib.sha1(f"jsapi_ticket={ticket}&noncestr={cfg['nonceStr']}"
                          f"&timestamp={cfg['timestamp']}&url={seen['url']}".encode()).hexdigest()
    assert cfg["appId"] == APPID and cfg["signature"] == expect, cfg
    assert cfg["jsApiList"] == ["addCard"]
    (one,) = seen["add_card"]
    ext = json.loads(one["cardExt"])
    assert one["cardId"] == CARD_ID and ext["code"] == card and ext["openid"] == openid_for("wallety")
    assert ext["outer_str"] == code         # the invite comes back as OuterStr
    assert seen["button"] == "已添加到卡包"


def test_console_finds_recharges_adjusts(env):
    r = env.admin("POST", "members", {"openid": openid_for("consoley"), "name": "王五",
                                      "phone": "13600001111", "level": "gold"})
    assert r.status == 201, r
    mid, card = r.json["member_id"], r.json["card_no"]
    remember(env, "13600001111")
    seen = browse(env, "console_member", admin_token=ADMIN_TOKEN, phone="13600001111",
                  openid=openid_for("consoley"), card_no=card, recharge_yuan="88.80",
                  points_delta=25)
    assert seen["bad_token"] == "令牌无效", seen
    assert seen["found"] == {"phone": mid, "openid": mid, "card_no": mid}, seen
    assert seen["not_found"] == "没有找到这位会员"
    assert seen["no_reason"] == "请填写原因"
    assert "¥88.80" in seen["recharged"], seen
    m = env.admin("GET", f"members/{mid}").json
    assert (m["balance_fen"], m["points"], m["level"]) == (8880, 25, "platinum"), m
    assert seen["balance"] == money(8880)
    entries = ledger(env, mid)
    assert [(e["type"], e.get("amount_fen"), e.get("points_delta"), e.get("reason"), e.get("note"))
            for e in entries] == [("tier", None, None, "manual", "VIP"),
                                  ("adjust", None, 25, "goodwill", None),
                                  ("recharge", 8880, None, None, None)], entries
    assert seen["ledger"] == [e["id"] for e in entries]
    # the balance chart holds the ledger's numbers, oldest first
    assert seen["chart"] == [e["balance_fen"] / 100 for e in reversed(entries)], seen["chart"]


def test_console_with_a_store_key_shows_the_till_view(env):
    r = env.admin("POST", "members", {"name": "赵六", "phone": "13600002222"})
    assert r.status == 201, r
    card = r.json["card_no"]
    remember(env, "13600002222", "赵六")
    assert env.admin("POST", "stores", {"store_id": "TILL1", "name": "t"}).status in (201, 409)
    key = make_key(env, "store", ["TILL1"])[1]
    seen = browse(env, "console_till", admin_token=key, card_no=card, phone="13600002222")
    assert seen["options"] == ["card_no", "phone"], seen
    view = {"card_no": card, "status": "active", "level": "normal", "points": "0",
            "balance_fen": "¥0.00", "name": "赵*", "phone": "136****2222"}
    assert seen["seen"]["card_no"] == view and seen["seen"]["phone"] == view, seen
    assert not seen["ledger"] and not seen["recharge"], seen


def test_console_audit_log(env):
    mid = env.admin("POST", "members/lookup",
                    {"openid": openid_for("consoley")}).json["member_id"]
    seen = browse(env, "console_audit", admin_token=ADMIN_TOKEN, target=f"members/{mid}")
    assert seen["who"] == "bootstrap", seen
    page = env.admin("GET", "audit?limit=100").json["items"]
    assert seen["all"] == [e["id"] for e in page] and page, seen
    mine = env.admin("GET", f"audit?limit=100&target=members/{mid}").json["items"]
    assert [r["id"] for r in seen["rows"]] == [e["id"] for e in mine], seen
    # what the console did to the member: tier, points, recharge
    assert [r["text"][2] for r in seen["rows"]][:3] == [
        f"PUT members/{mid}/level members/{mid} 200",
        f"POST members/{mid}/points members/{mid} 200",
        f"POST members/{mid}/recharge members/{mid} 200"], seen
    assert seen["rows"][0]["text"][3] == 'before {"level":"gold"} · after {"level":"platinum"}', seen
    assert seen["rows"][-1]["text"][3] == 'after {"member_id":"%s"}' % mid, seen


def test_console_coupons_reach_the_card(env):
    mid, card = env.member("coupony")
    token = env.login("coupony").json["token"]
    remember(env, token.split(".")[1])
    seen = browse(env, "console_coupons", admin_token=ADMIN_TOKEN, name="满百减十",
                  yuan="10", min_yuan="100", days=30, member_id=mid)
    tpl = [t for t in env.admin("GET", "coupons/templates").json["items"]
           if t["template_id"] == seen["template_id"]]
    assert tpl and tpl[0]["value_fen"] == 1000 and tpl[0]["min_spend_fen"] == 10000, tpl
    assert seen["terms"] == "¥10.00 · ≥ ¥100.00 · 30d", seen
    assert seen["issued"] == "已发 1 张，跳过 0", seen
    mine = env.api("coupons", token).json["items"]
    assert [(c["name"], c["status"]) for c in mine] == [("满百减十", "usable")], mine
    card_seen = browse(env, "card", token=token, name="card-coupons")
    assert card_seen["coupons_shown"], card_seen
    assert card_seen["coupons"] == [f"满百减十满 ¥100.00 可用 · 有效期至 {fb_date(mine[0], 'expires_at')}¥10.00"], card_seen


def test_console_creates_a_store(env):
    seen = browse(env, "console_store", admin_token=ADMIN_TOKEN, store_id="WEB01",
                  store_name="网页门店")
    secret = seen["secret"]
    remember(env, secret)
    assert "WEB01" in seen["listed"] and "网页门店" in seen["listed"], seen
    assert "409" in seen["again"] or "exist" in seen["again"] or "conflict" in seen["again"], seen
    assert not seen["secret_after_reload"]
    # the secret shown is the store's: a till signing with it is accepted
    mid, card = env.member("storey")
    r = Till(env, "WEB01", secret=secret).verify(code_of(mid, period=PERIOD))
    assert r.status == 200 and r.json["member"]["card_no"] == card, r
    r = Till(env, "WEB01", secret=secret[:-1] + ("0" if secret[-1] != "0" else "1")).verify(
        code_of(mid, period=PERIOD))
    assert r.status == 401, r
    # the console rotates it: its new secret is the one that works (within
    # the workers' store cache, 10 s), the old one no longer
    rotated = browse(env, "console_store_rotate", admin_token=ADMIN_TOKEN,
                     store_id="WEB01")["rotated"]
    remember(env, rotated)
    assert rotated and rotated != secret
    harness.wait_until("the rotated secret works", lambda: Till(env, "WEB01", secret=rotated)
                       .verify(code_of(mid, period=PERIOD)).status in (200, 409), timeout=15,
                       interval=1.0)
    r = Till(env, "WEB01", secret=secret).verify(code_of(mid, period=PERIOD))
    assert r.status == 401, r


def test_console_rules_editor(env):
    version = env.admin("GET", "rules").json["version"]
    seen = browse(env, "console_rules", admin_token=ADMIN_TOKEN)
    assert seen["bad"]["field"] == "tiers[1].discount_pct", seen
    assert seen["bad"]["text"].startswith("字段 tiers[1].discount_pct"), seen
    assert seen["bad"]["selected"] == '"discount_pct"' and "180" in seen["bad"]["line"], seen
    assert "JSON" in seen["bad_json"], seen
    rules = env.admin("GET", "rules").json
    assert rules["version"] == version + 1, rules          # the bad ones made no version
    assert rules["tiers"][1]["discount_pct"] == 97
    assert rules["recharge_bonus"][0]["bonus_fen"] == 6000
    assert str(version + 1) in seen["ok"] and str(version + 1) in seen["after"], seen


def test_console_reports(env):
    mid, _ = env.member("reports", level="gold")
    r = env.admin("POST", f"members/{mid}/recharge",
                  {"amount_fen": 50000, "idempotency_key": "reports-1"})
    assert r.status == 200 and r.json["bonus_fen"] > 0, r
    # the fold has caught up: the page and this test read the same totals
    harness.wait_until("the fold caught up",
                       lambda: env.admin("GET", "totals").json["fold"]["waiting"] == 0)
    totals = env.admin("GET", "totals")
    assert totals.status == 200, totals
    segments = env.admin("GET", "segments")
    seen = browse(env, "console_reports", admin_token=ADMIN_TOKEN)
    if segments.status == 200:
        assert seen["segments"] == [[s["count"] for s in segments.json]], seen
        assert len(segments.json) == 8
    assert seen["canvases"] >= 4, seen
    t = totals.json
    # the liabilities chart shows the ledger's principal and bonus, in yuan
    assert [d["value"] for d in seen["liabilities"][0]] == \
        [t["principal_fen"] / 100, t["bonus_fen"] / 100], (seen, t)
    # the tier distribution is the members by level
    assert sorted((d["name"], d["value"]) for d in seen["tiers"][0]) == \
        sorted(t["members_by_level"].items()), (seen, t)
    assert sum(t["members_by_level"].values()) > 0, t


def test_production_config_is_valid(env):
    """conf/production.conf, with its files and secrets put in a folder,
    passes nginx -t with the built module: the example is not prose."""
    d = os.path.join(env.dir, "prod")
    os.makedirs(d)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=m.brand.com", "-keyout", f"{d}/privkey.pem",
                    "-out", f"{d}/fullchain.pem"], check=True, capture_output=True, timeout=60)
    with open(f"{d}/member-secrets.conf", "w") as f:
        f.write(f"member_wechat_appid {APPID};\nmember_wechat_secret {'s' * 32};\n"
                f"member_admin_token {'a' * 32};\nmember_pii_key k1 {'ab' * 32};\n"
                f"member_code_secret {'c' * 32};\nmember_wechat_token tok;\n"
                f"member_wechat_aes_key {'A' * 43};\n")
    with open(os.path.join(ROOT, "conf", "production.conf")) as f:
        conf = f.read()
    for old, new in [("/usr/lib/nginx/modules/ngx_http_member_module.so",
                      os.path.join(ROOT, "build", "ngx_http_member_module.so")),
                     ("/etc/ssl/brand", d), ("/etc/nginx/member-secrets.conf", f"{d}/member-secrets.conf"),
                     ("/var/log/nginx", d), ("/run/nginx.pid", f"{d}/nginx.pid"),
                     ("/var/www/member", os.path.join(ROOT, "build", "html")),
                     ("/run/redis/redis-server.sock", f"{d}/redis.sock"),
                     # no DNS here: the upstream's name must resolve at nginx -t
                     ("server api.weixin.qq.com:443;", "server 127.0.0.1:443;")]:
        assert old in conf, old
        conf = conf.replace(old, new)
    assert "res.wx.qq.com" in conf and "demo" not in conf.split("config.json", 1)[1].split("}", 1)[0]
    with open(f"{d}/nginx.conf", "w") as f:
        f.write(conf)
    out = subprocess.run(["nginx", "-t", "-p", d + "/", "-c", f"{d}/nginx.conf", "-e", f"{d}/error.log"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr


def test_pages_are_served_for_caching_and_csp(env):
    for page in ["/card/", "/console/"]:
        r = env.request("GET", page)
        assert r.status == 200 and r.headers["cache-control"] == "no-cache", (page, r.headers)
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp, csp
        assert "unsafe" not in csp and "res.wx.qq.com" not in csp, csp
        html = r.body.decode()
        # no inline script or style, no secret
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), html
        assert "<style" not in html and " style=" not in html
        assert ADMIN_TOKEN not in html
        assets = re.findall(r'(?:src|href)="(/assets/[^"]+)"', html)
        assert len(assets) >= 3, assets
        for a in assets:
            r = env.request("GET", a)
            assert r.status == 200, (a, r)
            assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert r.headers["content-type"] in ("application/javascript", "text/css"), r.headers
            # the name carries the content's hash
            digest = re.search(r"\.([0-9a-f]{12})\.(js|css)$", a).group(1)
            assert hashlib.sha256(r.body).hexdigest()[:12] == digest, a
    assert env.request("GET", "/").headers["location"].endswith("/card/")
    assert env.request("GET", "/assets/nothing.0123456789ab.js").status == 404
