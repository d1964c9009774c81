-- Refunds a recharge once (docs/ledger.md): the principal it paid in and
-- the bonus it gave both leave, whole, or nothing does: a member who has
-- spent part of them gets 422 insufficient_balance.
-- KEYS[1] member hash, KEYS[2] ledger stream,
-- KEYS[3] {m:<id>}:recharge:<key>, KEYS[4] {m:<id>}:idem:<key> (the
-- recharge's answer: recharges older than their record)
-- ARGV: the recharge's idempotency key, the refund key ("" for none), now
-- KEYS member ledger recharge idem
-- ARGV idem_key refund_key now
-- CHANGES member
-- DURABLE
local r = redis.call('HMGET', KEYS[3], 'amount_fen', 'bonus_fen', 'refund',
                     'refund_key', 'channel')
if r[3] then
    if ARGV[2] ~= '' and r[4] and r[4] ~= '' and r[4] ~= ARGV[2] then
        return redis.error_reply('CONFLICT the recharge was refunded under another key')
    end
    return r[3]
end

local amount, bonus = tonumber(r[1]), tonumber(r[2])
if not amount then
    local seen = redis.call('GET', KEYS[4])
    local answer = seen and string.match(seen, '^recharge:[^\n]*\n(.*)$')
    if not answer then
        return redis.error_reply('RECHARGE_UNKNOWN no such recharge')
    end
    local a = cjson.decode(answer)
    amount, bonus = a.amount_fen, a.bonus_fen
end

local m = redis.call('HMGET', KEYS[1], 'status', 'principal_fen', 'bonus_fen',
                     'points')
if not m[1] or m[1] == 'visitor' then
    return redis.error_reply('NOT_FOUND no such member')
end
local principal, kept = tonumber(m[2] or 0), tonumber(m[3] or 0)
if principal < amount or kept < bonus then
    return redis.error_reply('INSUFFICIENT_BALANCE part of the recharge was spent')
end

principal = principal - amount
kept = kept - bonus
redis.call('HSET', KEYS[1], 'principal_fen', principal, 'bonus_fen', kept,
           'balance_fen', principal + kept)

-- the recharge's channel, when its record says it (none: admin)
local entry = {'type', 'refund', 'of', 'recharge', 'idempotency_key', ARGV[1],
               'refund_key', ARGV[2], 'refunded_fen', amount,
               'principal_fen', -amount, 'bonus_fen', -bonus,
               'balance_fen', principal + kept, 'points_delta', 0,
               'points', tonumber(m[4] or 0)}
if r[5] then
    table.insert(entry, 'channel')
    table.insert(entry, r[5])
end
table.insert(entry, 'ts')
table.insert(entry, ARGV[3])
local id = redis.call('XADD', KEYS[2], '*', unpack(entry))

local answer = string.format(
    '{"idempotency_key":"%s","refunded_fen":%d,"bonus_fen":%d,'
    .. '"balance_fen":%d,"transaction_id":"%s"}',
    ARGV[1], amount, bonus, principal + kept, id)
redis.call('HSET', KEYS[3], 'amount_fen', amount, 'bonus_fen', bonus,
           'refund', answer, 'refund_key', ARGV[2])
return answer
