"""The admin API's route table (ngx_http_member_admin.c) against what the
API does: every row names its grant, and a role the grant leaves out is
refused (403) on that row's route, while a role it names is not.

The rows are read from the C source itself, so a route added to the table
is walked here too; a row whose grant is not one of the known ones fails.
"""

import os
import re

from harness import ADMIN_TOKEN, make_key

HERE = os.path.dirname(os.path.abspath(__file__))
ADMIN_C = os.path.join(HERE, "..", "..", "ngx_member_module", "admin",
                       "ngx_http_member_admin.c")

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
