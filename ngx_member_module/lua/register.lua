-- Registers the session's member: a visitor becomes a member with a card,
-- a member without a phone gets one; personal values come sealed.
-- KEYS[1] member hash {m:<id>}
-- ARGV: id, card_no, phone index key, openid, consent version, now, then
--       field/value pairs (sealed values, name_masked)
-- Returns the card number; REGISTERED when the member has a phone already.
-- KEYS member
-- ARGV id card_no phone_index openid consent now fields...
-- CHANGES member
local m = redis.call('HMGET', KEYS[1], 'status', 'phone_index', 'openid')
if not m[1] or m[1] == 'deleted' then
    return redis.error_reply('UNAUTHORIZED no such member')
end
if m[2] and m[2] ~= '' then
    return redis.error_reply('REGISTERED the member has a phone')
end
if m[3] ~= ARGV[4] then
    return redis.error_reply('CONFLICT openid index points elsewhere')
end
if m[1] == 'visitor' then
    redis.call('HSET', KEYS[1], 'id', ARGV[1], 'card_no', ARGV[2],
               'level', 'normal', 'status', 'active', 'points', 0,
               'balance_fen', 0, 'principal_fen', 0, 'bonus_fen', 0,
               'activated_at', ARGV[6])
end
redis.call('HSET', KEYS[1], 'phone_index', ARGV[3],
           'consent_privacy', ARGV[5], 'consent_at', ARGV[6],
           'registered_at', ARGV[6])
-- a referrer only for a member who never bought and has none yet (a
-- wallet card claimed with an invite may have linked one: docs/campaigns.md)
local bought = redis.call('HEXISTS', KEYS[1], 'period') == 1
for i = 7, #ARGV, 2 do
    if ARGV[i] ~= 'referred_by' then
        redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    elseif not bought then
        redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
    end
end
return redis.call('HGET', KEYS[1], 'card_no')
