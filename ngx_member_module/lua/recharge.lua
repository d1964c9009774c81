-- Adds stored value: principal and its bonus, one ledger entry, and the
-- answer kept under the idempotency key so that a retry gets it again.
-- The recharge is also kept under its key (KEYS[4]) for its refund.
-- KEYS[1] member hash, KEYS[2] ledger stream, KEYS[3] idempotency record,
-- KEYS[4] {m:<id>}:recharge:<key>
-- ARGV: amount_fen, bonus_fen, fingerprint of the request, now, ttl of
-- the idempotency record, the idempotency key, ttl of the recharge record
-- KEYS member ledger idem recharge
-- ARGV amount_fen bonus_fen fingerprint now ttl idem_key recharge_ttl
-- CHANGES member
-- DURABLE
local seen = redis.call('GET', KEYS[3])
if seen then
    local fingerprint, answer = string.match(seen, '^([^\n]*)\n(.*)$')
    if fingerprint == ARGV[3] then
        return answer
    end
    return redis.error_reply('CONFLICT the idempotency key was used for another request')
end

local m = redis.call('HMGET', KEYS[1], 'status', 'principal_fen',
                     'bonus_fen')
local status = m[1]
if not status or status == 'visitor' then
    return redis.error_reply('NOT_FOUND no such member')
end
if status ~= 'active' then
    return redis.error_reply('INACTIVE the member is not active')
end
-- the balance stays below 10^15 fen: an exact integer in Lua (< 2^53)
if tonumber(m[2] or 0) + tonumber(m[3] or 0) + tonumber(ARGV[1])
   + tonumber(ARGV[2]) > 1000000000000000 then
    return redis.error_reply('LIMIT_EXCEEDED the balance would pass its maximum')
end

local principal = redis.call('HINCRBY', KEYS[1], 'principal_fen', ARGV[1])
local bonus = redis.call('HINCRBY', KEYS[1], 'bonus_fen', ARGV[2])
local balance = principal + bonus
redis.call('HSET', KEYS[1], 'balance_fen', balance)

local id = redis.call('XADD', KEYS[2], '*', 'type', 'recharge',
                      'amount_fen', ARGV[1], 'bonus_fen', ARGV[2],
                      'balance_fen', balance, 'idempotency_key', ARGV[6],
                      'ts', ARGV[4])

local answer = string.format(
    '{"balance_fen":%d,"bonus_fen":%d,"amount_fen":%d,"transaction_id":"%s"}',
    balance, tonumber(ARGV[2]), tonumber(ARGV[1]), id)
redis.call('SET', KEYS[3], ARGV[3] .. '\n' .. answer, 'EX', ARGV[5])
redis.call('HSET', KEYS[4], 'amount_fen', ARGV[1], 'bonus_fen', ARGV[2],
           'transaction_id', id, 'ts', ARGV[4])
redis.call('EXPIRE', KEYS[4], ARGV[7])
return answer
