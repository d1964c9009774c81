"""Several brands on one nginx (README, docs/outbox.md): each server block
has its own member_redis (here databases 0 and 1 of one redis-server), its
own WeChat app and keys, and every brand's timers run: the outbox keeps
each brand's wallet cards in step through that brand's app, the sweep
expires each brand's points by its own test clock, and the fold and the
campaigns run for both."""

import time

import harness
from test_ledger import china, entries, record, rules, set_clock, wait_for
from test_outbox import adjust, card_member, cards, in_step, recharge

# brand 2's server block; brand 1 is the Env's own
BRAND2 = """
    upstream wechat_api2 {
        server 127.0.0.1:@FAKE2_PORT@;
    }

    server {
        listen 127.0.0.1:%(port)s;
        server_name brand2.test;

        member_redis 127.0.0.1:@REDIS_PORT@ db=1;
        member_wechat_appid @APPID2@;
        member_wechat_secret @SECRET2@;
        member_wechat_api /wechat/;
        member_admin_token @ADMIN_TOKEN@;
        member_pii_key b2k1 0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0;
        %(outbox)s

        location /admin/ {
            member_admin;
        }

        location /wechat/ {
            internal;
            proxy_pass http://wechat_api2/;
            proxy_pass_request_headers off;
            proxy_set_header Content-Type "application/json";
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host api.weixin.qq.com;
            proxy_connect_timeout 1s;
            proxy_read_timeout 2s;
            subrequest_output_buffer_size 128k;
        }
    }
"""

# each server block names its own admin location
SERVER_LEVEL = {
    "brand2": True,
    "extra_http": "member_test_clock on;\n" + BRAND2 % {
        "port": "@PORT2@",
        "outbox": "member_wechat_outbox http://127.0.0.1:@PORT2@/admin/;"},
    "extra_server": "member_wechat_outbox http://127.0.0.1:@PORT@/admin/;"}

# one URL at http level; the brands share its port, told apart by name
HTTP_LEVEL = {
    "brand2": True,
    "extra_http": "member_test_clock on;\n"
                  "    member_wechat_outbox http://127.0.0.1:@PORT@/admin/;\n"
                  + BRAND2 % {"port": "@PORT@", "outbox": ""}}


def own_app_only(env, b2, codes1, codes2):
    """Each brand's cards reached its own fake WeChat, with its token."""
    assert set(cards(env)) == set(codes1), cards(env)
    assert set(cards(b2)) == set(codes2), cards(b2)
    for e, appid in ((env, harness.APPID), (b2, harness.APPID2)):
        tokens = [c for c in e.fake_get("/_fake/calls") if c["path"] == "/cgi-bin/token"]
        assert tokens and all(c["query"]["appid"] == appid for c in tokens), tokens
        assert e.fake_get("/_fake/violations") == []


