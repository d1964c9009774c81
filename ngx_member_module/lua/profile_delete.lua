-- Erases a member's personal data: the record keeps its id, card number
-- and balances for the ledger, which stays, naming nobody.
-- KEYS[1] member hash {m:<id>}, KEYS[2] the session in use
-- ARGV: now
-- Returns the phone index key and the openid, for their indexes to go.
-- KEYS member session
-- ARGV now
-- CHANGES member
local m = redis.call('HMGET', KEYS[1], 'status', 'phone_index', 'openid')
if not m[1] or m[1] == 'deleted' then
    return redis.error_reply('UNAUTHORIZED no such member')
end
redis.call('HDEL', KEYS[1], 'name', 'name_masked', 'phone', 'phone_index',
           'birthday', 'birth_md', 'gender', 'address', 'openid',
           'unionid',
           'consent_privacy', 'consent_at', 'registered_at')
redis.call('HSET', KEYS[1], 'status', 'deleted', 'deleted_at', ARGV[1])
redis.call('DEL', KEYS[2])
-- and the copies of every session's end: no session reads a card now
local fields = redis.call('HKEYS', KEYS[1])
for i = 1, #fields do
    if string.sub(fields[i], 1, 2) == 's:' then
        redis.call('HDEL', KEYS[1], fields[i])
    end
end
return {m[2] or '', m[3] or ''}
