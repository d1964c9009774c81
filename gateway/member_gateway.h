/*
 * member_gateway: the WeChat protocol pieces of ngx_member, as a plain C
 * library (spec/wechat.md).  No nginx header, no globals, no hidden
 * allocation; inputs are (const uint8_t *p, size_t len), outputs go into
 * caller buffers with a capacity and a written length.  Safe to call from
 * any thread.
 */

#ifndef MEMBER_GATEWAY_H
#define MEMBER_GATEWAY_H

#include <stddef.h>
#include <stdint.h>


#define MGW_VERSION_MAJOR  1
#define MGW_VERSION_MINOR  1


typedef enum {
    MGW_OK = 0,
    MGW_ERR_ARG,            /* NULL pointer or invalid parameter */
    MGW_ERR_SPACE,          /* the caller's buffer is too small */
    MGW_ERR_FORMAT,         /* malformed input (hex, base64, lengths) */
    MGW_ERR_SIGNATURE,      /* signature mismatch */
    MGW_ERR_PADDING,        /* bad padding or inner length after decrypt */
    MGW_ERR_APPID,          /* the AppID inside does not match */
    MGW_ERR_CRYPTO,         /* OpenSSL failed */
    MGW_ERR_RANDOM,         /* RAND_bytes failed */
    MGW_ERR_XML,            /* not well-formed XML */
    MGW_ERR_XML_FORBIDDEN,  /* DOCTYPE, entity declaration, external entity */
    MGW_ERR_LIMIT,          /* a size, depth or count limit was exceeded */
    MGW_ERR_NOT_FOUND,      /* no such field */
    MGW_ERR_SERIAL,         /* WeChat Pay: no key for that serial */
    MGW_ERR_STALE,          /* WeChat Pay: timestamp outside the window */
    MGW_ERR_TAG,            /* AEAD tag mismatch: ciphertext, tag or aad */
    MGW_ERR_KEY             /* a key that is not RSA >= 2048 bits, or
                               not a PEM key or certificate */
} mgw_status_t;


const char *mgw_status_str(mgw_status_t rc);


/* mini-program login: sns/jscode2session (spec section 5) */

#define MGW_OPENID_MAX       128
#define MGW_SESSION_KEY_MAX  64

typedef enum {
    MGW_LOGIN_OK = 0,
    MGW_LOGIN_BAD_CODE,      /* 40029, 40163: the client's code is bad -> 401 */
    MGW_LOGIN_RATE_LIMITED,  /* 45011 -> 429 */
    MGW_LOGIN_BLOCKED,       /* 40226 -> 403 */
    MGW_LOGIN_UNAVAILABLE    /* -1, any other errcode, not JSON,
                                missing fields -> 503 */
} mgw_login_result_t;

typedef struct {
    long    errcode;                              /* 0 when absent */
    size_t  openid_len, unionid_len, session_key_len;
    char    openid[MGW_OPENID_MAX + 1];           /* NUL-terminated too */
    char    unionid[MGW_OPENID_MAX + 1];          /* empty when absent */
    char    session_key[MGW_SESSION_KEY_MAX + 1];
} mgw_login_t;

/*
 * Parses the JSON answer of sns/jscode2session into *out (zeroed first).
 * out->errcode is set whenever the answer is JSON with an integer errcode.
 */
mgw_login_result_t mgw_login_parse(const uint8_t *body, size_t len,
    mgw_login_t *out);
const char *mgw_login_result_str(mgw_login_result_t res);


/* other server APIs (mgw_api.c, spec sections 6, 7, 10) */

#define MGW_SECRET_MAX  1024        /* tokens may grow: keep >= 512 */
#define MGW_PHONE_MAX   24

typedef enum {
    MGW_API_OK = 0,
    MGW_API_BAD_CODE,       /* 40029, 40163: the client's code is bad */
    MGW_API_TOKEN_INVALID,  /* 40001, 40014, 42001: refresh the token once */
    MGW_API_RATE_LIMITED,   /* 45011 */
    MGW_API_MISMATCH,       /* the watermark names another appid */
    MGW_API_UNAVAILABLE     /* -1, any other errcode, not JSON, fields */
} mgw_api_result_t;

