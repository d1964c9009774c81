/*
 * The Redis commands the module sends and where their keys are: name,
 * arity, first key, last key, step, as Redis 7's COMMAND INFO gives them.
 * Sorted by name (bytes, upper case) for the binary search; the test
 * checks the order and that every command word of the module's sources
 * is here.
 */

#include "member_keyspace.h"


static const mks_command_t  mks_commands[] = {
    { "ASKING",             1, 0,  0, 0, 0 },
    { "AUTH",              -2, 0,  0, 0, 0 },
    { "CLUSTER",           -2, 0,  0, 0, 0 },
    { "DECR",               2, 1,  1, 1, 0 },
    { "DECRBY",             3, 1,  1, 1, 0 },
    { "DEL",               -2, 1, -1, 1, 0 },
    { "EVAL",              -3, 0,  0, 0, MKS_CMD_NUMKEYS },
    { "EVALSHA",           -3, 0,  0, 0, MKS_CMD_NUMKEYS },
    { "EVALSHA_RO",        -3, 0,  0, 0, MKS_CMD_NUMKEYS },
    { "EVAL_RO",           -3, 0,  0, 0, MKS_CMD_NUMKEYS },
    { "EXISTS",            -2, 1, -1, 1, 0 },
    { "EXPIRE",            -3, 1,  1, 1, 0 },
    { "EXPIREAT",          -3, 1,  1, 1, 0 },
    { "GET",                2, 1,  1, 1, 0 },
    { "GETDEL",             2, 1,  1, 1, 0 },
    { "GETEX",             -2, 1,  1, 1, 0 },
    { "GETSET",             3, 1,  1, 1, 0 },
    { "HDEL",              -3, 1,  1, 1, 0 },
    { "HEXISTS",            3, 1,  1, 1, 0 },
    { "HGET",               3, 1,  1, 1, 0 },
    { "HGETALL",            2, 1,  1, 1, 0 },
    { "HINCRBY",            4, 1,  1, 1, 0 },
    { "HINCRBYFLOAT",       4, 1,  1, 1, 0 },
    { "HKEYS",              2, 1,  1, 1, 0 },
    { "HLEN",               2, 1,  1, 1, 0 },
    { "HMGET",             -3, 1,  1, 1, 0 },
    { "HMSET",             -4, 1,  1, 1, 0 },
    { "HSCAN",             -3, 1,  1, 1, 0 },
    { "HSET",              -4, 1,  1, 1, 0 },
    { "HSETNX",             4, 1,  1, 1, 0 },
    { "HSTRLEN",            3, 1,  1, 1, 0 },
    { "HVALS",              2, 1,  1, 1, 0 },
    { "INCR",               2, 1,  1, 1, 0 },
    { "INCRBY",             3, 1,  1, 1, 0 },
    { "INCRBYFLOAT",        3, 1,  1, 1, 0 },
    { "INFO",              -1, 0,  0, 0, 0 },
    { "LINDEX",             3, 1,  1, 1, 0 },
    { "LLEN",               2, 1,  1, 1, 0 },
    { "LPOP",              -2, 1,  1, 1, 0 },
    { "LPUSH",             -3, 1,  1, 1, 0 },
    { "LRANGE",             4, 1,  1, 1, 0 },
    { "LREM",               4, 1,  1, 1, 0 },
    { "LTRIM",              4, 1,  1, 1, 0 },
    { "MGET",              -2, 1, -1, 1, 0 },
    { "MSET",              -3, 1, -1, 2, 0 },
    { "PERSIST",            2, 1,  1, 1, 0 },
    { "PEXPIRE",           -3, 1,  1, 1, 0 },
    { "PEXPIREAT",         -3, 1,  1, 1, 0 },
    { "PING",              -1, 0,  0, 0, 0 },
    { "PTTL",               2, 1,  1, 1, 0 },
    { "READONLY",           1, 0,  0, 0, 0 },
    { "READWRITE",          1, 0,  0, 0, 0 },
    { "RPOP",              -2, 1,  1, 1, 0 },
    { "RPUSH",             -3, 1,  1, 1, 0 },
    { "SADD",              -3, 1,  1, 1, 0 },
    { "SCAN",              -2, 0,  0, 0, 0 },
    { "SCARD",              2, 1,  1, 1, 0 },
    { "SCRIPT",            -2, 0,  0, 0, 0 },
    { "SELECT",             2, 0,  0, 0, 0 },
    { "SET",               -3, 1,  1, 1, 0 },
    { "SETEX",              4, 1,  1, 1, 0 },
    { "SETNX",              3, 1,  1, 1, 0 },
    { "SISMEMBER",          3, 1,  1, 1, 0 },
    { "SMEMBERS",           2, 1,  1, 1, 0 },
    { "SMISMEMBER",        -3, 1,  1, 1, 0 },
    { "SPOP",              -2, 1,  1, 1, 0 },
    { "SRANDMEMBER",       -2, 1,  1, 1, 0 },
    { "SREM",              -3, 1,  1, 1, 0 },
    { "SSCAN",             -3, 1,  1, 1, 0 },
    { "STRLEN",             2, 1,  1, 1, 0 },
    { "TTL",                2, 1,  1, 1, 0 },
    { "TYPE",               2, 1,  1, 1, 0 },
    { "UNLINK",            -2, 1, -1, 1, 0 },
    { "WAIT",               3, 0,  0, 0, 0 },
    { "XADD",              -5, 1,  1, 1, 0 },
    { "XDEL",              -3, 1,  1, 1, 0 },
    { "XLEN",               2, 1,  1, 1, 0 },
    { "XRANGE",            -4, 1,  1, 1, 0 },
    { "XREVRANGE",         -4, 1,  1, 1, 0 },
    { "XTRIM",             -4, 1,  1, 1, 0 },
    { "ZADD",              -4, 1,  1, 1, 0 },
    { "ZCARD",              2, 1,  1, 1, 0 },
    { "ZCOUNT",             4, 1,  1, 1, 0 },
    { "ZINCRBY",            4, 1,  1, 1, 0 },
    { "ZMSCORE",           -3, 1,  1, 1, 0 },
    { "ZPOPMIN",           -2, 1,  1, 1, 0 },
    { "ZRANGE",            -4, 1,  1, 1, 0 },
    { "ZRANGEBYLEX",       -4, 1,  1, 1, 0 },
    { "ZRANGEBYSCORE",     -4, 1,  1, 1, 0 },
    { "ZRANK",              3, 1,  1, 1, 0 },
    { "ZREM",              -3, 1,  1, 1, 0 },
    { "ZREMRANGEBYRANK",    4, 1,  1, 1, 0 },
    { "ZREMRANGEBYSCORE",   4, 1,  1, 1, 0 },
    { "ZREVRANGE",         -4, 1,  1, 1, 0 },
    { "ZREVRANGEBYLEX",    -4, 1,  1, 1, 0 },
    { "ZREVRANGEBYSCORE",  -4, 1,  1, 1, 0 },
    { "ZREVRANK",           3, 1,  1, 1, 0 },
    { "ZSCAN",             -3, 1,  1, 1, 0 },
    { "ZSCORE",             3, 1,  1, 1, 0 },
};

