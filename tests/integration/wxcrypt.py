"""An independent WXBizMsgCrypt for the tests (spec/wechat.md sections 2, 3):
Python's standard library for the layout, padding, base64 and SHA-1, and the
openssl command line for AES-256-CBC with its own padding off.  It shares no
code with gateway/, so a push it seals that the module opens, and a reply of
the module it opens, show both follow WeChat's scheme, not each other.

    wx = WXBizMsgCrypt(token, encoding_aes_key, appid)
    query, body = wx.seal_push(xml, timestamp, nonce)        # safe mode
    xml = wx.open_reply(reply_body)                          # checks MsgSignature
"""

import base64
import hashlib
import os
import struct
import subprocess
import xml.etree.ElementTree as ET


class WXCryptError(Exception):
    pass


def sha1_sorted(*parts):
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def aes_key(encoding_aes_key):
    key = base64.b64decode(encoding_aes_key + "=")
    if len(encoding_aes_key) != 43 or len(key) != 32:
        raise WXCryptError("an EncodingAESKey is 43 characters")
    return key


def aes_cbc(key, data, decrypt=False):
    """AES-256-CBC, IV = the key's first 16 bytes, no padding of openssl's."""
    cmd = ["openssl", "enc", "-aes-256-cbc", "-nopad", "-K", key.hex(),
           "-iv", key[:16].hex(), "-d" if decrypt else "-e"]
    out = subprocess.run(cmd, input=data, capture_output=True, timeout=10)
    if out.returncode != 0:
        raise WXCryptError("openssl: " + out.stderr.decode(errors="replace")[:200])
    return out.stdout


def pad32(data):
    n = 32 - len(data) % 32
    return data + bytes([n]) * n


class WXBizMsgCrypt:
    def __init__(self, token, encoding_aes_key, appid):
        self.token = token
        self.key = aes_key(encoding_aes_key)
        self.appid = appid.encode()

    # the layout: random(16) | len(4, big-endian) | msg | appid | pad
    def plaintext(self, msg, random=None, appid=None):
        random = os.urandom(16) if random is None else random
        appid = self.appid if appid is None else appid
        return random + struct.pack(">I", len(msg)) + msg + appid

    def encrypt(self, msg, random=None, appid=None):
        return base64.b64encode(aes_cbc(self.key, pad32(self.plaintext(msg, random, appid)))).decode()

    def encrypt_raw(self, plain):
        """Encrypts bytes as they are (a multiple of 16), for bad paddings."""
        return base64.b64encode(aes_cbc(self.key, plain)).decode()

    def decrypt(self, text):
        data = base64.b64decode(text, validate=True)
        if not data or len(data) % 16:
            raise WXCryptError("ciphertext length")
        plain = aes_cbc(self.key, data, decrypt=True)
        pad = plain[-1]
        if not 1 <= pad <= 32 or plain[-pad:] != bytes([pad]) * pad:
            raise WXCryptError("padding")
        plain = plain[:-pad]
        (n,) = struct.unpack(">I", plain[16:20])
        if 20 + n > len(plain):
            raise WXCryptError("length")
        if plain[20 + n:] != self.appid:
            raise WXCryptError("appid")
        return plain[20:20 + n]

    def sign(self, timestamp, nonce, encrypt):
        return sha1_sorted(self.token, str(timestamp), str(nonce), encrypt)

    def seal_push(self, msg, timestamp, nonce, compatible=False, to="gh_0123456789ab"):
        """The query and the body of a safe-mode (or compatible-mode) push."""
        if isinstance(msg, str):
            msg = msg.encode()
        enc = self.encrypt(msg)
        query = {"timestamp": str(timestamp), "nonce": str(nonce), "encrypt_type": "aes",
                 "msg_signature": self.sign(timestamp, nonce, enc),
                 "signature": sha1_sorted(self.token, str(timestamp), str(nonce))}
        if compatible:
            body = msg.decode().replace("</xml>", f"<Encrypt><![CDATA[{enc}]]></Encrypt></xml>")
        else:
            body = (f"<xml><ToUserName><![CDATA[{to}]]></ToUserName>"
                    f"<Encrypt><![CDATA[{enc}]]></Encrypt></xml>")
        return query, body.encode()

    def open_reply(self, body):
        """The message inside a sealed reply, after its MsgSignature is checked."""
        root = ET.fromstring(body)
        if root.tag != "xml":
            raise WXCryptError("root")
        enc = root.findtext("Encrypt")
        sig = root.findtext("MsgSignature")
        ts = root.findtext("TimeStamp")
        nonce = root.findtext("Nonce")
        if None in (enc, sig, ts, nonce):
            raise WXCryptError("reply fields")
        if self.sign(ts, nonce, enc) != sig:
            raise WXCryptError("reply signature")
        return self.decrypt(enc)


def fields(xml):
    """A WeChat XML message as a dict of its fields."""
    if isinstance(xml, bytes):
        xml = xml.decode()
    return {e.tag: (e.text or "") for e in ET.fromstring(xml)}
