#!/usr/bin/env python3
"""lua2c.py OUTDIR FILE.lua... : compiles the Redis scripts into the module.

Each script's leading comment ends with its binding, three lines that stay
readable as the comment they are:

    -- KEYS member ticket ledger order lots coupons coupons_used
    -- ARGV kind store order amount_fen ... tiers...
    -- CHANGES member

KEYS and ARGV name the script's keys and arguments in order ("(none)" for
none); a last name ending in "..." is a variadic tail whose length the
caller gives.  A long list goes on over comment lines indented by two or
more spaces.  CHANGES names the KEY of the member the script changes (its
ledger, points, balance, record), after which the Redis layer hints the
fold and the WeChat outbox by itself: after every answer that is not an
error, "member when <answer>" only after that answer, "member by caller"
when the caller hints by what the answer says; "none" for the others.
An optional last line "-- DURABLE" marks a script that moves money or
points: with member_redis_replicas the Redis layer answers it only once
WAIT found enough replicas to hold it.

Writes OUTDIR/ngx_http_member_scripts.h (the scripts' enum, and per script
an enum of its KEYS and ARGV positions with their counts) and
OUTDIR/ngx_http_member_scripts.c (the sources as C string literals, the
counts and the flags).  A missing or malformed binding, or a script that
reads KEYS[n] or ARGV[n] past what it declares, fails the build.
"""

import os
import re
import sys

NAME = re.compile(r"^[a-z][a-z0-9_]*$")
INDEX = {"KEYS": re.compile(r"\bKEYS\[(\d+)\]"),
         "ARGV": re.compile(r"\bARGV\[(\d+)\]")}


class Malformed(Exception):
    pass


def names(path, lineno, kind, words):
    """The fixed names of a KEYS or ARGV line, and its tail (or None)."""
    if words == ["(none)"]:
        return [], None
    if not words:
        raise Malformed(f"{path}:{lineno}: {kind} names nothing "
                        f"(write \"(none)\")")
    fixed, tail = [], None
    for i, w in enumerate(words):
        name = w[:-3] if w.endswith("...") else w
        if not NAME.match(name):
            raise Malformed(f"{path}:{lineno}: {kind}: \"{w}\" is not a "
                            f"name ([a-z][a-z0-9_]*, \"...\" for a tail)")
        if name in fixed or name == tail:
            raise Malformed(f"{path}:{lineno}: {kind}: \"{name}\" twice")
        if w.endswith("..."):
            if i != len(words) - 1:
                raise Malformed(f"{path}:{lineno}: {kind}: the tail "
                                f"\"{w}\" is not last")
            tail = name
        else:
            fixed.append(name)
    return fixed, tail


def binding(path, text):
    lines = text.split("\n")
    head = []
    for line in lines:
        if not line.startswith("--"):
            break
        head.append(line)

    # the block: the comment's last lines, KEYS, ARGV, CHANGES, each
    # perhaps continued on lines indented by two or more spaces
    parts = []
    for i, line in enumerate(head):
        m = re.match(r"^-- (KEYS|ARGV|CHANGES|DURABLE)( |$)(.*)$", line)
        if m:
            parts.append([m.group(1), i + 1, m.group(3).split()])
        elif parts and re.match(r"^--  +\S", line):
            parts[-1][2].extend(line[2:].split())
        elif parts:
            raise Malformed(f"{path}:{i + 1}: the binding (KEYS, ARGV, "
                            f"CHANGES) must end the leading comment")
    durable = bool(parts) and parts[-1][0] == "DURABLE"
    if durable:
        if parts[-1][2]:
            raise Malformed(f"{path}:{parts[-1][1]}: DURABLE takes nothing")
        parts.pop()
    if [p[0] for p in parts] != ["KEYS", "ARGV", "CHANGES"]:
        raise Malformed(f"{path}: no binding: the leading comment must end "
                        f"with \"-- KEYS ...\", \"-- ARGV ...\" and "
                        f"\"-- CHANGES ...\" lines, in that order")

    keys, keys_tail = names(path, parts[0][1], "KEYS", parts[0][2])
    argv, argv_tail = names(path, parts[1][1], "ARGV", parts[1][2])

    lineno, words = parts[2][1], parts[2][2]
    member, hint, when = None, False, None
    if words == ["none"]:
        pass
    elif len(words) == 1:
        member, hint = words[0], True
    elif len(words) == 3 and words[1] == "when":
        member, hint, when = words[0], True, words[2]
    elif words[1:] == ["by", "caller"]:
        member = words[0]
    else:
        raise Malformed(f"{path}:{lineno}: CHANGES takes \"none\", a KEY, "
                        f"\"<KEY> when <answer>\" or \"<KEY> by caller\"")
    if member is not None and member not in keys:
        raise Malformed(f"{path}:{lineno}: CHANGES: \"{member}\" is not "
                        f"one of its fixed KEYS")
    if when is not None and not re.match(r"^[A-Za-z0-9_]+$", when):
        raise Malformed(f"{path}:{lineno}: CHANGES: the answer \"{when}\" "
                        f"is not a word")

    # the body may not read past what the binding declares
    body = "\n".join(lines[len(head):])
    for kind, fixed, tail in (("KEYS", keys, keys_tail),
                              ("ARGV", argv, argv_tail)):
        used = [int(n) for n in INDEX[kind].findall(body)]
        if used and max(used) > len(fixed) and tail is None:
            raise Malformed(f"{path}: reads {kind}[{max(used)}] but declares "
                            f"{len(fixed)} {kind} and no tail")
        if f"#{kind}" in body and tail is None:
            raise Malformed(f"{path}: counts #{kind} but declares no tail")

    return {"keys": keys, "keys_tail": keys_tail, "argv": argv,
            "argv_tail": argv_tail,
            "member": keys.index(member) if member is not None else -1,
            "hint": hint, "when": when, "durable": durable}


