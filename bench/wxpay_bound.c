/*
 * wxpay_bound: the in-process bound for WeChat Pay notifications (issue
 * 17's benchmark): how many notifications one core verifies and decrypts
 * per second, single-threaded, with no HTTP and no Redis.  Each
 * notification is a ~1 KB JSON body whose resource is a ~1 KB plaintext
 * (a TRANSACTION.SUCCESS's size), signed by an RSA-2048 platform key made
 * at start.  Two rows, in the same run:
 *
 *   library  mgw_wxpay_verify() (serial lookup, window, base64, RSA-SHA256
 *            verify) + mgw_wxpay_decrypt() (base64, AES-256-GCM)
 *   bare     the same OpenSSL calls by hand: EVP_DecodeBlock,
 *            EVP_DigestVerify, EVP_aes_256_gcm, nothing else
 *
 *   wxpay_bound [-s SECONDS]      (default 2 per row, in four turns)
 *
 * Output, one line a row: name= verifies= seconds= per_s= us_per=; then
 * ratio= library/bare.  Built by make bench-wxpay against
 * build/libmember_gateway.a; never run by make test.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "member_gateway.h"


#define PLAIN_LEN  1024
#define NOW        1765000000LL


typedef struct {
    char                  ts[16];
    char                  nonce[33];
    uint8_t               plain[PLAIN_LEN];
    uint8_t               ct[MGW_BASE64_ENCODED_LEN(PLAIN_LEN + 16) + 1];
    size_t                ct_len;
    char                  body[4096];
    size_t                body_len;
    uint8_t               sig[MGW_WXPAY_SIG_B64_MAX + 1];
    size_t                sig_len;
    EVP_PKEY             *pkey;         /* the public half, for bare */
    mgw_wxpay_key_t      *pub;
} notify_t;


static const uint8_t  apiv3_key[] = "ngxMemberApiV3Key0123456789abcde";
static const uint8_t  gcm_nonce[] = "fdasflkja484";
static const char     serial[] = "PUB_KEY_ID_0119000000012026120700000001";


static double
now_s(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}


static void
die(const char *what)
{
    fprintf(stderr, "wxpay_bound: %s\n", what);
    exit(1);
}


static void
make_notify(notify_t *n)
{
    BIO              *bio;
    char             *pem, msg[4200];
    long              pl;
    size_t            i, ml;
    EVP_PKEY         *pkey;
    mgw_str_t         aad, nc;
    mgw_wxpay_key_t  *priv;

    pkey = EVP_RSA_gen(2048);
    bio = BIO_new(BIO_s_mem());

    if (pkey == NULL || bio == NULL
        || PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL)
           != 1)
    {
        die("no key");
    }

    pl = BIO_get_mem_data(bio, &pem);
    if (mgw_wxpay_key_private((uint8_t *) pem, (size_t) pl, &priv)
        != MGW_OK)
    {
        die("private key");
    }

    (void) BIO_reset(bio);

    if (PEM_write_bio_PUBKEY(bio, pkey) != 1) {
        die("no public key");
    }

    pl = BIO_get_mem_data(bio, &pem);
    if (mgw_wxpay_key_public((uint8_t *) pem, (size_t) pl, &n->pub)
        != MGW_OK)
    {
        die("public key");
    }

    BIO_free(bio);
    n->pkey = pkey;

    for (i = 0; i < PLAIN_LEN; i++) {
        n->plain[i] = (uint8_t) ('a' + i % 26);
    }

    aad.data = (const uint8_t *) "transaction";
    aad.len = 11;
    nc.data = gcm_nonce;
    nc.len = 12;

    if (mgw_wxpay_encrypt(apiv3_key, 32, &aad, &nc, n->plain, PLAIN_LEN,
                          n->ct, sizeof(n->ct), &n->ct_len)
        != MGW_OK)
    {
        die("encrypt");
    }

    n->ct[n->ct_len] = '\0';

    snprintf(n->ts, sizeof(n->ts), "%lld", NOW);
    snprintf(n->nonce, sizeof(n->nonce), "%s",
             "Mq3fKzR8wT1nL6pY9vB2xC5hJ0dG7sEa");

    n->body_len = (size_t) snprintf(n->body, sizeof(n->body),
        "{\"id\":\"EV-2018022511223320873\","
        "\"create_time\":\"2026-12-07T20:00:01+08:00\","
        "\"resource_type\":\"encrypt-resource\","
        "\"event_type\":\"TRANSACTION.SUCCESS\",\"summary\":\"ok\","
        "\"resource\":{\"original_type\":\"transaction\","
        "\"algorithm\":\"AEAD_AES_256_GCM\",\"ciphertext\":\"%s\","
        "\"associated_data\":\"transaction\",\"nonce\":\"%s\"}}",
        (char *) n->ct, (char *) gcm_nonce);

    ml = (size_t) snprintf(msg, sizeof(msg), "%s\n%s\n%.*s\n", n->ts,
                           n->nonce, (int) n->body_len, n->body);

    if (mgw_wxpay_sign(priv, (uint8_t *) msg, ml, n->sig, sizeof(n->sig),
                       &n->sig_len)
        != MGW_OK)
    {
        die("sign");
    }

    mgw_wxpay_key_free(priv);
}


