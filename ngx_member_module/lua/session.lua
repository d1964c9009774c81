-- The session and what the pages need of its member, in one round trip.
-- KEYS[1] session {m:<id>}:s:<hash>, KEYS[2] member hash {m:<id>}
-- Returns openid, session_key (sealed, "" for web sessions), then the
-- member's status, card_no and phone_index; UNAUTHORIZED when the session
-- is gone or its member was deleted.
-- KEYS session member
-- ARGV (none)
-- CHANGES none
local s = redis.call('HMGET', KEYS[1], 'openid', 'session_key')
if not s[1] then
    return redis.error_reply('UNAUTHORIZED no such session')
end
local m = redis.call('HMGET', KEYS[2], 'status', 'card_no', 'phone_index')
if m[1] == 'deleted' or not m[1] then
    return redis.error_reply('UNAUTHORIZED the member is gone')
end
return {s[1], s[2] or '', m[1], m[2] or '', m[3] or ''}
