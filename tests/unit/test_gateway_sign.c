/*
 * mgw_sign.c: spec section 13 vectors A, B, D, F and the signature checks
 * of section 12.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "member_gateway.h"


#define U(s)     ((const uint8_t *) (s))
#define STR(s)   { U(s), sizeof(s) - 1 }


static const char  b_encrypt_in[] =
    "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4R"
    "vQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFy"
    "jPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajA"
    "sjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F"
    "9mFUPAJGj04=";

static const char  b_encrypt_out[] =
    "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyR"
    "btzve1L32tmxSQ==";

static const char  c_encrypt[] =
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87w"
    "zQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328"
    "HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3y"
    "t+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0Vxp"
    "Ae+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uB"
    "l9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=";

static const char  f1_encrypt[] =
    "1y646VXU/YQKd3dAY8Q1m9wOtJlAQldEwMqv0lfS87QoFepWOgB6SQFkq9aIzv8Q3ZifjZxx"
    "+q0vq6JWUznLIOo1DuPNl7JT/eW8FFKtTMtGqhDBjkueY58ZsPnat/r2HDn05Kb2QzWlozHI"
    "IcmmRB7YRKm38vpLt9sF4CTM/k+NE1rxpPHNeLQzmYfFaS9SqffBsNd/h5Jfy36tA769vAKk"
    "1G6w1AKZdysCvL6itMviNjshrw1H/LWSL9vJv+6mhAgBCu5Xz6mEeaE1YbvD9TEc3QYJQGvv"
    "Ub063ER1U91HOiW/LVrghw+P68iz5nZoH9iTW/FHfNfAOTT2g6+DUXncuBXKBktYcm/rDqLP"
    "6hJROubg9n9Mz2NJlBej6yf0+QJNvU873kSRjA9DULi27at8G1uxDcNfhWn2TZtnBFfLErg1"
    "NlapfJMrl1B7h1c7hri5w+tMLPR7iFbzjRXojbU8t0Vu7S8mpM01ZbOXJqRR045xLFRQQavI"
    "JE3RBgQ3Q4XRYumse1CYtArrKh95O3Zcerei67uSe+WxYOOtPj4rlFZvpmpMnpHqUX5klKAk"
    "Zd11NucwFRNU3Q1sRp+0oSRe4I7TkeYkdpZBXVdOTybrUN7feq3k5ceq6l3waBdMuGaVrKUo"
    "I2NjN1JSZutk4CfEaDmYNo7cYqKO3q7uF60=";

static const char  f2_encrypt[] =
    "0PpMB23hLuqPBfQI38hPj5YGvvO/Weh7gkEiLPSkO04CKLxqIsgm+NRKewHMkpqOVnF0HoQo"
    "5vB+gEWuMo8Di64ADBbaNqiarLAdhbCN73S/5UOJMPN1nKm7by+QNky4uRx/ZxtiMb2SOSDc"
    "ZHq0r1d09KryXO3k/f2Sy6Of5hYxDQ8BawhcGT6kY8yX+xXo9qeqe2t8TUaYwOZspFZlLxYw"
    "hek/TvAzVr2bOjYJoCLGJZrf3hSJUcEYh6IgGAbeOpOPMK9Yn7pKZN7GNhQoOvjYTkxojaMI"
    "bHZvUKTLLcOrVetV5wFmMR13IyMdlLZl3EmpbGAHpm5uBCRQS7da8/JckiFrvspBLJg+NO86"
    "D+D6eNYfxoj2Y5BOyF+/l2/TDjyGSRNAl44uwNH11oErJu5mO258M9h4epVsm+n+vhw=";


typedef struct {
    const char  *parts[4];
    size_t       n;
    const char  *sig;
} sign_vector_t;


static const sign_vector_t  sorted_vectors[] = {

    /* A: GET verification and POST in plain mode, Token AAAAA */
    { { "AAAAA", "1714036504", "1514711492" }, 3,
      "f464b24fc39322e44b38aa78f5edd27bd1441696" },
    { { "AAAAA", "1714037059", "486452656" }, 3,
      "899cf89e464efb63f54ddac96b0a0a235f53aa78" },

    /* B: the 3-value signature and both msg_signatures */
    { { "AAAAA", "1714112445", "415670741" }, 3,
      "6c5c811b55cc85e0e1b54100749188c20beb3f5d" },
    { { "AAAAA", "1714112445", "415670741", b_encrypt_in }, 4,
      "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3" },
    { { "AAAAA", "1713424427", "415670741", b_encrypt_out }, 4,
      "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1" },

    /* C: the 2014 sample */
    { { "spamtest", "1409735669", "1320562132", c_encrypt }, 4,
      "5d197aaffba7e9b25a30732f161a50dee96bd5fa" },

    /* F1, F2 */
    { { "ngxMemberSpec", "1735700000", "1234567890" }, 3,
      "b0b9c0a6d9753cf59e33506b665a17d9a0f8e648" },
    { { "ngxMemberSpec", "1735700000", "1234567890", f1_encrypt }, 4,
      "4795f9ce4e5b7cc2ba2e92c9c40af2a03a9961d1" },
    { { "ngxMemberSpec", "1735700001", "987654321", f2_encrypt }, 4,
      "74963ba72d5f2204da65c47cf77c8920ac935229" },
};