static int
one_library(const notify_t *n, uint8_t *out, size_t cap)
{
    size_t                len;
    mgw_wxpay_signed_t    in;
    mgw_wxpay_resource_t  res;
    mgw_wxpay_platform_t  keys[1];

    keys[0].serial.data = (const uint8_t *) serial;
    keys[0].serial.len = sizeof(serial) - 1;
    keys[0].key = n->pub;

    in.serial = keys[0].serial;
    in.signature.data = n->sig;
    in.signature.len = n->sig_len;
    in.timestamp.data = (const uint8_t *) n->ts;
    in.timestamp.len = strlen(n->ts);
    in.nonce.data = (const uint8_t *) n->nonce;
    in.nonce.len = strlen(n->nonce);
    in.body.data = (const uint8_t *) n->body;
    in.body.len = n->body_len;

    if (mgw_wxpay_verify(keys, 1, &in, NOW, 0) != MGW_OK) {
        return 0;
    }

    res.associated_data.data = (const uint8_t *) "transaction";
    res.associated_data.len = 11;
    res.nonce.data = gcm_nonce;
    res.nonce.len = 12;
    res.ciphertext.data = n->ct;
    res.ciphertext.len = n->ct_len;

    return mgw_wxpay_decrypt(apiv3_key, 32, &res, out, cap, &len) == MGW_OK
           && len == PLAIN_LEN;
}


static int
one_bare(const notify_t *n, uint8_t *out, size_t cap)
{
    int              ok, m, f, raw;
    uint8_t          sig[512];
    EVP_MD_CTX      *md;
    EVP_CIPHER_CTX  *c;

    (void) cap;

    /* the signature: base64 (its padding counted back), SHA-256, RSA */

    raw = EVP_DecodeBlock(sig, n->sig, (int) n->sig_len);
    raw -= (n->sig[n->sig_len - 1] == '=') + (n->sig[n->sig_len - 2] == '=');

    if (raw != 256) {
        return 0;
    }

    md = EVP_MD_CTX_new();
    ok = md != NULL
         && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, n->pkey) == 1
         && EVP_DigestVerifyUpdate(md, n->ts, strlen(n->ts)) == 1
         && EVP_DigestVerifyUpdate(md, "\n", 1) == 1
         && EVP_DigestVerifyUpdate(md, n->nonce, strlen(n->nonce)) == 1
         && EVP_DigestVerifyUpdate(md, "\n", 1) == 1
         && EVP_DigestVerifyUpdate(md, n->body, n->body_len) == 1
         && EVP_DigestVerifyUpdate(md, "\n", 1) == 1
         && EVP_DigestVerifyFinal(md, sig, 256) == 1;
    EVP_MD_CTX_free(md);

    if (!ok) {
        return 0;
    }

    /* the resource: base64 (its padding counted back), AES-256-GCM */

    raw = EVP_DecodeBlock(out, n->ct, (int) n->ct_len);
    raw -= (n->ct[n->ct_len - 1] == '=') + (n->ct[n->ct_len - 2] == '=');

    c = EVP_CIPHER_CTX_new();
    ok = c != NULL && raw == PLAIN_LEN + 16
         && EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, apiv3_key,
                               gcm_nonce) == 1
         && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16,
                                out + PLAIN_LEN) == 1
         && EVP_DecryptUpdate(c, NULL, &m, (const uint8_t *) "transaction",
                              11) == 1
         && EVP_DecryptUpdate(c, out, &m, out, PLAIN_LEN) == 1
         && EVP_DecryptFinal_ex(c, out + m, &f) == 1;
    EVP_CIPHER_CTX_free(c);

    return ok;
}


typedef struct {
    const char  *name;
    int        (*one)(const notify_t *n, uint8_t *out, size_t cap);
    long         count;
    double       t;
} row_t;


static void
run(row_t *row, const notify_t *n, double seconds)
{
    long     count;
    double   t0, t;
    uint8_t  out[MGW_WXPAY_PLAIN_MAX(sizeof(n->ct))];

    /* warm up, and check the row opens what it must */

    if (!row->one(n, out, sizeof(out))
        || memcmp(out, n->plain, PLAIN_LEN) != 0)
    {
        die(row->name);
    }

    count = 0;
    t0 = now_s();

    do {
        for (int i = 0; i < 64; i++) {
            if (!row->one(n, out, sizeof(out))) {
                die(row->name);
            }
        }

        count += 64;
        t = now_s() - t0;

    } while (t < seconds);

    row->count += count;
    row->t += t;
}


int
main(int argc, char **argv)
{
    int       opt, r, i;
    row_t     rows[2] = { { "bare", one_bare, 0, 0 },
                          { "library", one_library, 0, 0 } };
    double    seconds;
    notify_t  n;

    seconds = 2;

    while ((opt = getopt(argc, argv, "s:")) != -1) {
        if (opt == 's') {
            seconds = atof(optarg);

        } else {
            fprintf(stderr, "usage: wxpay_bound [-s SECONDS]\n");
            return 2;
        }
    }

    memset(&n, 0, sizeof(n));
    make_notify(&n);

    /* the rows take turns, a quarter at a time: a load that comes and
       goes on a shared machine weighs on both alike */

    for (r = 0; r < 4; r++) {
        for (i = 0; i < 2; i++) {
            run(&rows[i], &n, seconds / 4);
        }
    }

    for (i = 0; i < 2; i++) {
        printf("name=%s verifies=%ld seconds=%.3f per_s=%.0f us_per=%.2f "
               "body_bytes=%zu plain_bytes=%d\n",
               rows[i].name, rows[i].count, rows[i].t,
               rows[i].count / rows[i].t, rows[i].t * 1e6 / rows[i].count,
               n.body_len, PLAIN_LEN);
    }

    printf("ratio=%.3f (library / bare)\n",
           (rows[1].count / rows[1].t) / (rows[0].count / rows[0].t));

    mgw_wxpay_key_free(n.pub);
    EVP_PKEY_free(n.pkey);

    return 0;
}
