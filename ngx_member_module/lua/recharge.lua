-- Adds stored value: principal and its bonus, one ledger entry, and the
-- answer kept under the idempotency key so that a retry gets it again.
-- The recharge is also kept under its key (KEYS[4]) for its refund, with
-- its channel, which the refund's entry repeats.
-- KEYS[1] member hash, KEYS[2] ledger stream, KEYS[3] idempotency record,
-- KEYS[4] {m:<id>}:recharge:<key>, KEYS[5] a till's ticket (the key of
-- the code it spent; the admin's recharge passes its idempotency record,
-- never read: its ticket argument is "")
-- ARGV: amount_fen, bonus_fen, fingerprint of the request, now, ttl of
-- the idempotency record, the idempotency key, ttl of the recharge record,
-- the channel (admin, till, ...), the store ("" for none), the till's
-- method ("" for none), what the ticket holds ("<store> <sha256 of its
-- secret>", "" when there is no ticket)
-- At a till the answer is the till's view: the amounts, the balance and
-- the member's masked name, never a phone or a birthday.
-- KEYS member ledger idem recharge ticket
-- ARGV amount_fen bonus_fen fingerprint now ttl idem_key recharge_ttl
--      channel store method ticket
-- CHANGES member
-- DURABLE

-- a till's ticket first: no answer, not even a kept one, without it
if ARGV[11] ~= '' and redis.call('GET', KEYS[5]) ~= ARGV[11] then
    return redis.error_reply('TICKET_UNKNOWN no such ticket for this store')
end

local seen = redis.call('GET', KEYS[3])
if seen then
    local fingerprint, answer = string.match(seen, '^([^\n]*)\n(.*)$')
    if fingerprint == ARGV[3] then
        return answer
    end
    return redis.error_reply('CONFLICT the idempotency key was used for another request')
end

local m = redis.call('HMGET', KEYS[1], 'status', 'principal_fen',
                     'bonus_fen', 'name_masked')
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

-- the store and the till's method only where there are some
local entry = {'type', 'recharge', 'amount_fen', ARGV[1],
               'bonus_fen', ARGV[2], 'balance_fen', balance,
               'idempotency_key', ARGV[6], 'channel', ARGV[8]}
if ARGV[9] ~= '' then
    table.insert(entry, 'store_id')
    table.insert(entry, ARGV[9])
end
if ARGV[10] ~= '' then
    table.insert(entry, 'method')
    table.insert(entry, ARGV[10])
end
table.insert(entry, 'ts')
table.insert(entry, ARGV[4])
local id = redis.call('XADD', KEYS[2], '*', unpack(entry))

local answer
if ARGV[9] == '' then
    answer = string.format(
        '{"balance_fen":%d,"bonus_fen":%d,"amount_fen":%d,'
        .. '"transaction_id":"%s"}',
        balance, tonumber(ARGV[2]), tonumber(ARGV[1]), id)
else
    answer = string.format(
        '{"balance_fen":%d,"bonus_fen":%d,"amount_fen":%d,'
        .. '"transaction_id":"%s","store_id":%s,"method":%s,'
        .. '"name_masked":%s}',
        balance, tonumber(ARGV[2]), tonumber(ARGV[1]), id,
        cjson.encode(ARGV[9]),
        ARGV[10] == '' and 'null' or cjson.encode(ARGV[10]),
        cjson.encode(m[4] or ''))
end
redis.call('SET', KEYS[3], ARGV[3] .. '\n' .. answer, 'EX', ARGV[5])
redis.call('HSET', KEYS[4], 'amount_fen', ARGV[1], 'bonus_fen', ARGV[2],
           'transaction_id', id, 'channel', ARGV[8], 'ts', ARGV[4])
redis.call('EXPIRE', KEYS[4], ARGV[7])
return answer
