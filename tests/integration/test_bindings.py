"""The scripts' bindings (tools/lua2c.py): every ngx_member_module/lua/*.lua
ends its comment with KEYS, ARGV and CHANGES lines, from which the build
makes the C positions; a missing or malformed binding fails the build."""

import os
import re
import shutil
import subprocess
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LUA = os.path.join(ROOT, "ngx_member_module", "lua")
TOOL = os.path.join(ROOT, "tools", "lua2c.py")


def lua2c(*texts):
    """Runs the generator on scripts of these texts: (rc, stderr, header, c)."""
    with tempfile.TemporaryDirectory() as d:
        files = []
        for i, text in enumerate(texts):
            path = os.path.join(d, "s%d.lua" % i)
            with open(path, "w") as f:
                f.write(text)
            files.append(path)
        p = subprocess.run(["python3", TOOL, d] + files, capture_output=True,
                           text=True)
        out = [None, None]
        for i, name in enumerate(("ngx_http_member_scripts.h",
                                  "ngx_http_member_scripts.c")):
            if os.path.exists(os.path.join(d, name)):
                with open(os.path.join(d, name)) as f:
                    out[i] = f.read()
        return p.returncode, p.stderr, out[0], out[1]


def pay():
    with open(os.path.join(LUA, "pay.lua")) as f:
        return f.read()


def test_bindings_every_script(env):
    """Every script has its binding; pay.lua's positions are the C enum."""
    with tempfile.TemporaryDirectory() as d:
        scripts = sorted(os.path.join(LUA, n) for n in os.listdir(LUA))
        p = subprocess.run(["python3", TOOL, d] + scripts,
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        with open(os.path.join(d, "ngx_http_member_scripts.h")) as f:
            h = f.read()
    assert "NGX_HTTP_MEMBER_PAY_KEY_LEDGER = 2," in h
    assert "NGX_HTTP_MEMBER_PAY_ARGV_AMOUNT_FEN = 3," in h
    assert "NGX_HTTP_MEMBER_PAY_ARGV_TIERS = 18," in h
    assert "NGX_HTTP_MEMBER_PAY_NKEYS = 7," in h
    assert "NGX_HTTP_MEMBER_PAY_NARGV = 18\n" in h
    assert "NGX_HTTP_MEMBER_SCAN_FAIL_NARGV = 0\n" in h


def test_bindings_flags(env):
    """CHANGES names the member's KEY; "when" and "by caller" are kept;
    DURABLE (member_redis_replicas) is the last flag."""
    rc, err, h, c = lua2c(pay())
    assert rc == 0, err
    # nkeys, nargv, member, when, keys_tail, argv_tail, hint, durable
    assert re.search(r"\n      7, 18, 0, NULL, 0, 1, 1, 1 },", c), c[-300:]

    text = pay().replace("-- CHANGES member\n",
                         "-- CHANGES ledger when visitor\n")
    rc, err, h, c = lua2c(text)
    assert rc == 0, err
    assert '7, 18, 2, "visitor", 0, 1, 1, 1 },' in c

    text = pay().replace("-- CHANGES member\n", "-- CHANGES member by caller\n")
    rc, err, h, c = lua2c(text)
    assert rc == 0, err
    assert "7, 18, 0, NULL, 0, 1, 0, 1 }," in c

    text = pay().replace("-- DURABLE\n", "")
    rc, err, h, c = lua2c(text)
    assert rc == 0, err
    assert "7, 18, 0, NULL, 0, 1, 1, 0 }," in c


def test_bindings_refused(env):
    """A missing or malformed binding stops the build, naming the file."""
    text = pay()
    bad = {
        "no binding": re.sub(r"-- KEYS member.*?-- CHANGES member\n", "",
                             text, flags=re.S),
        "no CHANGES": text.replace("-- CHANGES member\n", ""),
        "a name that is no C name": text.replace("-- KEYS member ",
                                                 "-- KEYS Member "),
        "a name twice": text.replace("-- KEYS member ticket",
                                     "-- KEYS member member"),
        "a tail not last": text.replace("--      ticket order_ttl tiers...",
                                        "--      ticket order_ttl... tiers"),
        "DURABLE of a word": text.replace("-- DURABLE\n", "-- DURABLE yes\n"),
        "DURABLE before CHANGES": text.replace("-- CHANGES member\n-- DURABLE\n",
                                               "-- DURABLE\n-- CHANGES member\n"),
        "CHANGES of no KEY": text.replace("-- CHANGES member\n",
                                          "-- CHANGES someone\n"),
        "CHANGES of a word it has not": text.replace(
            "-- CHANGES member\n", "-- CHANGES member after all\n"),
        "ARGV[2] past one": "-- x\n-- KEYS k\n-- ARGV a\n-- CHANGES none\n"
                            "return ARGV[2]\n",
        "KEYS[2] past one": "-- x\n-- KEYS k\n-- ARGV a\n-- CHANGES none\n"
                            "return KEYS[2]\n",
        "#ARGV with no tail": text.replace(" tiers...", ""),
        "the binding in the middle": text.replace(
            "-- CHANGES member\n", "-- CHANGES member\n-- more prose\n"),
        "an empty ARGV": re.sub(r"-- ARGV kind.*?(?=-- CHANGES)",
                                "-- ARGV\n", text, flags=re.S),
    }
    for what, t in bad.items():
        assert t != text, what
        rc, err, h, c = lua2c(t)
        assert rc != 0 and h is None, what
        assert "s0.lua" in err, (what, err)


def test_bindings_build_fails(env):
    """make itself fails when a script loses its binding."""
    with tempfile.TemporaryDirectory() as d:
        shutil.copytree(LUA, os.path.join(d, "ngx_member_module", "lua"))
        shutil.copytree(os.path.dirname(TOOL), os.path.join(d, "tools"))
        shutil.copy(os.path.join(ROOT, "Makefile"), d)
        gen = ["make", "-s", "-C", d, "build/gen/ngx_http_member_scripts.c"]
        p = subprocess.run(gen, capture_output=True, text=True)
        assert p.returncode == 0, p.stderr

        path = os.path.join(d, "ngx_member_module", "lua", "sweep.lua")
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("-- CHANGES member\n", ""))
        p = subprocess.run(gen, capture_output=True, text=True)
        assert p.returncode != 0
        assert "sweep.lua" in p.stderr