#define MKS_NCOMMANDS  (sizeof(mks_commands) / sizeof(mks_commands[0]))


static int
mks_command_cmp(const char *name, size_t len, const char *entry)
{
    size_t         i;
    unsigned char  c;

    for (i = 0; i < len; i++) {
        if (entry[i] == '\0') {
            return 1;
        }

        c = (unsigned char) name[i];

        if (c >= 'a' && c <= 'z') {
            c = (unsigned char) (c - 'a' + 'A');
        }

        if (c != (unsigned char) entry[i]) {
            return c < (unsigned char) entry[i] ? -1 : 1;
        }
    }

    return entry[len] == '\0' ? 0 : -1;
}


const mks_command_t *
mks_command_find(const char *name, size_t len)
{
    int     r;
    size_t  lo, hi, mid;

    if (name == NULL) {
        return NULL;
    }

    lo = 0;
    hi = MKS_NCOMMANDS;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        r = mks_command_cmp(name, len, mks_commands[mid].name);

        if (r == 0) {
            return &mks_commands[mid];
        }

        if (r < 0) {
            hi = mid;

        } else {
            lo = mid + 1;
        }
    }

    return NULL;
}


const mks_command_t *
mks_command_table(size_t *n)
{
    if (n != NULL) {
        *n = MKS_NCOMMANDS;
    }

    return mks_commands;
}