const char *mgw_api_result_str(mgw_api_result_t res);

/* sns/oauth2/access_token: the openid of an official-account visitor */
typedef struct {
    long    errcode;
    size_t  openid_len, unionid_len;
    char    openid[MGW_OPENID_MAX + 1];
    char    unionid[MGW_OPENID_MAX + 1];          /* empty when absent */
} mgw_oauth_t;

mgw_api_result_t mgw_oauth_parse(const uint8_t *body, size_t len,
    mgw_oauth_t *out);

/* cgi-bin/token, stable_token ("access_token") and getticket ("ticket") */
typedef struct {
    long    errcode;
    long    expires_in;                           /* 1..86400 seconds */
    size_t  len;
    char    value[MGW_SECRET_MAX + 1];            /* wiped on errors */
} mgw_secret_t;

mgw_api_result_t mgw_token_parse(const uint8_t *body, size_t len,
    mgw_secret_t *out);
mgw_api_result_t mgw_ticket_parse(const uint8_t *body, size_t len,
    mgw_secret_t *out);

/*
 * A verified phone number: 11 digits for +86, "+<country><number>"
 * otherwise; the watermark's appid must equal appid.
 */
typedef struct {
    long       errcode;
    long long  timestamp;                         /* the watermark's */
    size_t     len;
    char       phone[MGW_PHONE_MAX + 1];
} mgw_phone_t;

/* the answer of wxa/business/getuserphonenumber (40013: a bad code) */
mgw_api_result_t mgw_phone_parse(const uint8_t *body, size_t len,
    const uint8_t *appid, size_t appid_len, mgw_phone_t *out);

/*
 * The decrypted open data of getPhoneNumber (mgw_open_data_decrypt):
 * MGW_OK, MGW_ERR_APPID or MGW_ERR_FORMAT.
 */
mgw_status_t mgw_open_data_phone(const uint8_t *json, size_t len,
    const uint8_t *appid, size_t appid_len, mgw_phone_t *out);


/*
 * A string with an explicit length, for functions that take several;
 * data may be NULL when len is 0.
 */

typedef struct {
    const uint8_t  *data;
    size_t          len;
} mgw_str_t;

#define mgw_string(s)  { (const uint8_t *) (s), sizeof(s) - 1 }


/* base64, standard alphabet with padding (mgw_base64.c) */

#define MGW_BASE64_ENCODED_LEN(n)  (((n) + 2) / 3 * 4)
#define MGW_BASE64_DECODED_MAX(n)  (((n) + 3) / 4 * 3)

/*
 * The encoder writes MGW_BASE64_ENCODED_LEN(len) characters, no NUL.  It
 * reads each 3-byte group before writing its 4 characters, so in may also
 * sit at the tail of out: in == out + MGW_BASE64_ENCODED_LEN(len) - len.
 */
mgw_status_t mgw_base64_encode(const uint8_t *in, size_t len, uint8_t *out,
    size_t cap, size_t *out_len);

/*
 * The decoder wants len % 4 == 0, only alphabet characters and at most two
 * trailing '='; no whitespace.  It ignores the unused low bits of the last
 * character, as WeChat's sample EncodingAESKey sets them (spec section 3).
 */
mgw_status_t mgw_base64_decode(const uint8_t *in, size_t len, uint8_t *out,
    size_t cap, size_t *out_len);


/* SHA-1 signatures (mgw_sign.c, spec sections 1, 2, 8, 9, 12) */

#define MGW_SHA1_HEX_LEN    40
#define MGW_SHA1_HEX_SIZE   (MGW_SHA1_HEX_LEN + 1)
#define MGW_SIGN_PARTS_MAX  16

/*
 * sha1hex of the parts sorted bytewise and concatenated: the signature of
 * the server URL (token, timestamp, nonce), of msg_signature (plus Encrypt)
 * and of cardExt.  Empty parts contribute nothing.  hex gets 40 lowercase
 * hex digits and a NUL, so cap must be at least MGW_SHA1_HEX_SIZE.
 */
