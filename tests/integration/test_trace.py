"""Tracing: with `error_log ... debug` (Debian's nginx is built --with-debug)
every asynchronous step of the module is in the log — a Redis command or
script sent with its name, its reply's type, a WeChat subrequest started
with its path and done with its status, the token cache's miss and hit —
and none of those lines holds a secret, a token, an openid or a query.

nginx's own debug lines are not the module's to govern: they show the
subrequests' queries in full (the app secret of jscode2session and
cgi-bin/token, the access_token of getticket), which is why the README
says never to run production with `error_log ... debug`.  The module's
lines are those whose message starts with "member".
"""

import os
import re
from urllib.parse import quote

import harness
from harness import ADMIN_TOKEN, CODE_SECRET, PII_KEY, SECRET, openid_for

# the http level's log: info to the file the harness checks, debug beside it
ENV = {"extra_http": "error_log @RUN@/error.log info;\n"
                     "    error_log @RUN@/debug.log debug;"}

OURS = re.compile(r"\[debug\] \d+#\d+: (?:\*\d+ )?(member.*)$")


def debug_lines(env):
    with open(os.path.join(env.dir, "debug.log"), errors="replace") as f:
        text = f.read()
    assert "[debug]" in text, "no debug line: is nginx built --with-debug?"
    return [m.group(1) for m in map(OURS.search, text.splitlines()) if m]


def expect(lines, pattern):
    rx = re.compile(pattern)
    assert any(rx.search(line) for line in lines), \
        "no debug line matches %r in:\n  %s" % (pattern, "\n  ".join(lines[-60:]))


def test_a_login_and_a_card_are_traced_without_secrets(env):
    mid, card_no = env.member("tracer")
    r = env.login("tracer")
    assert r.status == 200 and r.json["member_id"] == mid, r
    token = r.json["token"]
    code = "ok-tracer-%d" % harness.Env._codes
    assert env.api("card", token).status == 200
    # a WeChat call behind the token cache: a miss, then a hit
    url = quote("https://pages.example.com/card", safe="")
    assert env.api("jssdk?url=" + url, token).status == 200
    assert env.api("jssdk?url=" + url, token).status == 200
    state = env.fake_get("/_fake/state")

    lines = debug_lines(env)
    redis = r'member: redis "127\.0\.0\.1:%d" ' % env.redis_port

    # the login: WeChat's code exchange, then the login script
    expect(lines, r'^member: wechat subrequest GET "/wechat/sns/jscode2session"'
                  r' started for "/login"$')
    expect(lines, r'^member: wechat subrequest "/wechat/sns/jscode2session" '
                  r'done: rc 0, status 200$')
    expect(lines, r'^member: wechat answer resumes "/login"$')
    expect(lines, '^' + redis + r'script login sent as EVAL(SHA)? for "/login"$')
    expect(lines, '^' + redis + r'replied \w+ for "/login"$')

    # the card: its command or script, and the reply's type
    expect(lines, '^' + redis + r'(command [A-Z]+|script \w+ sent as EVAL(SHA)?)'
                  r'( sent)? for "/api/card"$')
    expect(lines, '^' + redis + r'replied (array|string|nil) for "/api/card"$')

    # the token cache, and the calls behind it
    expect(lines, r'^member: wechat token cache miss$')
    expect(lines, r'^member: wechat jsapi cache hit$')
    expect(lines, r'^member: wechat subrequest GET "/wechat/cgi-bin/token" '
                  r'started for "/api/jssdk"$')
    expect(lines, r'^member: wechat subrequest "/wechat/cgi-bin/ticket/getticket" '
                  r'done: rc 0, status 200$')

    # nothing secret, personal or from a query in the module's lines
    secret = token.split(".")[1]
    never = [SECRET, ADMIN_TOKEN, CODE_SECRET, PII_KEY, token, secret, code,
             openid_for("tracer"), card_no, state["token"],
             state["tickets"]["jsapi"], "access_token=", "secret=", "js_code",
             "?url=", "pages.example.com"]
    for line in lines:
        for s in never:
            assert s not in line, "%r in the debug line %r" % (s[:8], line[:120])