static void
make_parts(const sign_vector_t *v, mgw_str_t *parts)
{
    size_t  i;

    for (i = 0; i < v->n; i++) {
        parts[i].data = U(v->parts[i]);
        parts[i].len = strlen(v->parts[i]);
    }
}


static void
test_sign_sorted_vectors(void **state)
{
    char        hex[MGW_SHA1_HEX_SIZE];
    size_t      i, j;
    mgw_str_t   parts[4], rev[4];

    (void) state;

    for (i = 0; i < sizeof(sorted_vectors) / sizeof(sorted_vectors[0]); i++) {
        make_parts(&sorted_vectors[i], parts);

        memset(hex, 'x', sizeof(hex));
        assert_int_equal(mgw_sign_sha1_sorted(parts, sorted_vectors[i].n,
                                              hex, sizeof(hex)),
                         MGW_OK);
        assert_string_equal(hex, sorted_vectors[i].sig);

        /* the order of the parts does not matter */

        for (j = 0; j < sorted_vectors[i].n; j++) {
            rev[j] = parts[sorted_vectors[i].n - 1 - j];
        }

        assert_int_equal(mgw_sign_sha1_sorted(rev, sorted_vectors[i].n,
                                              hex, sizeof(hex)),
                         MGW_OK);
        assert_string_equal(hex, sorted_vectors[i].sig);

        assert_int_equal(mgw_signature_verify(parts, sorted_vectors[i].n,
                             U(sorted_vectors[i].sig), MGW_SHA1_HEX_LEN),
                         MGW_OK);
    }
}