@harness.own_env(**SERVER_LEVEL)
def test_every_brand_has_its_timers(env):
    b2 = env.brand2()
    # the same member id in each brand: two databases, nothing shared
    a1 = card_member(env, "B1-CARD-1")
    a2 = card_member(b2, "B2-CARD-1")
    assert a1 == a2
    recharge(env, a1, 12300, "b1-r")
    adjust(env, a1, 40, "b1-p")
    recharge(b2, a2, 45600, "b2-r")
    adjust(b2, a2, 70, "b2-p")

    # the outbox of each brand
    assert in_step(env, a1, "B1-CARD-1") == (40, 12300)
    assert in_step(b2, a2, "B2-CARD-1") == (70, 45600)
    own_app_only(env, b2, ["B1-CARD-1"], ["B2-CARD-1"])

    # the fold of each brand
    for e, balance in ((env, 12300), (b2, 45600)):
        wait_for("the brand's totals", lambda: e.admin("GET", "totals").json.get(
            "balance_fen") == balance)

    # the sweep of each brand, by its own clock: points earned now expire
    # within 13 months; brand 2's clock stays, so its points do too
    try:
        set_clock(env, china(2029, 1, 1))
        wait_for("brand 1's points to expire", lambda: record(env, a1)["points"] == 0)
        time.sleep(1.5)
        assert record(b2, a2)["points"] == 70
        set_clock(b2, china(2029, 1, 1))
        wait_for("brand 2's points to expire", lambda: record(b2, a2)["points"] == 0)
        for e, mid, lost in ((env, a1, -40), (b2, a2, -70)):
            x = [t for t in entries(e, mid) if t["type"] == "expire"]
            assert len(x) == 1 and x[0]["points_delta"] == lost, x
        # and the cards follow
        assert in_step(env, a1, "B1-CARD-1") == (0, 12300)
        assert in_step(b2, a2, "B2-CARD-1") == (0, 45600)
    finally:
        set_clock(env, int(time.time()))
        set_clock(b2, int(time.time()))

    # the campaigns of each brand: a welcome by its own rules
    rules(env, triggers={"welcome": {"points": 11}})
    rules(b2, triggers={"welcome": {"points": 22}})
    n1, _ = env.member("welcome-b1")
    n2, _ = b2.member("welcome-b2")
    wait_for("brand 1's welcome", lambda: record(env, n1)["points"] == 11)
    wait_for("brand 2's welcome", lambda: record(b2, n2)["points"] == 22)
    own_app_only(env, b2, ["B1-CARD-1"], ["B2-CARD-1"])


@harness.own_env(**HTTP_LEVEL)
def test_one_outbox_url_for_brands_told_apart_by_name(env):
    b2 = env.brand2(port=env.port, host="brand2.test")
    a1 = card_member(env, "N1-CARD-1")
    a2 = card_member(b2, "N2-CARD-1")
    recharge(env, a1, 800, "n1-r")
    recharge(b2, a2, 900, "n2-r")
    assert in_step(env, a1, "N1-CARD-1") == (0, 800)
    assert in_step(b2, a2, "N2-CARD-1") == (0, 900)
    own_app_only(env, b2, ["N1-CARD-1"], ["N2-CARD-1"])


def test_one_outbox_a_brand(env):
    """nginx -t: an outbox for every brand, never two for one Redis."""
    import subprocess

    def nginx_t(http, *servers):
        blocks = "".join(f" server {{ listen 127.0.0.1:{env.port}; {s} "
                         "location /admin/ { member_admin; } }" for s in servers)
        conf = (f"load_module {harness.MODULE}; pid {env.dir}/t.pid; error_log {env.dir}/t.log;"
                f"events {{}} http {{ member_redis 127.0.0.1:{env.redis_port}; "
                f"member_pii_key k1 {harness.PII_KEY}; member_admin_token {harness.ADMIN_TOKEN}; "
                f"{http} {blocks} }}")
        path = env.dir + "/t.conf"
        with open(path, "w") as f:
            f.write(conf)
        return subprocess.run(["nginx", "-t", "-q", "-p", env.dir + "/", "-c", path, "-e",
                               env.dir + "/t.log"], capture_output=True, text=True, timeout=30)

    url = f"member_wechat_outbox http://127.0.0.1:{env.port}/admin/;"
    db1 = f"member_redis 127.0.0.1:{env.redis_port} db=1;"
    for http, servers in ((url, ["server_name a;", "server_name b;"]),   # one brand, twice
                          (url, ["server_name a;", "server_name b; " + db1]),
                          ("", [url, db1 + url]),
                          ("", ["server_name a; " + url, "server_name b;"])):
        out = nginx_t(http, *servers)
        assert out.returncode == 0, (http, servers, out.stderr)
    for http, servers, why in (
            ("", [url, url], "is duplicate for"),
            (url, ["server_name a;", url], "is duplicate for"),
            ("", [url + url], "is duplicate"),
            ("", ["location /x/ { " + url + " }"], "not allowed here"),
            ("member_wechat_outbox https://127.0.0.1/admin/;", [""], "http:// URL")):
        out = nginx_t(http, *servers)
        assert out.returncode != 0 and why in out.stderr, (http, servers, out.stderr)