def c_string(text):
    """The source as C literals, a line each, every line ending in \\n."""
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    return "\n".join('      "' + line.replace("\\", "\\\\")
                     .replace('"', '\\"') + '\\n"' for line in lines)


def main():
    out, files = sys.argv[1], sys.argv[2:]
    scripts = []
    try:
        for path in files:
            with open(path, encoding="utf-8") as f:
                text = f.read()
            name = os.path.basename(path)[:-len(".lua")]
            if not NAME.match(name):
                raise Malformed(f"{path}: the file's name is not a C name")
            scripts.append((name, text, binding(path, text)))
    except Malformed as e:
        sys.stderr.write(f"lua2c: {e}\n")
        sys.exit(1)

    gen = "/* generated by tools/lua2c.py from ngx_member_module/lua: " \
          "do not edit */\n"

    h = [gen, "#ifndef NGX_HTTP_MEMBER_SCRIPTS_H",
         "#define NGX_HTTP_MEMBER_SCRIPTS_H", "", "", "typedef enum {"]
    for name, _, _ in scripts:
        h.append(f"    NGX_HTTP_MEMBER_SCRIPT_{name.upper()},")
    h += ["    NGX_HTTP_MEMBER_SCRIPT_COUNT", "} ngx_http_member_script_e;",
          ""]

    for name, _, b in scripts:
        p = f"NGX_HTTP_MEMBER_{name.upper()}"
        h += ["", f"/* {name}.lua: its KEYS and ARGV by position */", "enum {"]
        for i, k in enumerate(b["keys"]):
            h.append(f"    {p}_KEY_{k.upper()} = {i},")
        if b["keys_tail"]:
            h.append(f"    {p}_KEY_{b['keys_tail'].upper()} = "
                     f"{len(b['keys'])},    /* a tail */")
        h.append(f"    {p}_NKEYS = {len(b['keys'])},")
        for i, a in enumerate(b["argv"]):
            h.append(f"    {p}_ARGV_{a.upper()} = {i},")
        if b["argv_tail"]:
            h.append(f"    {p}_ARGV_{b['argv_tail'].upper()} = "
                     f"{len(b['argv'])},    /* a tail */")
        h.append(f"    {p}_NARGV = {len(b['argv'])}")
        h.append("};")

    h += ["", "",
          "typedef struct {",
          "    const char  *name;",
          "    const char  *text;",
          "    size_t       len;",
          "    int          nkeys;      /* fixed KEYS, a tail after them */",
          "    int          nargv;      /* fixed ARGV, a tail after them */",
          "    int          member;     /* the KEY of the member it changes,"
          " or -1 */",
          "    const char  *when;       /* the answer after which it hints,"
          " or NULL */",
          "    unsigned     keys_tail:1;",
          "    unsigned     argv_tail:1;",
          "    unsigned     hint:1;     /* the Redis layer hints the member"
          " */",
          "    unsigned     durable:1;  /* moves money or points: WAIT */",
          "} ngx_http_member_script_src_t;",
          "",
          "extern const ngx_http_member_script_src_t",
          "    ngx_http_member_script_srcs[NGX_HTTP_MEMBER_SCRIPT_COUNT];",
          "", "#endif", ""]

    c = [gen, "#include <stddef.h>", '#include "ngx_http_member_scripts.h"',
         "", "", "const ngx_http_member_script_src_t",
         "    ngx_http_member_script_srcs[NGX_HTTP_MEMBER_SCRIPT_COUNT] = {"]
    for name, text, b in scripts:
        lit = c_string(text)
        when = f'"{b["when"]}"' if b["when"] else "NULL"
        c += [f'    {{ "{name}",', lit, "      , sizeof(", lit, "      ) - 1,",
              f"      {len(b['keys'])}, {len(b['argv'])}, {b['member']}, "
              f"{when}, {int(bool(b['keys_tail']))}, "
              f"{int(bool(b['argv_tail']))}, {int(b['hint'])}, "
              f"{int(b['durable'])} }},"]
    c += ["};", ""]

    for path, lines in ((os.path.join(out, "ngx_http_member_scripts.h"), h),
                        (os.path.join(out, "ngx_http_member_scripts.c"), c)):
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            f.write("\n".join(lines))
        os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
