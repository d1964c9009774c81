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
    """CHANGES names the member's KEY; "when" and "by caller" are kept."""
    rc, err, h, c = lua2c(pay())
    assert rc == 0, err
    # nkeys, nargv, member, when, keys_tail, argv_tail, hint
    assert re.search(r"\n      7, 18, 0, NULL, 0, 1, 1 },", c), c[-300:]

    text = pay().replace("-- CHANGES member\n",
                         "-- CHANGES ledger when visitor\n")
    rc, err, h, c = lua2c(text)
    assert rc == 0, err
    assert '7, 18, 2, "visitor", 0, 1, 1 },' in c

    text = pay().replace("-- CHANGES member\n", "-- CHANGES member by caller\n")
    rc, err, h, c = lua2c(text)
    assert rc == 0, err
    assert "7, 18, 0, NULL, 0, 1, 0 }," in c


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
