#!/usr/bin/env python3
"""layers.py [DIR]: the module's layer rule, checked before every build.

ngx_member_module/ is grouped by layer, each a folder with one header:

    core <- redis <- ledger <- wechat <- member <- admin

and ngx_http_member_module.c on top (the directives and the worker's start
and stop).  A file of a layer includes its own layer's header, which
includes the one below; it may name a lower layer's header, never a higher
one's.  No file declares a function of the module for itself (a prototype
in a .c file that is not static), so nothing above a file's layer can be
reached around its headers: the compiler refuses an undeclared function.

and a layer's header declares only what its own files define, so that no
function of a higher layer hides in a lower header.

Prints every breach as FILE:LINE: what, and exits 1 when there is one.
"""

import os
import re
import sys

LAYERS = ["core", "redis", "ledger", "wechat", "member", "admin"]
HEADER = {layer: "ngx_member_%s.h" % layer for layer in LAYERS}
LAYER_OF_HEADER = {h: layer for layer, h in HEADER.items()}

# headers of the libraries beside the module and the generated bindings
OUTSIDE = re.compile(r"^(member_\w+\.h|ngx_http_member_scripts\.h)$")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
# nginx style: a definition's type stands on the line above its name, so a
# line with a type and a module function's name before "(" is a prototype
PROTOTYPE = re.compile(r"^(?!static\b|typedef\b|extern\b)[A-Za-z_][\w \*]*?"
                       r"\b(ngx_http_member_\w+)\s*\(", re.M)


def line_of(text, pos):
    return text.count("\n", 0, pos) + 1


def check_file(path, rel, layer, errors):
    text = open(path, encoding="utf-8").read()
    rank = LAYERS.index(layer) if layer != "top" else len(LAYERS)
    own = HEADER.get(layer)
    included = []

    for m in INCLUDE.finditer(text):
        name = m.group(1)
        where = "%s:%d" % (rel, line_of(text, m.start()))

        if OUTSIDE.match(name):
            if layer not in ("core", "top") and name.startswith("ngx_http"):
                errors.append("%s: only core includes %s" % (where, name))
            continue

        if name not in LAYER_OF_HEADER:
            errors.append("%s: includes \"%s\", not a layer's header"
                          % (where, name))
            continue

        included.append(name)
        if LAYERS.index(LAYER_OF_HEADER[name]) > rank:
            errors.append("%s: the %s layer includes %s, a layer above it"
                          % (where, layer, name))

    if path.endswith(".c"):
        if own and own not in included:
            errors.append("%s: does not include its layer's header %s"
                          % (rel, own))

        for m in PROTOTYPE.finditer(text):
            errors.append("%s:%d: declares %s itself; a function of "
                          "another file is declared in its layer's header"
                          % (rel, line_of(text, m.start()), m.group(1)))


# a function defined in nginx style: its name at the start of a line
DEFINITION = re.compile(r"^(ngx_http_member_\w+)\(", re.M)
DECLARED = re.compile(r"\b(ngx_http_member_\w+)\s*\(")


def check_headers(top, errors):
    defined = {}

    for layer in LAYERS:
        folder = os.path.join(top, layer)
        for f in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            if f.endswith(".c"):
                text = open(os.path.join(folder, f), encoding="utf-8").read()
                for m in DEFINITION.finditer(text):
                    defined[m.group(1)] = layer

    for layer in LAYERS:
        path = os.path.join(top, layer, HEADER[layer])
        if not os.path.exists(path):
            errors.append("%s/: has no header %s" % (layer, HEADER[layer]))
            continue
        text = open(path, encoding="utf-8").read()
        # prototypes only: a line that is not a macro, a typedef or a member
        for m in re.finditer(r"^(?!#|typedef|\s|/\*| \*)[^\n]*", text, re.M):
            for d in DECLARED.finditer(m.group(0)):
                name = d.group(1)
                home = defined.get(name)
                if home and home != layer:
                    errors.append("%s/%s:%d: declares %s, which %s/ defines"
                                  % (layer, HEADER[layer],
                                     line_of(text, m.start()), name, home))


def check(top):
    errors = []

    check_headers(top, errors)

    for name in sorted(os.listdir(top)):
        path = os.path.join(top, name)

        if os.path.isdir(path):
            if name == "lua":
                continue
            if name not in LAYERS:
                errors.append("%s/: not a layer (%s)" % (name,
                                                         " ".join(LAYERS)))
                continue
            for f in sorted(os.listdir(path)):
                if f.endswith((".c", ".h")):
                    check_file(os.path.join(path, f), "%s/%s" % (name, f),
                               name, errors)
                    if f.endswith(".h") and f != HEADER[name]:
                        errors.append("%s/%s: a layer has one header, %s"
                                      % (name, f, HEADER[name]))

        elif name.endswith(".h"):
            errors.append("%s: headers live in their layer's folder" % name)

        elif name.endswith(".c"):
            if name != "ngx_http_member_module.c":
                errors.append("%s: only ngx_http_member_module.c is above the "
                              "layers" % name)
            check_file(path, name, "top", errors)

    return errors


def main():
    top = sys.argv[1] if len(sys.argv) > 1 else "ngx_member_module"
    errors = check(top)

    for e in errors:
        print("layers: " + e, file=sys.stderr)

    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
