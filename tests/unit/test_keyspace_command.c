/*
 * mks_command.c: the table's order and lookups, where the keys of each
 * kind of command are, EVAL's numkeys, the bad arguments, a command's one
 * slot; and every upper-case word the module's C sources hold is either a
 * command of the table or a word known not to be one, so that a command
 * the module starts to send cannot be missing from the table.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "member_keyspace.h"


#define MAX_ARGS  16


typedef struct {
    int          argc;
    const char  *argv[MAX_ARGS];
    size_t       argvlen[MAX_ARGS];
} cmd_t;


/* a command from its words, ended by NULL */
static cmd_t *
cmd(cmd_t *c, ...)
{
    va_list      ap;
    const char  *w;

    c->argc = 0;
    va_start(ap, c);

    while ((w = va_arg(ap, const char *)) != NULL) {
        assert_true(c->argc < MAX_ARGS);
        c->argv[c->argc] = w;
        c->argvlen[c->argc] = strlen(w);
        c->argc++;
    }

    va_end(ap);

    return c;
}


static mks_status_t
keys(cmd_t *c, int *first, int *last, int *step)
{
    return mks_command_keys(c->argc, c->argv, c->argvlen, first, last,
                            step);
}


static void
assert_keys(cmd_t *c, int first, int last, int step)
{
    int  f, l, s;

    assert_int_equal(keys(c, &f, &l, &s), MKS_OK);
    assert_int_equal(f, first);
    assert_int_equal(l, last);
    assert_int_equal(s, step);
}


static void
assert_no_key(cmd_t *c)
{
    int  f, l, s;

    assert_int_equal(keys(c, &f, &l, &s), MKS_OK);
    assert_true(f > l);
}


static void
test_table(void **state)
{
    size_t                n, i;
    const mks_command_t  *t;

    (void) state;

    t = mks_command_table(&n);
    assert_true(n > 40);

    for (i = 0; i < n; i++) {
        if (i > 0) {
            assert_true(strcmp(t[i - 1].name, t[i].name) < 0);
        }

        assert_ptr_equal(mks_command_find(t[i].name, strlen(t[i].name)),
                         &t[i]);
        assert_true(t[i].arity != 0);
        assert_true(t[i].first >= 0);
        assert_true(t[i].first == 0 || t[i].step > 0);
    }

    assert_non_null(mks_command_find("get", 3));
    assert_non_null(mks_command_find("EvalSha", 7));
    assert_ptr_equal(mks_command_find("HGETALLX", 7),
                     mks_command_find("HGETALL", 7));
    assert_null(mks_command_find("GE", 2));
    assert_null(mks_command_find("GETT", 4));
    assert_null(mks_command_find("", 0));
    assert_null(mks_command_find(NULL, 3));
    assert_null(mks_command_find("FLUSHALL", 8));
    assert_null(mks_command_find("KEYS", 4));
}


static void
test_keys(void **state)
{
    cmd_t  c;

    (void) state;

    assert_keys(cmd(&c, "GET", "{m:1}", NULL), 1, 1, 1);
    assert_keys(cmd(&c, "set", "k", "v", "NX", "EX", "900", NULL), 1, 1, 1);
    assert_keys(cmd(&c, "HMGET", "{m:1}", "a", "b", "c", NULL), 1, 1, 1);
    assert_keys(cmd(&c, "HSET", "{b}:admin:keys", "f", "v", NULL), 1, 1, 1);
    assert_keys(cmd(&c, "DEL", "a", NULL), 1, 1, 1);
    assert_keys(cmd(&c, "DEL", "a", "b", "c", NULL), 1, 3, 1);
    assert_keys(cmd(&c, "EXISTS", "a", "b", NULL), 1, 2, 1);
    assert_keys(cmd(&c, "MSET", "a", "1", "b", "2", NULL), 1, 3, 2);
    assert_keys(cmd(&c, "XADD", "{b}:audit", "MAXLEN", "~", "1000", "*",
                    "f", "v", NULL), 1, 1, 1);
    assert_keys(cmd(&c, "SSCAN", "{b}:tag:x", "0", "COUNT", "100", NULL),
                1, 1, 1);
    assert_keys(cmd(&c, "ZADD", "ledger:due", "LT", "5", "1", NULL), 1, 1, 1);

    assert_no_key(cmd(&c, "SCAN", "0", "MATCH", "{m:*}", "COUNT", "10",
                      NULL));
    assert_no_key(cmd(&c, "SCRIPT", "LOAD", "return 1", NULL));
    assert_no_key(cmd(&c, "AUTH", "secret", NULL));
    assert_no_key(cmd(&c, "SELECT", "3", NULL));
    assert_no_key(cmd(&c, "PING", NULL));
    assert_no_key(cmd(&c, "WAIT", "1", "100", NULL));
    assert_no_key(cmd(&c, "ASKING", NULL));
    assert_no_key(cmd(&c, "CLUSTER", "SLOTS", NULL));
}


