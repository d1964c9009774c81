"""The admin API's route table (ngx_http_member_admin.c) against what the
API does: every row names its grant, and a role the grant leaves out is
refused (403) on that row's route, while a role it names is not.  The
member API's (ngx_http_member_api.c), the scanner's (ngx_http_member_scan.c)
and the web login's (ngx_http_member_oauth.c) tables likewise: every row
needs the credentials its grant names, after or before its method as the
grant says, and another method is 405.

The rows are read from the C source itself, so a route added to the table
is walked here too; a row whose grant is not one of the known ones fails.
"""

import os
import re

from harness import ADMIN_TOKEN, make_key

HERE = os.path.dirname(os.path.abspath(__file__))
MODULE = os.path.join(HERE, "..", "..", "ngx_member_module")
ADMIN_C = os.path.join(MODULE, "admin", "ngx_http_member_admin.c")

# who each grant lets in (admin/ngx_member_admin.h); "other" is a store
# key of another store than the route's
GRANTS = {
    "NGX_HTTP_MEMBER_GRANT_NONE": set(),
    "NGX_HTTP_MEMBER_GRANT_HQ": {"hq"},
    "NGX_HTTP_MEMBER_GRANT_READ": {"hq", "readonly"},
    "NGX_HTTP_MEMBER_GRANT_STORE": {"hq", "readonly", "store"},
    "NGX_HTTP_MEMBER_GRANT_DESK": {"hq", "readonly", "store", "other"},
}

METHODS = {"R": "GET", "P": "POST", "A": "DELETE", "NGX_HTTP_PUT": "PUT",
           "NGX_HTTP_POST": "POST", "NGX_HTTP_MEMBER_READ": "GET"}

ROW = re.compile(r'\{\s*([A-Z_]+),\s*"([^"]*)",\s*([a-z_0-9]+|NULL),\s*([A-Z_]*)\s*,'
                 r'\s*([a-z_0-9]+|NULL)\s*\}', re.S)


def rows():
    with open(ADMIN_C) as f:
        src = f.read()
    table = src[src.index("ngx_http_member_admin_routes[] = {"):]
    table = table[:table.index("\n};")]
    # every row of the table is one the pattern reads
    assert table.count('"') == 2 * len(ROW.findall(table)), "a row the test cannot read"
    return ROW.findall(table)


def test_every_row_has_a_grant_and_a_role_without_it_is_refused(env):
    env.admin("POST", "stores", {"store_id": "S1", "name": "S1"})
    env.admin("POST", "stores", {"store_id": "S2", "name": "S2"})
    mid, _ = env.member()
    keys = {"hq": make_key(env, "hq")[1], "readonly": make_key(env, "readonly")[1],
            "store": make_key(env, "store", ["S1"])[1],
            "other": make_key(env, "store", ["S2"])[1]}
    table = rows()
    assert len(table) >= 40, table
    assert table[-1][1:3] == ("**", "NULL"), "the table ends with who hears 404"
    walked = 0
    for methods, pattern, handler, grant, audit in table:
        assert grant in GRANTS, (pattern, grant)
        if handler == "NULL":
            continue
        method = METHODS[methods]
        # a change is audited, a read is not (but the look-up, a POST)
        if method == "GET":
            assert audit == "NULL", (pattern, audit)
        elif pattern != "members/lookup":
            assert audit.startswith("ngx_http_member_audit_"), (pattern, audit)
        path = (pattern.replace("/?", "/").replace("<id>", str(mid))
                .replace("<store*>", "S1").replace("<store>", "S1")
                .replace("<fid>", "0" * 21).replace("<tag>", "vip")
                .replace("**", "0123456789abcdef"))
        assert "<" not in path and "*" not in path, path
        for role, key in keys.items():
            # a body that no handler accepts: nothing a granted role asks changes
            r = env.admin(method, path, "[" if method != "GET" else None, token=key,
                          headers={"Content-Type": "application/json"})
            if role in GRANTS[grant]:
                assert r.status not in (401, 403) and r.status < 500, (role, method, path, r)
            else:
                assert r.status == 403 and r.json["error"] == "forbidden", \
                    (role, method, path, r)
        r = env.admin(method, path, "[" if method != "GET" else None, token=ADMIN_TOKEN,
                      headers={"Content-Type": "application/json"})
        assert r.status not in (401, 403) and r.status < 500, ("bootstrap", method, path, r)
        walked += 1
    assert walked >= 40, walked


def test_no_row_is_the_headquarters_only(env):
    keys = {"hq": make_key(env, "hq")[1], "readonly": make_key(env, "readonly")[1],
            "store": make_key(env, "store", ["S1"])[1]}
    for method, path, allowed in [("GET", "no/such/route", {"hq", "readonly"}),
                                  ("POST", "no/such/route", {"hq"}),
                                  ("GET", "stores/S1/nothing", {"hq", "readonly", "store"}),
                                  ("DELETE", "whoami", {"hq"}),
                                  ("GET", "keys/nothing", set())]:
        for role, key in keys.items():
            r = env.admin(method, path, token=key)
            if role in allowed:
                assert r.status in (404, 405), (role, method, path, r)
            else:
                assert r.status == 403, (role, method, path, r)