static void
test_sign_sort_order(void **state)
{
    char        a[MGW_SHA1_HEX_SIZE], b[MGW_SHA1_HEX_SIZE];
    mgw_str_t   parts[4];

    static const mgw_str_t  whole = STR("aaaabb\xff");

    (void) state;

    /* bytewise, a prefix first, bytes above 0x7f unsigned, empty dropped */

    parts[0].data = U("b");
    parts[0].len = 1;
    parts[1].data = U("\xff");
    parts[1].len = 1;
    parts[2].data = U("aa");
    parts[2].len = 2;
    parts[3].data = U("aab");
    parts[3].len = 3;

    assert_int_equal(mgw_sign_sha1_concat(&whole, 1, a, sizeof(a)), MGW_OK);
    assert_int_equal(mgw_sign_sha1_sorted(parts, 4, b, sizeof(b)), MGW_OK);
    assert_string_equal(a, b);

    /* "aab" and "aa" sort as "aa" < "aab" */

    parts[0].data = NULL;
    parts[0].len = 0;
    parts[1].data = U("");
    parts[1].len = 0;

    assert_int_equal(mgw_sign_sha1_sorted(parts, 4, b, sizeof(b)), MGW_OK);

    parts[0].data = U("aaaab");
    parts[0].len = 5;

    assert_int_equal(mgw_sign_sha1_concat(parts, 1, a, sizeof(a)), MGW_OK);
    assert_string_equal(a, b);

    /* no parts at all: sha1 of the empty string */

    assert_int_equal(mgw_sign_sha1_sorted(NULL, 0, a, sizeof(a)), MGW_OK);
    assert_string_equal(a, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}


static void
test_sign_args(void **state)
{
    char        hex[MGW_SHA1_HEX_SIZE];
    mgw_str_t   parts[MGW_SIGN_PARTS_MAX + 1];

    (void) state;

    memset(parts, 0, sizeof(parts));

    assert_int_equal(mgw_sign_sha1_sorted(parts, 1, hex, MGW_SHA1_HEX_LEN),
                     MGW_ERR_SPACE);
    assert_int_equal(mgw_sign_sha1_sorted(parts, 1, NULL, 64),
                     MGW_ERR_SPACE);
    assert_int_equal(mgw_sign_sha1_concat(parts, 1, hex, MGW_SHA1_HEX_LEN),
                     MGW_ERR_SPACE);
    assert_int_equal(mgw_sign_sha1_sorted(parts, MGW_SIGN_PARTS_MAX, hex,
                                          sizeof(hex)),
                     MGW_OK);
    assert_int_equal(mgw_sign_sha1_sorted(parts, MGW_SIGN_PARTS_MAX + 1, hex,
                                          sizeof(hex)),
                     MGW_ERR_ARG);
    assert_int_equal(mgw_sign_sha1_sorted(NULL, 1, hex, sizeof(hex)),
                     MGW_ERR_ARG);

    parts[1].len = 3;   /* data NULL */

    assert_int_equal(mgw_sign_sha1_sorted(parts, 2, hex, sizeof(hex)),
                     MGW_ERR_ARG);
    assert_int_equal(mgw_sign_sha1_concat(parts, 2, hex, sizeof(hex)),
                     MGW_ERR_ARG);
}


static void
test_sign_verify_bad(void **state)
{
    char        sig[64];
    size_t      i;
    mgw_str_t   parts[4];

    (void) state;

    make_parts(&sorted_vectors[0], parts);
    strcpy(sig, sorted_vectors[0].sig);

    /* either case of hex */

    for (i = 0; i < MGW_SHA1_HEX_LEN; i++) {
        if (sig[i] >= 'a' && sig[i] <= 'f') {
            sig[i] = (char) (sig[i] - 'a' + 'A');
        }
    }

    assert_int_equal(mgw_signature_verify(parts, 3, U(sig), 40), MGW_OK);

    strcpy(sig, sorted_vectors[0].sig);

    /* one short, one too long, empty, NULL */

    assert_int_equal(mgw_signature_verify(parts, 3, U(sig), 39),
                     MGW_ERR_FORMAT);
    strcat(sig, "0");
    assert_int_equal(mgw_signature_verify(parts, 3, U(sig), 41),
                     MGW_ERR_FORMAT);
    assert_int_equal(mgw_signature_verify(parts, 3, U(""), 0),
                     MGW_ERR_FORMAT);
    assert_int_equal(mgw_signature_verify(parts, 3, NULL, 40),
                     MGW_ERR_FORMAT);

    /* not hex */

    strcpy(sig, sorted_vectors[0].sig);
    sig[17] = 'g';
    assert_int_equal(mgw_signature_verify(parts, 3, U(sig), 40),
                     MGW_ERR_FORMAT);
    sig[17] = ' ';
    assert_int_equal(mgw_signature_verify(parts, 3, U(sig), 40),
                     MGW_ERR_FORMAT);

    /* every single-digit change is a mismatch */

    for (i = 0; i < MGW_SHA1_HEX_LEN; i++) {
        strcpy(sig, sorted_vectors[0].sig);
        sig[i] = (sig[i] == '0') ? '1' : '0';
        assert_int_equal(mgw_signature_verify(parts, 3, U(sig), 40),
                         MGW_ERR_SIGNATURE);
    }

    /* another token, another nonce */

    strcpy(sig, sorted_vectors[0].sig);
    parts[0].data = U("AAAAB");
    assert_int_equal(mgw_signature_verify(parts, 3, U(sig), 40),
                     MGW_ERR_SIGNATURE);
    parts[0].data = U("AAAAA");
    parts[2].len--;
    assert_int_equal(mgw_signature_verify(parts, 3, U(sig), 40),
                     MGW_ERR_SIGNATURE);
    parts[2].len++;
    assert_int_equal(mgw_signature_verify(parts, 2, U(sig), 40),
                     MGW_ERR_SIGNATURE);
}


static void
test_sign_jssdk(void **state)
{
    char        hex[MGW_SHA1_HEX_SIZE];
    mgw_str_t   ticket = STR("sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy"
                             "_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg");
    mgw_str_t   nonce = STR("Wm3WZYTPz0wzccnW");
    mgw_str_t   ts = STR("1414587457");
    mgw_str_t   url = STR("http://mp.weixin.qq.com?params=value");
    mgw_str_t   old = STR("http://mp.weixin.qq.com");
    mgw_str_t   frag = STR("http://mp.weixin.qq.com?params=value#top#x");
    mgw_str_t   other = STR("http://mp.weixin.qq.com?params=valuf");

    (void) state;

    assert_int_equal(mgw_sign_jssdk(&ticket, &nonce, &ts, &url, hex,
                                    sizeof(hex)),
                     MGW_OK);
    assert_string_equal(hex, "0f9de62fce790f9a083d5c99e95740ceb90c27ed");

    assert_int_equal(mgw_sign_jssdk(&ticket, &nonce, &ts, &old, hex,
                                    sizeof(hex)),
                     MGW_OK);
    assert_string_equal(hex, "f4d90daf4b3bca3078ab155816175ba34c443a7b");

    /* the fragment is not signed */

    assert_int_equal(mgw_sign_jssdk(&ticket, &nonce, &ts, &frag, hex,
                                    sizeof(hex)),
                     MGW_OK);
    assert_string_equal(hex, "0f9de62fce790f9a083d5c99e95740ceb90c27ed");

    assert_int_equal(mgw_sign_jssdk(&ticket, &nonce, &ts, &other, hex,
                                    sizeof(hex)),
                     MGW_OK);
    assert_string_not_equal(hex, "0f9de62fce790f9a083d5c99e95740ceb90c27ed");

    assert_int_equal(mgw_sign_jssdk(&ticket, &nonce, &ts, &url, hex, 40),
                     MGW_ERR_SPACE);
    assert_int_equal(mgw_sign_jssdk(&ticket, NULL, &ts, &url, hex,
                                    sizeof(hex)),
                     MGW_ERR_ARG);
}


static void
test_sign_card_ext(void **state)
{
    char            hex[MGW_SHA1_HEX_SIZE];
    mgw_card_ext_t  ext;

    (void) state;

    memset(&ext, 0, sizeof(ext));

    ext.api_ticket.data = U("ojZ8YtyVyr30HheH3CM73y7h4jJE");
    ext.api_ticket.len = 28;
    ext.timestamp.data = U("1404896688");
    ext.timestamp.len = 10;
    ext.card_id.data = U("pjZ8Yt1XGILfi-FUsewpnnolGgZk");
    ext.card_id.len = 28;
    ext.code.data = U("1434008071");
    ext.code.len = 10;
    ext.nonce_str.data = U("123");
    ext.nonce_str.len = 3;

    assert_int_equal(mgw_sign_card_ext(&ext, hex, sizeof(hex)), MGW_OK);
    assert_string_equal(hex, "f137ab68b7f8112d20ee528ab6074564e2796250");

    /* an empty openid is the same as none */

    ext.openid.data = U("");
    assert_int_equal(mgw_sign_card_ext(&ext, hex, sizeof(hex)), MGW_OK);
    assert_string_equal(hex, "f137ab68b7f8112d20ee528ab6074564e2796250");

    ext.openid.data = U("oMember");
    ext.openid.len = 7;
    assert_int_equal(mgw_sign_card_ext(&ext, hex, sizeof(hex)), MGW_OK);
    assert_string_not_equal(hex, "f137ab68b7f8112d20ee528ab6074564e2796250");

    assert_int_equal(mgw_sign_card_ext(NULL, hex, sizeof(hex)), MGW_ERR_ARG);
}


static void
test_sign_random_nonce(void **state)
{
    char    a[33], b[33];
    size_t  i;

    (void) state;

    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));

    assert_int_equal(mgw_random_nonce(a, 32), MGW_OK);
    assert_int_equal(mgw_random_nonce(b, 32), MGW_OK);

    assert_int_equal(strlen(a), 32);
    assert_string_not_equal(a, b);

    for (i = 0; i < 32; i++) {
        assert_true((a[i] >= '0' && a[i] <= '9')
                    || (a[i] >= 'A' && a[i] <= 'Z')
                    || (a[i] >= 'a' && a[i] <= 'z'));
    }

    assert_int_equal(mgw_random_nonce(NULL, 0), MGW_OK);
    assert_int_equal(mgw_random_nonce(NULL, 1), MGW_ERR_ARG);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_sign_sorted_vectors),
        cmocka_unit_test(test_sign_sort_order),
        cmocka_unit_test(test_sign_args),
        cmocka_unit_test(test_sign_verify_bad),
        cmocka_unit_test(test_sign_jssdk),
        cmocka_unit_test(test_sign_card_ext),
        cmocka_unit_test(test_sign_random_nonce),
    };

    return cmocka_run_group_tests_name("gateway_sign", tests, NULL, NULL);
}