mgw_status_t mgw_sign_sha1_sorted(const mgw_str_t *parts, size_t n,
    char *hex, size_t cap);

/* sha1hex of the parts concatenated in the given order */
mgw_status_t mgw_sign_sha1_concat(const mgw_str_t *parts, size_t n,
    char *hex, size_t cap);

/*
 * Checks sig against mgw_sign_sha1_sorted(parts): MGW_OK, MGW_ERR_FORMAT
 * unless sig is exactly 40 hex digits (either case), or MGW_ERR_SIGNATURE.
 * The digests are compared in constant time.
 */
mgw_status_t mgw_signature_verify(const mgw_str_t *parts, size_t n,
    const uint8_t *sig, size_t sig_len);

/*
 * wx.config: sha1hex("jsapi_ticket=T&noncestr=N&timestamp=TS&url=U"); the
 * url is cut at its first '#'.
 */
mgw_status_t mgw_sign_jssdk(const mgw_str_t *ticket, const mgw_str_t *noncestr,
    const mgw_str_t *timestamp, const mgw_str_t *url, char *hex, size_t cap);

/* wx.addCard cardExt; code and openid may be empty (spec section 9) */

typedef struct {
    mgw_str_t  api_ticket;      /* the wx_card ticket */
    mgw_str_t  timestamp;
    mgw_str_t  card_id;
    mgw_str_t  code;
    mgw_str_t  openid;
    mgw_str_t  nonce_str;
} mgw_card_ext_t;

mgw_status_t mgw_sign_card_ext(const mgw_card_ext_t *ext, char *hex,
    size_t cap);

/* len random characters of [A-Za-z0-9] from RAND_bytes, no NUL */
mgw_status_t mgw_random_nonce(char *out, size_t len);


/* message crypto, WXBizMsgCrypt (mgw_crypt.c, spec sections 2, 3) */

#define MGW_ENCODING_AES_KEY_LEN  43
#define MGW_AES_KEY_LEN           32
#define MGW_MSG_RANDOM_LEN        16
#define MGW_MSG_PAD_UNIT          32
#define MGW_MSG_MAX               (16 * 1024 * 1024)
#define MGW_APPID_MAX             64

/* the plaintext layout random|len|msg|appid|pad, padded to 32 bytes */
#define MGW_MSG_CIPHER_LEN(msg_len, appid_len)                                \
    ((20 + (msg_len) + (appid_len)) / MGW_MSG_PAD_UNIT * MGW_MSG_PAD_UNIT      \
     + MGW_MSG_PAD_UNIT)

/* the base64 Encrypt text */
#define MGW_MSG_ENCRYPTED_LEN(msg_len, appid_len)                             \
    MGW_BASE64_ENCODED_LEN(MGW_MSG_CIPHER_LEN(msg_len, appid_len))

/* AES-256 key; the IV is its first 16 bytes.  Wipe with mgw_aes_key_wipe. */
typedef struct {
    uint8_t  key[MGW_AES_KEY_LEN];
} mgw_aes_key_t;

/* from the 43-character EncodingAESKey of the console */
mgw_status_t mgw_aes_key_init(mgw_aes_key_t *key, const uint8_t *encoding,
    size_t len);
void mgw_aes_key_wipe(mgw_aes_key_t *key);

/*
 * Encrypts msg for appid and writes the base64 Encrypt text into out
 * (MGW_MSG_ENCRYPTED_LEN(msg_len, appid_len) bytes, no NUL).  random is 16
 * bytes for reproducible output, or NULL for RAND_bytes.
 */
mgw_status_t mgw_msg_encrypt(const mgw_aes_key_t *key, const uint8_t *msg,
    size_t msg_len, const uint8_t *appid, size_t appid_len,
    const uint8_t *random, uint8_t *out, size_t cap, size_t *out_len);