# the member API's, the scanner's and the web login's rows: methods may be
# joined by "|", the grant is a macro or its one-letter name
ANY_ROW = re.compile(r'\{\s*([A-Z_|]+),\s*"([^"]*)",\s*([a-z_0-9]+|NULL),\s*([A-Z_]+)\s*,'
                     r'\s*NULL\s*\}', re.S)
SHORT = {"R": "NGX_HTTP_MEMBER_READ", "P": "NGX_HTTP_POST", "A": "NGX_HTTP_MEMBER_ANY",
         "T": "NGX_HTTP_MEMBER_GRANT_TOKEN", "S": "NGX_HTTP_MEMBER_GRANT_PAGE"}
VERBS = {"NGX_HTTP_MEMBER_READ": {"GET", "HEAD"}, "NGX_HTTP_POST": {"POST"},
         "NGX_HTTP_PUT": {"PUT"}, "NGX_HTTP_DELETE": {"DELETE"},
         "NGX_HTTP_MEMBER_ANY": {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"}}


def table_rows(source, name):
    with open(os.path.join(MODULE, source)) as f:
        src = f.read()
    table = src[src.index(name + "[] = {"):]
    table = table[:table.index("\n};")]
    found = ANY_ROW.findall(table)
    assert table.count('"') == 2 * len(found), "a row the test cannot read"
    out = []
    for methods, pattern, handler, grant in found:
        verbs = set()
        for m in methods.split("|"):
            verbs |= VERBS[SHORT.get(m, m)]
        out.append((verbs, pattern, handler, SHORT.get(grant, grant)))
    assert out[-1][1:] == ("**", "NULL", "NGX_HTTP_MEMBER_GRANT_ANYONE"), \
        "the table ends with who hears 404 before any credentials"
    return out


def other_verbs(rows, pattern):
    """the methods no row with a handler serves on this pattern"""
    served = set()
    for verbs, p, handler, _ in rows:
        if p == pattern and handler != "NULL":
            served |= verbs
    return sorted({"GET", "POST", "PUT", "DELETE", "PATCH"} - served)


def test_every_row_of_the_member_api_needs_a_session(env):
    env.member("routes")
    token = env.login("routes").json["token"]
    session = {"Authorization": "Bearer " + token}
    rows = table_rows("member/ngx_http_member_api.c", "ngx_http_member_api_routes")
    walked = 0
    for verbs, pattern, handler, grant in rows:
        if handler == "NULL":
            continue
        assert grant in ("NGX_HTTP_MEMBER_GRANT_TOKEN", "NGX_HTTP_MEMBER_GRANT_PAGE"), \
            (pattern, grant)
        path = "/api/" + pattern
        for verb in sorted(verbs - {"HEAD"}):
            body = "[" if verb in ("POST", "PUT") else None
            h = {"Content-Type": "application/json"}
            r = env.request(verb, path, body, h)
            assert r.status == 401, (verb, path, r)
            if verb == "DELETE":
                continue                    # the session's member would go
            r = env.request(verb, path, body, dict(h, **session))
            assert r.status not in (401, 404, 405) and r.status < 500, (verb, path, r)
        for verb in other_verbs(rows, pattern):
            # a page reads its session first; the others refuse the method
            r = env.request(verb, path)
            if grant == "NGX_HTTP_MEMBER_GRANT_PAGE":
                assert r.status == 401, (verb, path, r)
            else:
                assert r.status == 405, (verb, path, r)
            r = env.request(verb, path, headers=session)
            assert r.status == 405 and r.json["error"] == "method_not_allowed", \
                (verb, path, r)
        walked += 1
    assert walked >= 17, walked
    for path in ("/api/", "/api/no/such", "/api/card/", "/api/code.gif"):
        r = env.request("GET", path)
        assert r.status == 404 and r.json["error"] == "not_found", (path, r)


def test_every_row_of_the_scanner_is_signed(env):
    rows = table_rows("member/ngx_http_member_scan.c", "ngx_http_member_scan_routes")
    walked = 0
    for verbs, pattern, handler, grant in rows:
        if handler == "NULL":
            continue
        assert grant == "NGX_HTTP_MEMBER_GRANT_SIGNED", (pattern, grant)
        path = "/scan/" + pattern
        for verb in sorted(verbs - {"HEAD"}):
            r = env.request(verb, path, "{}")
            assert r.status == 401 and r.json["error"] == "unauthorized", (verb, path, r)
        for verb in other_verbs(rows, pattern):
            r = env.request(verb, path)
            assert r.status == 405, (verb, path, r)
        walked += 1
    assert walked == 5, walked
    r = env.request("POST", "/scan/no/such", "{}")
    assert r.status == 404, r


def test_every_row_of_the_web_login(env):
    rows = table_rows("wechat/ngx_http_member_oauth.c", "ngx_http_member_oauth_routes")
    walked = 0
    for verbs, pattern, handler, grant in rows:
        if handler == "NULL":
            continue
        assert grant == "NGX_HTTP_MEMBER_GRANT_ANYONE", (pattern, grant)
        path = "/oauth/" + pattern
        r = env.request("GET", path)
        assert r.status in (302, 401), (path, r)
        for verb in other_verbs(rows, pattern):
            r = env.request(verb, path)
            assert r.status == 405, (verb, path, r)
        walked += 1
    assert walked == 2, walked
    r = env.request("GET", "/oauth/no/such")
    assert r.status == 404, r
    # another method is 405 on any route, before the route is looked for
    r = env.request("POST", "/oauth/no/such")
    assert r.status == 405, r