# Keys a script may not name itself (docs/keys.md): a hash tag, or the
# prefix of a key with none.  The Redis layer may rename every key it
# passes (a brand's namespace, issue 16), so a name made in Lua would miss.
KEY_LITERAL = re.compile(r"^(\{[A-Za-z]|member:seq|openid:|phone:|oauth:"
                         r"|stores$|order:|ledger:|oa:n:)")


def lua_tokens(text):
    """(kind, text, offset) of a Lua source: 'str', 'code'; comments out."""
    out, i, n = [], 0, len(text)
    code = []
    while i < n:
        c = text[i]
        if text.startswith("--", i):
            m = re.compile(r"--\[(=*)\[").match(text, i)
            if m:
                end = text.find("]" + m.group(1) + "]", m.end())
                i = n if end < 0 else end + len(m.group(1)) + 2
            else:
                end = text.find("\n", i)
                i = n if end < 0 else end
            continue
        m = re.compile(r"\[(=*)\[").match(text, i)
        if c in "'\"" or m:
            if code:
                out.append(("code", "".join(code), i))
                code = []
            if m:
                end = text.find("]" + m.group(1) + "]", m.end())
                out.append(("str", text[m.end():end], i))
                i = end + len(m.group(1)) + 2
                continue
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(("str", text[i + 1:j], i))
            i = j + 1
            continue
        code.append(c)
        i += 1
    if code:
        out.append(("code", "".join(code), n))
    return out


def key_faults(text):
    """Where a script names a key itself instead of taking it from KEYS."""
    faults = []
    tokens = lua_tokens(text)
    for kind, s, at in tokens:
        if kind == "str" and KEY_LITERAL.match(s):
            faults.append("a key's name in a string: %r" % s)

    # the code alone, each string as '' : the calls' first arguments
    flat = "".join(s if k == "code" else "''" for k, s, _ in tokens)
    if re.search(r"\bKEYS\[[^\]]*\]\s*\.\.|\.\.\s*KEYS\[", flat):
        faults.append("a key made from another (KEYS[n] ..)")
    strs = iter(s for k, s, _ in tokens if k == "str")
    for m in re.finditer(r"redis\.p?call\(|''", flat):
        if m.group(0) == "''":
            next(strs)
            continue
        rest = flat[m.end():]
        cmd = re.match(r"\s*''\s*(,|\))", rest)
        if not cmd:
            faults.append("a command that is not a string")
            continue
        if cmd.group(1) == ")":
            continue
        # the key: up to the next comma or parenthesis at depth 0
        depth, j, arg = 0, cmd.end(), []
        while j < len(rest):
            ch = rest[j]
            if ch in "([{":
                depth += 1
            elif ch in ")]}":
                if depth == 0:
                    break
                depth -= 1
            elif ch == "," and depth == 0:
                break
            arg.append(ch)
            j += 1
        arg = "".join(arg).strip()
        if "''" in arg or ".." in arg or "ARGV" in arg:
            faults.append("a key not from KEYS: %s" % arg)
    return faults


def test_bindings_every_key_in_keys(env):
    """No script names a key: each comes in KEYS, used by its place."""
    found = {}
    for name in sorted(os.listdir(LUA)):
        with open(os.path.join(LUA, name)) as f:
            faults = key_faults(f.read())
        if faults:
            found[name] = faults
    assert found == {}, found

    # the check finds what it is for
    head = "-- x\n-- KEYS k sets...\n-- ARGV a\n-- CHANGES none\n"
    bad = {
        "a tag's set": "redis.call('SADD', '{b}:tag:' .. ARGV[1], 1)\n",
        "a day": "local k = '{b}:day:' .. ARGV[1]\n"
                 "redis.call('HINCRBY', k, 'n', 1)\n",
        "a member's key": 'redis.call("GET", "{m:" .. ARGV[1] .. "}")\n',
        "an untagged key": "redis.call('ZADD', 'ledger:due', 1, ARGV[1])\n",
        "a key from ARGV": "redis.call('GET', ARGV[1])\n",
        "a key made of a key": "redis.call('GET', KEYS[1] .. ':x')\n",
        "a suffix on a key": "local s = KEYS[1] .. ARGV[1]\n",
        "a key in a long string": "redis.call('GET', [[{b}:fold]])\n",
    }
    for what, body in bad.items():
        assert key_faults(head + body), what
    good = ("-- {b}:tag:<name> in a comment\n"
            "redis.call('SADD', KEYS[2], ARGV[1])\n"
            "local s = string.format('{\"a\":%d}', 1)\n"
            "redis.call('HSET', KEYS[1], 'status', ARGV[1])\n"
            "redis.call('TIME')\n")
    assert key_faults(head + good) == []