static void
test_eval(void **state)
{
    int    f, l, s;
    cmd_t  c;

    (void) state;

    assert_keys(cmd(&c, "EVALSHA", "abc", "2", "{m:1}", "{m:1}:ledger",
                    "x", NULL), 3, 4, 1);
    assert_keys(cmd(&c, "EVAL", "return 1", "1", "k", NULL), 3, 3, 1);
    assert_keys(cmd(&c, "evalsha", "abc", "3", "a", "b", "c", NULL),
                3, 5, 1);
    assert_no_key(cmd(&c, "EVALSHA", "abc", "0", NULL));
    assert_no_key(cmd(&c, "EVALSHA", "abc", "0", "arg", NULL));

    /* numkeys past the arguments, not a number, negative, empty */
    assert_int_equal(keys(cmd(&c, "EVALSHA", "abc", "2", "k", NULL),
                          &f, &l, &s), MKS_ARITY);
    assert_int_equal(keys(cmd(&c, "EVALSHA", "abc", "x", "k", NULL),
                          &f, &l, &s), MKS_ARITY);
    assert_int_equal(keys(cmd(&c, "EVALSHA", "abc", "-1", "k", NULL),
                          &f, &l, &s), MKS_ARITY);
    assert_int_equal(keys(cmd(&c, "EVALSHA", "abc", "", "k", NULL),
                          &f, &l, &s), MKS_ARITY);
    assert_int_equal(keys(cmd(&c, "EVALSHA", "abc", "1000000000000", "k",
                              NULL), &f, &l, &s), MKS_ARITY);
    assert_int_equal(keys(cmd(&c, "EVALSHA", "abc", NULL), &f, &l, &s),
                     MKS_ARITY);
}


static void
test_bad(void **state)
{
    int     f, l, s;
    cmd_t   c;
    size_t  len;

    (void) state;

    assert_int_equal(keys(cmd(&c, "FLUSHALL", NULL), &f, &l, &s),
                     MKS_UNKNOWN);
    assert_int_equal(keys(cmd(&c, "GETX", "k", NULL), &f, &l, &s),
                     MKS_UNKNOWN);
    assert_int_equal(keys(cmd(&c, "GET", NULL), &f, &l, &s), MKS_ARITY);
    assert_int_equal(keys(cmd(&c, "GET", "a", "b", NULL), &f, &l, &s),
                     MKS_ARITY);
    assert_int_equal(keys(cmd(&c, "DEL", NULL), &f, &l, &s), MKS_ARITY);
    assert_int_equal(keys(cmd(&c, "HSET", "k", "f", NULL), &f, &l, &s),
                     MKS_ARITY);
    assert_int_equal(keys(cmd(&c, "MSET", "a", "1", "b", NULL), &f, &l, &s),
                     MKS_ARITY);

    cmd(&c, "GET", "k", NULL);
    assert_int_equal(mks_command_keys(0, c.argv, c.argvlen, &f, &l, &s),
                     MKS_BAD_ARG);
    assert_int_equal(mks_command_keys(2, NULL, c.argvlen, &f, &l, &s),
                     MKS_BAD_ARG);
    assert_int_equal(mks_command_keys(2, c.argv, NULL, &f, &l, &s),
                     MKS_BAD_ARG);
    assert_int_equal(mks_command_keys(2, c.argv, c.argvlen, NULL, &l, &s),
                     MKS_BAD_ARG);

    /* a name is its length, not its NUL */
    len = 2;
    c.argvlen[0] = len;
    assert_int_equal(keys(&c, &f, &l, &s), MKS_UNKNOWN);
}


static void
test_slot(void **state)
{
    cmd_t     c;
    unsigned  slot;

    (void) state;

    cmd(&c, "GET", "foo", NULL);
    assert_int_equal(mks_command_slot(c.argc, c.argv, c.argvlen, NULL),
                     MKS_BAD_ARG);

    cmd(&c, "GET", "foo", NULL);
    assert_int_equal(mks_command_slot(c.argc, c.argv, c.argvlen, &slot),
                     MKS_OK);
    assert_int_equal(slot, 12182);

    cmd(&c, "EVALSHA", "abc", "2", "{m:1}", "{m:1}:ledger", "foo", NULL);
    assert_int_equal(mks_command_slot(c.argc, c.argv, c.argvlen, &slot),
                     MKS_OK);
    assert_int_equal(slot, 5398);

    cmd(&c, "EVALSHA", "abc", "2", "{m:1}", "{m:2}", NULL);
    assert_int_equal(mks_command_slot(c.argc, c.argv, c.argvlen, &slot),
                     MKS_CROSSSLOT);

    cmd(&c, "DEL", "{b}:x", "{b}:y", "a{b}", NULL);
    assert_int_equal(mks_command_slot(c.argc, c.argv, c.argvlen, &slot),
                     MKS_OK);
    assert_int_equal(slot, 3300);

    cmd(&c, "SCAN", "0", NULL);
    assert_int_equal(mks_command_slot(c.argc, c.argv, c.argvlen, &slot),
                     MKS_NO_KEY);

    cmd(&c, "NOSUCH", NULL);
    assert_int_equal(mks_command_slot(c.argc, c.argv, c.argvlen, &slot),
                     MKS_UNKNOWN);
}


