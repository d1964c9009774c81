"""The layer rule (tools/layers.py), which the build checks before it
compiles: the tree as it is passes, and each kind of breach planted in a
copy of it fails with the file named."""

import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, "tools", "layers.py")
MODULE = os.path.join(ROOT, "ngx_member_module")


def layers(top):
    p = subprocess.run([sys.executable, TOOL, top], capture_output=True,
                       text=True)
    return p.returncode, p.stderr


def planted(edit):
    """layers.py over a copy of the module changed by edit(top)."""
    tmp = tempfile.mkdtemp()
    try:
        top = os.path.join(tmp, "ngx_member_module")
        shutil.copytree(MODULE, top)
        edit(top)
        return layers(top)
    finally:
        shutil.rmtree(tmp)


def append(path, text):
    with open(path, "a") as f:
        f.write(text)


def replace(path, old, new):
    with open(path) as f:
        s = f.read()
    assert old in s, (path, old)
    with open(path, "w") as f:
        f.write(s.replace(old, new, 1))


def test_the_tree_keeps_the_layer_rule(env):
    rc, err = layers(MODULE)
    assert rc == 0, err


def test_a_file_that_includes_a_higher_layer_fails(env):
    rc, err = planted(lambda top: replace(
        os.path.join(top, "core", "ngx_http_member_reply.c"),
        '#include "ngx_member_core.h"',
        '#include "ngx_member_core.h"\n#include "ngx_member_admin.h"'))
    assert rc == 1
    assert "core/ngx_http_member_reply.c:" in err
    assert "the core layer includes ngx_member_admin.h" in err


def test_a_file_that_declares_a_function_itself_fails(env):
    rc, err = planted(lambda top: append(
        os.path.join(top, "ledger", "ngx_http_member_fold.c"),
        "\nvoid ngx_http_member_outbox_touch(ngx_http_member_redis_t *redis,"
        "\n    uint64_t id);\n"))
    assert rc == 1
    assert "ledger/ngx_http_member_fold.c:" in err
    assert "declares ngx_http_member_outbox_touch itself" in err


def test_a_lower_header_that_declares_a_higher_function_fails(env):
    rc, err = planted(lambda top: replace(
        os.path.join(top, "core", "ngx_member_core.h"),
        "\n#endif",
        "\nngx_int_t ngx_http_member_scan_handler(ngx_http_request_t *r);\n"
        "\n#endif"))
    assert rc == 1
    assert "declares ngx_http_member_scan_handler, which member/ defines" \
        in err


def test_a_file_without_its_layer_header_fails(env):
    rc, err = planted(lambda top: replace(
        os.path.join(top, "wechat", "ngx_http_member_token.c"),
        '#include "ngx_member_wechat.h"', '#include "ngx_member_ledger.h"'))
    assert rc == 1
    assert "wechat/ngx_http_member_token.c: does not include its layer's " \
        "header ngx_member_wechat.h" in err


def test_a_file_outside_the_layers_fails(env):
    def stray(top):
        shutil.copy(os.path.join(top, "core", "ngx_http_member_ctx.c"),
                    os.path.join(top, "ngx_http_member_extra.c"))
        os.mkdir(os.path.join(top, "misc"))
    rc, err = planted(stray)
    assert rc == 1
    assert "ngx_http_member_extra.c: only ngx_http_member_module.c" in err
    assert "misc/: not a layer" in err