/*
 * Decrypts the base64 Encrypt text and checks that the AppID inside equals
 * appid.  out needs MGW_BASE64_DECODED_MAX(enc_len) bytes of room; on
 * success it starts with the msg_len bytes of the message.  Errors:
 * MGW_ERR_FORMAT (base64, length not a positive multiple of 16),
 * MGW_ERR_PADDING (pad not 1..32, inner length), MGW_ERR_APPID.  On an error
 * out is wiped.  With a rotated EncodingAESKey, retry with the old key.
 */
mgw_status_t mgw_msg_decrypt(const mgw_aes_key_t *key, const uint8_t *enc,
    size_t enc_len, const uint8_t *appid, size_t appid_len, uint8_t *out,
    size_t cap, size_t *msg_len);

/* a safe-mode or compatible-mode push: query values and the Encrypt text */

typedef struct {
    mgw_str_t  timestamp;
    mgw_str_t  nonce;
    mgw_str_t  msg_signature;
    mgw_str_t  encrypt;
} mgw_msg_in_t;

/*
 * Verifies msg_signature = sha1hex(sort(token, timestamp, nonce, encrypt))
 * first, then decrypts as mgw_msg_decrypt.
 */
mgw_status_t mgw_msg_open(const mgw_aes_key_t *key, const mgw_str_t *token,
    const mgw_str_t *appid, const mgw_msg_in_t *in, uint8_t *out,
    size_t cap, size_t *msg_len);


/* mini-program encrypted data (mgw_open_data.c, spec section 10) */

/*
 * AES-128-CBC with key = base64(session_key), iv = base64(iv), PKCS#7 with
 * a 16-byte unit.  out gets the JSON plaintext (no NUL) and needs
 * MGW_BASE64_DECODED_MAX(data->len) bytes of room.  A wrong session_key
 * usually shows as MGW_ERR_PADDING.  On an error out is wiped.
 */
mgw_status_t mgw_open_data_decrypt(const mgw_str_t *session_key,
    const mgw_str_t *iv, const mgw_str_t *data, uint8_t *out, size_t cap,
    size_t *out_len);

/*
 * Checks that the decrypted JSON is an object whose watermark.appid equals
 * appid: MGW_OK, MGW_ERR_APPID, or MGW_ERR_FORMAT when it is not JSON or
 * has no watermark.  timestamp, if not NULL, gets watermark.timestamp (0
 * when absent).
 */
mgw_status_t mgw_open_data_check(const uint8_t *json, size_t len,
    const uint8_t *appid, size_t appid_len, long long *timestamp);


/* bounded reader of WeChat's flat XML (mgw_xml.c, spec sections 4, 12) */

#define MGW_XML_FIELDS_MAX  64
#define MGW_XML_NAME_MAX    64
#define MGW_XML_SIZE_MAX    (64 * 1024)
#define MGW_XML_DEPTH_MAX   3

/* storage that is always enough for a document of len bytes */
#define MGW_XML_STORE_SIZE(len)                                               \
    ((len) + MGW_XML_FIELDS_MAX * (MGW_XML_NAME_MAX + 3))

typedef struct {
    const char  *name;          /* NUL-terminated, in the store */
    size_t       name_len;
    const char  *value;         /* NUL-terminated, in the store */
    size_t       value_len;
} mgw_xml_field_t;

/*
 * The root must be <xml>; each child element is a field named by its tag,
 * each grandchild a field named "Parent/Child" (depth 3 at most).  A value
 * is its character data with CDATA kept verbatim and the whitespace around
 * it trimmed.  DOCTYPE, entity declarations and external entities are
 * refused, as are duplicate names.  Names and values live in the caller's
 * store; the parse allocates nothing that outlives the call.
 */
