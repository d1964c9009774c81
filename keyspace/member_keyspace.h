/*
 * member_keyspace: where ngx_member's Redis keys live, as a plain C
 * library: the Redis Cluster key slot of a key (CRC16 and the hash tag
 * rule), the table of the Redis commands the module sends and where their
 * keys are, and the namespace of a brand (member_brand) that the Redis
 * layer puts on every key as a command is sent.  No nginx header, no
 * global state, no allocation; every output goes into a caller buffer with
 * its capacity.  Safe to call from any thread.
 *
 * Conventions:
 *
 *   - every function that can fail returns an mks_status_t, MKS_OK (0) on
 *     success;
 *   - keys are bytes with a length, never NUL-terminated, and so are the
 *     outputs: on MKS_OK *out_len is the length written, on any other
 *     status nothing was written.
 */

#ifndef _MEMBER_KEYSPACE_H_INCLUDED_
#define _MEMBER_KEYSPACE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#ifdef __cplusplus
extern "C" {
#endif


#define MKS_VERSION_MAJOR  1
#define MKS_VERSION_MINOR  0


typedef enum {
    MKS_OK = 0,
    MKS_BAD_ARG,        /* NULL pointer, a bad brand id, argc < 1 */
    MKS_TOO_SMALL,      /* the output buffer is too small */
    MKS_UNKNOWN,        /* a command not in the table */
    MKS_ARITY,          /* too few arguments, or EVAL's numkeys wrong */
    MKS_NO_KEY,         /* the command has no key */
    MKS_CROSSSLOT,      /* the command's keys are in different slots */
    MKS_FOREIGN,        /* a key read back that is not of the brand */
    MKS_PATTERN         /* a pattern whose hash tag is not literal */
} mks_status_t;


/* A stable name for a status: "ok", "bad_arg", ... */
const char *mks_strerror(mks_status_t status);


/*
 * Key slots -- mks_slot.c
 *
 * Redis Cluster's: CRC16 (XMODEM: polynomial 0x1021, initial 0) of the
 * key, or of its hash tag, modulo 16384.  The hash tag is what lies
 * between the first "{" and the first "}" after it, when that is not
 * empty: "{m:5}:ledger" hashes "m:5", "foo{}{bar}" the whole key.
 */

#define MKS_SLOTS  16384

uint16_t mks_crc16(const uint8_t *p, size_t len);

/* the part of the key that is hashed: its hash tag, or the whole key */
void mks_hash_part(const uint8_t *key, size_t len, size_t *off,
    size_t *n);

/* 0..16383 */
unsigned mks_slot(const uint8_t *key, size_t len);


/*
 * Commands -- mks_command.c
 *
 * Every Redis command the module sends, and where its keys are, as
 * Redis' COMMAND INFO says (first key, last key, step).  A test walks the
 * module's sources, so that a command word cannot be sent without being
 * here.  Names match without regard to case.
 */

#define MKS_CMD_NUMKEYS  0x01   /* EVAL, EVALSHA: argv[2] counts the keys */

typedef struct {
    const char  *name;          /* upper case */
    int          arity;         /* argc; negative: at least -arity */
    int          first;         /* 0: no key */
    int          last;          /* negative: from the end (-1: the last) */
    int          step;
    unsigned     flags;
} mks_command_t;

/* the table entry of a command name, NULL when not in the table */
const mks_command_t *mks_command_find(const char *name, size_t len);

/* the table, n entries */
const mks_command_t *mks_command_table(size_t *n);

/*
 * The keys of a command: argv[i] for i = *first; i <= *last; i += *step.
 * A command of no key answers MKS_OK with *first = 1, *last = 0,
 * *step = 1 (no i).  MKS_UNKNOWN for a command not in the table (the
 * caller logs it), MKS_ARITY for too few arguments or a numkeys that is
 * not a number or runs past argc.
 */
mks_status_t mks_command_keys(int argc, const char *const *argv,
    const size_t *argvlen, int *first, int *last, int *step);

/*
 * The one slot of a command's keys; MKS_NO_KEY for a command of no key,
 * MKS_CROSSSLOT when its keys are in two slots, or mks_command_keys()'s
 * failure.
 */
mks_status_t mks_command_slot(int argc, const char *const *argv,
    const size_t *argvlen, unsigned *slot);


/*
 * Brands -- mks_brand.c
 *
 * A brand id is 1..32 of [a-z0-9_-].  A key gets the brand in its hash
 * tag, after the tag's first word (up to the first ":" or the tag's end),
 * so a key keeps its slot's company (a member's keys stay one slot):
 *
 *   {b}                 {b:ID}
 *   {m:5}:ledger        {m:ID:5}:ledger
 *   order:{s:S1}:O1     order:{s:ID:S1}:O1
 *
 * and a key without a hash tag gets "ID:" in front, so that such keys
 * still spread over the cluster: member:seq is ID:member:seq.  A branded
 * key is always the key's length plus the brand's plus one.
 */

#define MKS_BRAND_MAX  32

#define mks_branded_len(key_len, brand_len)  ((key_len) + (brand_len) + 1)

/* MKS_OK for a good brand id, MKS_BAD_ARG else */
mks_status_t mks_brand_valid(const uint8_t *brand, size_t len);

mks_status_t mks_brand_key(const uint8_t *brand, size_t brand_len,
    const uint8_t *key, size_t key_len, uint8_t *out, size_t cap,
    size_t *out_len);

/*
 * The inverse, for a key read back (SCAN): MKS_FOREIGN when the key does
 * not carry the brand where mks_brand_key() puts it.  out may be key
 * itself (the key is unbranded in place).
 */
mks_status_t mks_unbrand_key(const uint8_t *brand, size_t brand_len,
    const uint8_t *key, size_t key_len, uint8_t *out, size_t cap,
    size_t *out_len);

/*
 * A MATCH pattern of SCAN, branded as a key is: "{m:*}" is "{m:ID:*}".
 * A pattern with a hash tag must be literal (no "*", "?", "[" or "\")
 * up to the end of the tag's first word, else MKS_PATTERN; one without a
 * tag gets "ID:" in front and matches the brand's keys of no tag.
 */
mks_status_t mks_brand_pattern(const uint8_t *brand, size_t brand_len,
    const uint8_t *pattern, size_t pattern_len, uint8_t *out, size_t cap,
    size_t *out_len);


#ifdef __cplusplus
}
#endif

#endif /* _MEMBER_KEYSPACE_H_INCLUDED_ */
