/*
 * member_rules: helpers shared by the library's own files; not part of
 * the API (member_rules.h is).
 */

#ifndef _MRL_PRIVATE_H_INCLUDED_
#define _MRL_PRIVATE_H_INCLUDED_


#include "member_rules.h"


/* where a refusal is written: the caller's buffer */
typedef struct {
    char    *msg;
    size_t   cap;
    size_t   path_len;
} mrl_err_t;

/* a rule for one integer of the rules */
typedef struct {
    const char  *name;
    int64_t      min;
    int64_t      max;
    int64_t      def;               /* -1: required */
} mrl_int_rule_t;


/*
 * Writes "<path><name>: <fmt...>" (cut to the capacity) and returns
 * MRL_BAD_RULES; name may be "".
 */
mrl_status_t mrl_fail(mrl_err_t *err, const char *path, const char *name,
    const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* an integer of obj; one with a default is added when missing */
mrl_status_t mrl_rules_int(json_t *obj, const mrl_int_rule_t *rule,
    const char *path, mrl_err_t *err);
/* every integer of a list ended by a NULL name */
mrl_status_t mrl_rules_ints(json_t *obj, const mrl_int_rule_t *rules,
    const char *path, mrl_err_t *err);
/* an object whose keys are all in allowed (ended by NULL) */
mrl_status_t mrl_rules_keys(json_t *obj, const char *const *allowed,
    const char *path, mrl_err_t *err);
/* an object of the rules: its keys, then its integers */
mrl_status_t mrl_rules_object(json_t *obj, const char *const *keys,
    const mrl_int_rule_t *ints, const char *path, mrl_err_t *err);

/* [A-Za-z0-9_.:-] */
int mrl_id_char(unsigned char c);

/* the "triggers" and "referral" sections -- mrl_triggers.c */
mrl_status_t mrl_triggers_validate(json_t *rules, mrl_err_t *err);
/* the "messages" section -- mrl_messages.c */
mrl_status_t mrl_messages_validate(json_t *rules, mrl_err_t *err);


#endif /* _MRL_PRIVATE_H_INCLUDED_ */