typedef struct {
    /* limits, set to the defaults by mgw_xml_init() */
    size_t            max_size;     /* whole document, <= MGW_XML_SIZE_MAX */
    size_t            max_fields;   /* <= MGW_XML_FIELDS_MAX */
    size_t            max_value;    /* bytes of one value */
    unsigned          max_depth;    /* 2: flat; 3: one nested level */

    /* results */
    size_t            nfields;
    mgw_xml_field_t   fields[MGW_XML_FIELDS_MAX];
    char              errstr[128];

    /* set by mgw_xml_init() */
    uint8_t          *store;
    size_t            store_cap;
    size_t            store_used;
} mgw_xml_t;

void mgw_xml_init(mgw_xml_t *x, uint8_t *store, size_t store_cap);

/*
 * MGW_OK, MGW_ERR_XML (not well-formed, truncated, not UTF-8 whatever the
 * declaration says, root not <xml>, text outside a field, duplicate field),
 * MGW_ERR_XML_FORBIDDEN, MGW_ERR_LIMIT or MGW_ERR_SPACE (store too small).
 * x->errstr says more; on an error x->nfields is 0.
 */
mgw_status_t mgw_xml_parse(mgw_xml_t *x, const uint8_t *p, size_t len);

/* MGW_OK with the value, or MGW_ERR_NOT_FOUND */
mgw_status_t mgw_xml_get(const mgw_xml_t *x, const char *name,
    size_t name_len, const char **value, size_t *value_len);


/* reply writers (mgw_reply.c, spec sections 2, 4.1) */

/*
 * <xml><ToUserName>to</ToUserName><FromUserName>from</FromUserName>
 * <CreateTime>create_time</CreateTime><MsgType>text</MsgType>
 * <Content>content</Content></xml>, strings in CDATA with "]]>" split
 * across two sections.  Strings must be valid UTF-8 of XML characters;
 * create_time digits only.  No NUL is written.
 */
mgw_status_t mgw_reply_text(const mgw_str_t *to, const mgw_str_t *from,
    const mgw_str_t *create_time, const mgw_str_t *content, uint8_t *out,
    size_t cap, size_t *out_len);

/*
 * The safe-mode envelope: encrypts reply for appid (random as in
 * mgw_msg_encrypt), signs it with sort(token, timestamp, nonce, Encrypt)
 * and writes <xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>.
 * timestamp must be digits, nonce [A-Za-z0-9]; both at most 32 bytes.
 * MGW_REPLY_SEAL_LEN is enough room.
 */
#define MGW_REPLY_SEAL_LEN(reply_len, appid_len)                              \
    (MGW_MSG_ENCRYPTED_LEN(reply_len, appid_len) + 256)

mgw_status_t mgw_reply_seal(const mgw_aes_key_t *key, const mgw_str_t *token,
    const mgw_str_t *appid, const mgw_str_t *timestamp,
    const mgw_str_t *nonce, const uint8_t *reply, size_t reply_len,
    const uint8_t *random, uint8_t *out, size_t cap, size_t *out_len);


/*
 * WeChat Pay API v3 (mgw_wxpay_key.c, mgw_wxpay.c, mgw_wxpay_gcm.c;
 * docs/wxpay.md)
 */

#define MGW_WXPAY_RSA_BITS_MIN   2048
#define MGW_WXPAY_SIG_MAX        512     /* bytes: RSA up to 4096 bits */
#define MGW_WXPAY_SIG_B64_MAX    MGW_BASE64_ENCODED_LEN(MGW_WXPAY_SIG_MAX)
#define MGW_WXPAY_NONCE_LEN      32      /* the nonces this library makes */
#define MGW_WXPAY_NONCE_MAX      64
#define MGW_WXPAY_SERIAL_MAX     64
#define MGW_WXPAY_MCHID_MAX      32
#define MGW_WXPAY_WINDOW         300     /* seconds either side of now */
#define MGW_WXPAY_APIV3_KEY_LEN  32
#define MGW_WXPAY_GCM_NONCE_LEN  12
#define MGW_WXPAY_GCM_TAG_LEN    16
#define MGW_WXPAY_BODY_MAX       (4 * 1024 * 1024)
#define MGW_WXPAY_PEM_MAX        (64 * 1024)

