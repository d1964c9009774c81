/*
 * The rules' "messages" section (docs/outbox.md): which WeChat message
 * each kind sends and what fills its template's data keys.
 */

#include <stdio.h>
#include <string.h>

#include "mrl_private.h"


#define MRL_MSG_KEYS  20            /* data keys of a template */
#define MRL_MSG_TEXT  64            /* bytes of a "=text" */


static int mrl_msg_id(json_t *v, size_t max);
static mrl_status_t mrl_msg_data(json_t *data, size_t kind,
    const char *path, mrl_err_t *err);
static mrl_status_t mrl_msg_kind(json_t *v, size_t kind, mrl_err_t *err);


static const char *const  mrl_msg_kinds[] = {
    "balance", "points_expiring", "birthday", NULL
};

/* the fields a kind can fill a template with */
static const char *const  mrl_msg_fields[][8] = {
    { "amount", "change", "balance", "type", "points", "date", "card_no",
      NULL },
    { "expiring_points", "expire_date", "points", "date", "card_no", NULL },
    { "gift_points", "points", "date", "card_no", NULL }
};


/* a string of 1..max of [A-Za-z0-9_.:-] */

static int
mrl_msg_id(json_t *v, size_t max)
{
    size_t       i, len;
    const char  *s;

    if (!json_is_string(v)) {
        return 0;
    }

    s = json_string_value(v);
    len = json_string_length(v);

    if (len == 0 || len > max) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!mrl_id_char((unsigned char) s[i])) {
            return 0;
        }
    }

    return 1;
}


static mrl_status_t
mrl_msg_data(json_t *data, size_t kind, const char *path, mrl_err_t *err)
{
    char                dpath[48];
    size_t              i, len;
    json_t             *v;
    const char         *key, *s;
    const char *const  *f;

    snprintf(dpath, sizeof(dpath), "%sdata.", path);

    if (!json_is_object(data) || json_object_size(data) == 0
        || json_object_size(data) > MRL_MSG_KEYS)
    {
        return mrl_fail(err, path, "data", "an object of 1 to %d data keys "
                        "is needed", MRL_MSG_KEYS);
    }

    json_object_foreach(data, key, v) {
        len = strlen(key);

        for (i = 0; i < len; i++) {
            if (!mrl_id_char((unsigned char) key[i])
                || key[i] == '-' || key[i] == '.' || key[i] == ':')
            {
                break;
            }
        }

        if (len == 0 || len > 32 || i < len) {
            return mrl_fail(err, dpath, key, "a data key is 1 to 32 of "
                            "[A-Za-z0-9_]");
        }

        s = json_string_value(v);

        if (s && s[0] == '=' && json_string_length(v) > 1
            && json_string_length(v) <= MRL_MSG_TEXT + 1)
        {
            continue;
        }

        for (f = mrl_msg_fields[kind]; s && *f; f++) {
            if (strcmp(*f, s) == 0) {
                break;
            }
        }

        if (s == NULL || *f == NULL) {
            return mrl_fail(err, dpath, key, "one of %s, %s, ... (the fields "
                            "of %s) or =text", mrl_msg_fields[kind][0],
                            mrl_msg_fields[kind][1], mrl_msg_kinds[kind]);
        }
    }

    return MRL_OK;
}


static mrl_status_t
mrl_msg_kind(json_t *v, size_t kind, mrl_err_t *err)
{
    int          subscribe;
    char         path[32];
    json_t      *w;
    const char  *channel;

    static const char *const  keys[] = { "channel", "template_id", "url",
                                         "page", "data", NULL };
    static const char *const  expiring[] = { "channel", "template_id", "url",
                                             "page", "data", "days", NULL };

    static const mrl_int_rule_t  none[] = {
        { NULL, 0, 0, 0 }
    };
    static const mrl_int_rule_t  days[] = {
        { "days", 1, 90, 7 },
        { NULL, 0, 0, 0 }
    };

    snprintf(path, sizeof(path), "messages.%s.", mrl_msg_kinds[kind]);

    /* its keys, its integers, then the rest, as every object of the rules */
    if (mrl_rules_object(v, kind == 1 ? expiring : keys,
                         kind == 1 ? days : none, path, err)
        != MRL_OK)
    {
        return MRL_BAD_RULES;
    }

    channel = json_string_value(json_object_get(v, "channel"));

    if (channel == NULL
        || (strcmp(channel, "template") != 0
            && strcmp(channel, "subscribe") != 0))
    {
        return mrl_fail(err, path, "channel", "template or subscribe");
    }

    subscribe = (channel[0] == 's');

    if (!mrl_msg_id(json_object_get(v, "template_id"), 64)) {
        return mrl_fail(err, path, "template_id", "1 to 64 of "
                        "[A-Za-z0-9_.:-] is needed");
    }

    w = json_object_get(v, "url");

    if (w && (subscribe || !json_is_string(w)
              || json_string_length(w) > 512
              || (strncmp(json_string_value(w), "https://", 8) != 0
                  && strncmp(json_string_value(w), "http://", 7) != 0)))
    {
        return mrl_fail(err, path, "url", "an http(s) URL of at most 512 "
                        "bytes, for the template channel only");
    }

    w = json_object_get(v, "page");

    if (w && (!subscribe || !json_is_string(w)
              || json_string_length(w) == 0
              || json_string_length(w) > 256))
    {
        return mrl_fail(err, path, "page", "a mini-program page of at most "
                        "256 bytes, for the subscribe channel only");
    }

    return mrl_msg_data(json_object_get(v, "data"), kind, path, err);
}


mrl_status_t
mrl_messages_validate(json_t *rules, mrl_err_t *err)
{
    size_t   i;
    json_t  *messages, *v;

    messages = json_object_get(rules, "messages");

    if (messages == NULL) {
        return MRL_OK;
    }

    if (!json_is_object(messages)) {
        return mrl_fail(err, "messages", "", "an object is needed");
    }

    if (mrl_rules_keys(messages, mrl_msg_kinds, "messages.", err) != MRL_OK) {
        return MRL_BAD_RULES;
    }

    for (i = 0; mrl_msg_kinds[i]; i++) {
        v = json_object_get(messages, mrl_msg_kinds[i]);

        if (v && mrl_msg_kind(v, i, err) != MRL_OK) {
            return MRL_BAD_RULES;
        }
    }

    return MRL_OK;
}