/* EVAL's numkeys: a decimal number of at most argc - 3 */
static mks_status_t
mks_command_numkeys(int argc, const char *p, size_t len, int *numkeys)
{
    size_t  i;
    long    n;

    if (len == 0 || len > 9) {
        return MKS_ARITY;
    }

    n = 0;

    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return MKS_ARITY;
        }

        n = n * 10 + (p[i] - '0');
    }

    if (n > (long) argc - 3) {
        return MKS_ARITY;
    }

    *numkeys = (int) n;

    return MKS_OK;
}


mks_status_t
mks_command_keys(int argc, const char *const *argv, const size_t *argvlen,
    int *first, int *last, int *step)
{
    int                   numkeys;
    mks_status_t          rc;
    const mks_command_t  *cmd;

    if (argc < 1 || argv == NULL || argvlen == NULL || argv[0] == NULL
        || first == NULL || last == NULL || step == NULL)
    {
        return MKS_BAD_ARG;
    }

    cmd = mks_command_find(argv[0], argvlen[0]);

    if (cmd == NULL) {
        return MKS_UNKNOWN;
    }

    if ((cmd->arity > 0 && argc != cmd->arity)
        || (cmd->arity < 0 && argc < -cmd->arity))
    {
        return MKS_ARITY;
    }

    /* none, until a key is found */
    *first = 1;
    *last = 0;
    *step = 1;

    if (cmd->flags & MKS_CMD_NUMKEYS) {
        if (argv[2] == NULL) {
            return MKS_BAD_ARG;
        }

        rc = mks_command_numkeys(argc, argv[2], argvlen[2], &numkeys);

        if (rc != MKS_OK) {
            return rc;
        }

        if (numkeys > 0) {
            *first = 3;
            *last = 3 + numkeys - 1;
        }

        return MKS_OK;
    }

    if (cmd->first == 0) {
        return MKS_OK;
    }

    *first = cmd->first;
    *last = cmd->last < 0 ? argc + cmd->last : cmd->last;
    *step = cmd->step;

    /* a step of 2 (MSET: key value ...) needs its pairs whole */
    if (*last < *first
        || (cmd->last < 0 && (argc - cmd->first) % cmd->step != 0))
    {
        return MKS_ARITY;
    }

    /* the last key, not the last value */
    *last -= (*last - *first) % *step;

    return MKS_OK;
}


mks_status_t
mks_command_slot(int argc, const char *const *argv, const size_t *argvlen,
    unsigned *slot)
{
    int           i, first, last, step;
    unsigned      s;
    mks_status_t  rc;

    if (slot == NULL) {
        return MKS_BAD_ARG;
    }

    rc = mks_command_keys(argc, argv, argvlen, &first, &last, &step);

    if (rc != MKS_OK) {
        return rc;
    }

    if (first > last) {
        return MKS_NO_KEY;
    }

    s = 0;

    for (i = first; i <= last; i += step) {
        if (argv[i] == NULL) {
            return MKS_BAD_ARG;
        }

        if (i == first) {
            s = mks_slot((const uint8_t *) argv[i], argvlen[i]);

        } else if (mks_slot((const uint8_t *) argv[i], argvlen[i]) != s) {
            return MKS_CROSSSLOT;
        }
    }

    *slot = s;

    return MKS_OK;
}