/* Authorization: room for any header value mgw_wxpay_authorize() writes */
#define MGW_WXPAY_AUTH_MAX                                                    \
    (128 + MGW_WXPAY_MCHID_MAX + MGW_WXPAY_NONCE_MAX + MGW_WXPAY_SIG_B64_MAX  \
     + 20 + MGW_WXPAY_SERIAL_MAX)

/* a resource of ciphertext_len base64 characters decrypts into at most */
#define MGW_WXPAY_PLAIN_MAX(ciphertext_len)                                   \
    MGW_BASE64_DECODED_MAX(ciphertext_len)

/*
 * An RSA key: the merchant's private key, or a platform public key (from a
 * "PUBLIC KEY" PEM in public-key mode, or from the platform certificate).
 * RSA of at least 2048 bits only; an encrypted PEM is refused, never
 * prompted for.  A loaded key is read-only: one key may serve any number
 * of threads at once.
 */
typedef struct mgw_wxpay_key_s  mgw_wxpay_key_t;

mgw_status_t mgw_wxpay_key_private(const uint8_t *pem, size_t len,
    mgw_wxpay_key_t **key);
mgw_status_t mgw_wxpay_key_private_file(const char *path,
    mgw_wxpay_key_t **key);

/* the first "PUBLIC KEY" or, failing that, "CERTIFICATE" in the PEM */
mgw_status_t mgw_wxpay_key_public(const uint8_t *pem, size_t len,
    mgw_wxpay_key_t **key);
mgw_status_t mgw_wxpay_key_public_file(const char *path,
    mgw_wxpay_key_t **key);

/*
 * A key read from a certificate: its serial number as WeChat Pay writes it
 * (uppercase hex, no leading zero byte).  MGW_ERR_NOT_FOUND for a key
 * read from a PEM key.  serial gets a NUL too.
 */
mgw_status_t mgw_wxpay_key_serial(const mgw_wxpay_key_t *key, char *serial,
    size_t cap, size_t *len);

void mgw_wxpay_key_free(mgw_wxpay_key_t *key);

/*
 * RSA-SHA256 (PKCS#1 v1.5) of msg as it is, base64 into out (no NUL):
 * MGW_WXPAY_SIG_B64_MAX is always enough.  The functions below build
 * WeChat Pay's messages themselves; these two are for other messages.
 */
mgw_status_t mgw_wxpay_sign(const mgw_wxpay_key_t *key, const uint8_t *msg,
    size_t len, uint8_t *out, size_t cap, size_t *out_len);

/* MGW_OK, MGW_ERR_FORMAT (sig not base64) or MGW_ERR_SIGNATURE */
mgw_status_t mgw_wxpay_verify_signature(const mgw_wxpay_key_t *key,
    const uint8_t *msg, size_t len, const uint8_t *sig, size_t sig_len);

/* the merchant: mchid (digits), the serial_no of its API certificate */
typedef struct {
    mgw_str_t               mchid;
    mgw_str_t               serial;
    const mgw_wxpay_key_t  *key;
} mgw_wxpay_merchant_t;

/* a request to api.mch.weixin.qq.com */
typedef struct {
    mgw_str_t   method;     /* "GET", "POST": uppercase letters */
    mgw_str_t   url;        /* path and query, from '/', no fragment */
    mgw_str_t   body;       /* empty for a GET */
    long long   timestamp;  /* seconds since the epoch */
    mgw_str_t   nonce;      /* [A-Za-z0-9] or empty: made by RAND_bytes */
} mgw_wxpay_request_t;

/*
 * The Authorization header's value: WECHATPAY2-SHA256-RSA2048 mchid="..",
 * nonce_str="..",signature="..",timestamp="..",serial_no=".." over
 * METHOD\nURL\ntimestamp\nnonce\nbody\n.  No NUL is written; room for
 * MGW_WXPAY_AUTH_MAX is always enough.  nonce, if not NULL, gets the
 * nonce used (MGW_WXPAY_NONCE_MAX + 1 bytes, NUL-terminated).
 */
