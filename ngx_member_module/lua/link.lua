-- Links an openid to the member that has its (verified) phone.
-- KEYS[1] member hash {m:<id>}
-- ARGV: as register.lua
-- STALE: the phone index named a member who has another phone now;
-- OWNED: the member belongs to another openid.  Returns the card number.
-- KEYS member
-- ARGV id card_no phone_index openid consent now fields...
-- CHANGES member
local m = redis.call('HMGET', KEYS[1], 'status', 'phone_index', 'openid')
if m[1] ~= 'active' or m[2] ~= ARGV[3] then
    return redis.error_reply('STALE the phone index is out of date')
end
if m[3] and m[3] ~= '' and m[3] ~= ARGV[4] then
    return redis.error_reply('OWNED another openid has the member')
end
redis.call('HSET', KEYS[1], 'openid', ARGV[4], 'consent_privacy', ARGV[5],
           'consent_at', ARGV[6])
for i = 7, #ARGV, 2 do
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
return redis.call('HGET', KEYS[1], 'card_no')
