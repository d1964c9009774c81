-- Creates a member, or turns the visitor record of an openid into one.
-- KEYS[1] member hash {m:<id>}
-- ARGV: id, card_no, openid ("" when none), level, now, then field/value
--       pairs (phone_index, sealed personal data, name_masked)
-- EXISTS when that record is a member already.
-- KEYS member
-- ARGV id card_no openid level now fields...
-- CHANGES member
local status = redis.call('HGET', KEYS[1], 'status')
if status and status ~= 'visitor' then
    return redis.error_reply('EXISTS already a member')
end
if status and redis.call('HGET', KEYS[1], 'openid') ~= ARGV[3] then
    return redis.error_reply('CONFLICT openid index points elsewhere')
end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'card_no', ARGV[2],
           'level', ARGV[4], 'status', 'active', 'points', 0,
           'balance_fen', 0, 'principal_fen', 0, 'bonus_fen', 0,
           'activated_at', ARGV[5])
redis.call('HSETNX', KEYS[1], 'created_at', ARGV[5])
if ARGV[3] ~= '' then
    redis.call('HSET', KEYS[1], 'openid', ARGV[3])
end
for i = 6, #ARGV, 2 do
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
return 'OK'
