-- Issues one coupon to one member, once per idempotency key: the terms
-- copied from the template (a later change of the template leaves it as
-- it is), a "coupon" ledger entry, the coupon id kept under the key.
-- KEYS[1] member hash, KEYS[2] ledger stream,
-- KEYS[3] {m:<id>}:idem:coupon:<key>, KEYS[4] {m:<id>}:coupons
-- ARGV: 1 fingerprint, 2 terms (JSON), 3 now, 4 ttl of the record,
--       5 the key, 6 template id, 7 expires_at, 8 name, 9 member id
-- Answers {"issued"|"seen", coupon id}.
-- KEYS member ledger idem coupons
-- ARGV fingerprint terms now ttl idem_key template expires_at name member_id
-- CHANGES member
-- DURABLE
local seen = redis.call('GET', KEYS[3])
if seen then
    local fingerprint, id = string.match(seen, '^([^\n]*)\n(.*)$')
    if fingerprint == ARGV[1] then
        return {'seen', id}
    end
    return redis.error_reply('CONFLICT the idempotency key was used for another coupon')
end

local m = redis.call('HMGET', KEYS[1], 'status', 'balance_fen', 'points')
if not m[1] or m[1] == 'visitor' then
    return redis.error_reply('NOT_FOUND no such member')
end
if m[1] ~= 'active' then
    return redis.error_reply('INACTIVE the member is not active')
end

local id = 'c' .. ARGV[9] .. '-' .. redis.call('HINCRBY', KEYS[1], 'coupon_seq', 1)
redis.call('HSET', KEYS[4], id, ARGV[2])
redis.call('XADD', KEYS[2], '*', 'type', 'coupon', 'coupon_id', id,
           'template_id', ARGV[6], 'name', ARGV[8], 'expires_at', ARGV[7],
           'idempotency_key', ARGV[5], 'balance_fen', tonumber(m[2] or 0),
           'points', tonumber(m[3] or 0), 'points_delta', 0, 'ts', ARGV[3])
redis.call('SET', KEYS[3], ARGV[1] .. '\n' .. id, 'EX', ARGV[4])
return {'issued', id}