/*
 * The upper-case words of the module's sources that are no command:
 * arguments of commands, the scripts' error codes, HTTP and WeChat words.
 * A new word must be put here or in the table: a command the module
 * sends is then in the table.
 */
static const char  *not_commands[] = {
    "EX", "PX", "NX", "LT", "COUNT", "MATCH", "LIMIT", "WITHSCORES",
    "LOAD", "MAXLEN",
    "POST",
    "OK", "MM", "HMAC", "YYYYMMDD", "NOSCRIPT", "TRYAGAIN", "CLUSTERDOWN",
    "BAD_REDEEM", "CODE_USED", "CONFLICT", "COUPON_MIN_SPEND",
    "COUPON_NOT_VALID", "COUPON_UNKNOWN", "COUPON_USED", "INACTIVE",
    "INSUFFICIENT_BALANCE", "INSUFFICIENT_POINTS", "LIMIT_EXCEEDED",
    "LINKED", "NOCARD", "NOT_FOUND", "ORDER_UNKNOWN", "OWNED",
    "RATE_LIMITED", "RECHARGE_UNKNOWN", "REGISTERED", "REPLAY", "STALE",
    "STORE_EXISTS", "TICKET_UNKNOWN", "TOO_MANY_TAGS", "UNAUTHORIZED",
    "UNKNOWN_CODE",
    "USER_FORM_INFO_FLAG_BIRTHDAY", "USER_FORM_INFO_FLAG_MOBILE",
    "USER_FORM_INFO_FLAG_NAME", "USER_FORM_INFO_FLAG_SEX",
    "CNY", "RSA", "FAIL", "SUCCESS", "MISMATCH",     /* WeChat Pay's words */
    NULL
};


static int
is_not_command(const char *w, size_t len)
{
    size_t  i;

    for (i = 0; not_commands[i] != NULL; i++) {
        if (strlen(not_commands[i]) == len
            && memcmp(not_commands[i], w, len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


typedef struct {
    size_t  files;
    size_t  words;
    size_t  commands;
    int     unknown;
} walk_t;


/* every string literal of [A-Z_] of two characters or more */
static void
walk_file(const char *path, walk_t *w)
{
    long    size;
    FILE   *f;
    char   *buf, *p, *q, *end;

    f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    assert_true(size >= 0);
    rewind(f);
    buf = malloc((size_t) size + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t) size, f), (size_t) size);
    fclose(f);

    w->files++;
    end = buf + size;

    for (p = buf; p < end; p++) {
        if (*p != '"' || (p > buf && (p[-1] == '\'' || p[-1] == '\\'))) {
            continue;
        }

        for (q = p + 1; q < end && ((*q >= 'A' && *q <= 'Z') || *q == '_');
             q++)
        {
            /* void */
        }

        if (q < end && *q == '"' && q - p - 1 >= 2) {
            w->words++;

            if (mks_command_find(p + 1, (size_t) (q - p - 1)) != NULL) {
                w->commands++;

            } else if (!is_not_command(p + 1, (size_t) (q - p - 1))) {
                print_error("%s: \"%.*s\" is neither a command of "
                            "keyspace/mks_command.c nor a word of "
                            "not_commands\n", path, (int) (q - p - 1),
                            p + 1);
                w->unknown++;
            }

            p = q;
        }
    }

    free(buf);
}


static void
walk_dir(const char *dir, walk_t *w)
{
    DIR            *d;
    size_t          len;
    char            path[1024];
    struct stat     st;
    struct dirent  *e;

    d = opendir(dir);
    assert_non_null(d);

    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }

        assert_true((size_t) snprintf(path, sizeof(path), "%s/%s", dir,
                                      e->d_name) < sizeof(path));
        assert_int_equal(stat(path, &st), 0);

        if (S_ISDIR(st.st_mode)) {
            walk_dir(path, w);
            continue;
        }

        len = strlen(e->d_name);

        if (len > 2 && strcmp(e->d_name + len - 2, ".c") == 0) {
            walk_file(path, w);
        }
    }

    closedir(d);
}


static void
test_module_commands(void **state)
{
    walk_t  w;

    (void) state;

    memset(&w, 0, sizeof(w));
    walk_dir(TEST_SOURCE_ROOT "/ngx_member_module", &w);

    /* the walk saw the module: its files and the commands it sends */
    assert_true(w.files > 50);
    assert_true(w.commands > 50);
    assert_true(w.words > w.commands);
    assert_int_equal(w.unknown, 0);
}


static void
test_strerror(void **state)
{
    (void) state;

    assert_string_equal(mks_strerror(MKS_OK), "ok");
    assert_string_equal(mks_strerror(MKS_UNKNOWN), "unknown_command");
    assert_string_equal(mks_strerror(MKS_CROSSSLOT), "crossslot");
    assert_string_equal(mks_strerror((mks_status_t) 99), "invalid_status");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_eval),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_slot),
        cmocka_unit_test(test_module_commands),
        cmocka_unit_test(test_strerror),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
