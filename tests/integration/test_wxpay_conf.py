"""The WeChat Pay directives (member_wxpay_*, docs/wxpay.md): a complete
set passes nginx -t; a bad key file, a certificate named by another serial,
an APIv3 key that is not 32 bytes or a missing setting fails it with a
message that names the problem and never holds a key."""

import os
import subprocess

import harness
from harness import APPID

DATA = os.path.join(harness.ROOT, "tests", "unit", "data", "wxpay")
MCHID = "1900000109"
SERIAL = "5157F09EFDC096DE15EBE81A47057A7232FE2B21"
APIV3_KEY = "apiv3Key0123456789abcdefghijklmn"
PUB_ID = "PUB_KEY_ID_0114232134912410000000000001"


def data(name):
    return os.path.join(DATA, name)


def settings(**change):
    """The directives of a complete configuration, one changed or dropped
    (None) by keyword."""
    s = {"mchid": f"member_wxpay_mchid {MCHID};",
         "key": f"member_wxpay_key {data('merchant_key.pem')};",
         "serial": "member_wxpay_serial 3775B6A45ACD588826D15E583A95F5DD3B3AB2D1;",
         "apiv3": f"member_wxpay_apiv3_key {APIV3_KEY};",
         "platform": f"member_wxpay_platform_key {PUB_ID} {data('platform_pub.pem')};",
         "api": "member_wxpay_api /wxpay;",
         "notify": "member_wxpay_notify_url https://pay.example.com/wxpay/notify;"}
    s.update(change)
    return " ".join(v for v in s.values() if v)


def nginx_t(env, server):
    conf = (f"load_module {harness.MODULE}; pid {env.dir}/t.pid; error_log {env.dir}/t.log;"
            f"events {{}} http {{ member_redis 127.0.0.1:{env.redis_port}; server {{"
            f"listen 127.0.0.1:{env.port}; member_wechat_appid {APPID}; {server}"
            f" location /api/ {{ member_api; member_pii_key k1 {harness.PII_KEY}; }} }} }}")
    path = env.dir + "/t.conf"
    with open(path, "w") as f:
        f.write(conf)
    return subprocess.run(["nginx", "-t", "-q", "-p", env.dir + "/", "-c", path, "-e",
                           env.dir + "/t.log"], capture_output=True, text=True, timeout=30,
                          env=env.nginx_env)


def refused(env, server, says):
    out = nginx_t(env, server)
    assert out.returncode != 0 and "emerg" in out.stderr, (server, out)
    assert says in out.stderr, (says, out.stderr)
    assert APIV3_KEY[:8] not in out.stderr and "BEGIN" not in out.stderr, out.stderr
    return out


def test_a_complete_configuration_passes(env):
    assert nginx_t(env, settings()).returncode == 0
    # platform-certificate mode, a rotation's two keys, and no WeChat Pay at all
    cert = f"member_wxpay_platform_key {SERIAL} {data('platform_cert.pem')};"
    assert nginx_t(env, settings(platform=cert)).returncode == 0
    assert nginx_t(env, settings() + " " + cert).returncode == 0
    assert nginx_t(env, "").returncode == 0
    # the settings without member_wxpay_api: nothing calls WeChat Pay yet
    assert nginx_t(env, settings(api=None)).returncode == 0


def test_a_bad_key_file_fails(env):
    for name in ("missing.pem", "encrypted_key.pem", "weak_key.pem", "platform_pub.pem",
                 "platform_cert.pem"):
        out = refused(env, settings(key=f"member_wxpay_key {data(name)};"),
                      "member_wxpay_key")
        assert "private key" in out.stderr and name in out.stderr, out.stderr
    for name in ("missing.pem", "weak_key.pem", "merchant_key.pem"):
        bad = f"member_wxpay_platform_key {PUB_ID} {data(name)};"
        out = refused(env, settings(platform=bad), "member_wxpay_platform_key")
        assert "platform key" in out.stderr, out.stderr
    # a certificate's serial must be the one named
    bad = f"member_wxpay_platform_key 0123ABCD {data('platform_cert.pem')};"
    out = refused(env, settings(platform=bad), "has the serial " + SERIAL)
    bad = f"member_wxpay_platform_key PUB_KEY-1 {data('platform_pub.pem')};"
    refused(env, settings(platform=bad), "serial")


def test_the_apiv3_key_is_32_bytes(env):
    for bad in (APIV3_KEY[:-1], APIV3_KEY + "x", APIV3_KEY[:-1] + "\\x7f"):
        refused(env, settings(apiv3=f'member_wxpay_apiv3_key "{bad}";'),
                "the APIv3 key is 32 printable characters")


def test_values_are_checked(env):
    refused(env, settings(mchid="member_wxpay_mchid 19000x;"), "digits")
    refused(env, settings(serial="member_wxpay_serial AB-CD;"), "[A-Za-z0-9_]")
    refused(env, settings(api="member_wxpay_api wxpay;"), "internal location")
    refused(env, settings(api="member_wxpay_api /wxpay/;"), "internal location")
    for url in ("pay.example.com/n", "https://pay.example.com/n?x=1", "ftp://x/n"):
        refused(env, settings(notify=f"member_wxpay_notify_url {url};"), "absolute URL")
    refused(env, settings() + f" member_wxpay_mchid {MCHID};", "is duplicate")
    refused(env, settings() + f" member_wxpay_apiv3_key {APIV3_KEY};", "is duplicate")
    refused(env, settings() + f" member_wxpay_platform_key {PUB_ID} {data('platform_pub.pem')};",
            "is duplicate")
    # server level only
    out = nginx_t(env, "location /x { member_wxpay_mchid 1900000109; }")
    assert out.returncode != 0 and "not allowed here" in out.stderr, out.stderr


def test_a_missing_setting_fails_with_member_wxpay_api(env):
    for name in ("mchid", "key", "serial", "apiv3", "platform", "notify"):
        out = refused(env, settings(**{name: None}), "\"member_wxpay_api\" needs")
        assert "member_wxpay_platform_key" in out.stderr, out.stderr