mgw_status_t mgw_wxpay_authorize(const mgw_wxpay_merchant_t *m,
    const mgw_wxpay_request_t *req, char *nonce, uint8_t *out, size_t cap,
    size_t *out_len);

/* a platform key and the Wechatpay-Serial it answers to */
typedef struct {
    mgw_str_t               serial;  /* PUB_KEY_ID_... or certificate's */
    const mgw_wxpay_key_t  *key;
} mgw_wxpay_platform_t;

/* an answer or a notification: its Wechatpay-* headers and its body */
typedef struct {
    mgw_str_t  serial;      /* Wechatpay-Serial */
    mgw_str_t  signature;   /* Wechatpay-Signature, base64 */
    mgw_str_t  timestamp;   /* Wechatpay-Timestamp, digits */
    mgw_str_t  nonce;       /* Wechatpay-Nonce */
    mgw_str_t  body;
} mgw_wxpay_signed_t;

/*
 * Checks, in this order: MGW_ERR_FORMAT (a field empty, too long, a
 * timestamp not 1..12 digits, a nonce with a control character, a
 * signature not base64 of 1..MGW_WXPAY_SIG_MAX bytes, such as WeChat
 * Pay's "WECHATPAY/SIGNTEST/" probes), MGW_ERR_SERIAL (no key of keys has
 * that serial), MGW_ERR_STALE (|now - timestamp| > window; window 0 means
 * MGW_WXPAY_WINDOW), MGW_ERR_SIGNATURE (RSA-SHA256 over
 * timestamp\nnonce\nbody\n with the serial's key).
 */
mgw_status_t mgw_wxpay_verify(const mgw_wxpay_platform_t *keys, size_t n,
    const mgw_wxpay_signed_t *in, long long now, long window);

/* a notification's resource (AEAD_AES_256_GCM) */
typedef struct {
    mgw_str_t  associated_data;     /* may be empty */
    mgw_str_t  nonce;               /* 12 bytes */
    mgw_str_t  ciphertext;          /* base64 of ciphertext | 16-byte tag */
} mgw_wxpay_resource_t;

/*
 * Decrypts with the 32-byte APIv3 key.  out needs
 * MGW_WXPAY_PLAIN_MAX(ciphertext.len) bytes of room (the decoded bytes
 * pass through it); on success it holds the plaintext (no NUL).
 * MGW_ERR_ARG (key not 32 bytes), MGW_ERR_FORMAT (nonce not 12 bytes, not
 * base64, shorter than the tag), MGW_ERR_TAG (anything altered, or the
 * wrong key).  On an error out is wiped.
 */
mgw_status_t mgw_wxpay_decrypt(const uint8_t *apiv3_key, size_t key_len,
    const mgw_wxpay_resource_t *res, uint8_t *out, size_t cap,
    size_t *out_len);

/*
 * The reverse, for tests and the fake: base64(ciphertext | tag) of plain
 * into out (MGW_BASE64_ENCODED_LEN(len + 16) bytes, no NUL).
 */
mgw_status_t mgw_wxpay_encrypt(const uint8_t *apiv3_key, size_t key_len,
    const mgw_str_t *associated_data, const mgw_str_t *nonce,
    const uint8_t *plain, size_t len, uint8_t *out, size_t cap,
    size_t *out_len);

/* "prepay_id=<id>" for requestPayment's package; id [A-Za-z0-9_-] */
mgw_status_t mgw_wxpay_package(const mgw_str_t *prepay_id, uint8_t *out,
    size_t cap, size_t *out_len);

/*
 * paySign of wx.requestPayment / WeixinJSBridge (signType RSA):
 * RSA-SHA256 over appId\ntimeStamp\nnonceStr\npackage\n, base64, no NUL.
 */
mgw_status_t mgw_wxpay_pay_sign(const mgw_wxpay_key_t *key,
    const mgw_str_t *appid, const mgw_str_t *timestamp,
    const mgw_str_t *nonce, const mgw_str_t *package, uint8_t *out,
    size_t cap, size_t *out_len);


#endif /* MEMBER_GATEWAY_H */
