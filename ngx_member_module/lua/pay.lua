-- A purchase at a till: "pay" from stored value, or "earn" when paid
-- otherwise; points by the tier's multiplier either way.
-- KEYS[1] member hash, KEYS[2] the ticket, KEYS[3] ledger stream,
-- KEYS[4] {m:<id>}:order:<store>:<order id>
-- ARGV: kind (pay|earn), store id, order id, amount_fen, fingerprint,
--       now, per_yuan, campaign points_pct, then the tiers as
--       level, discount_pct, points_pct, ...
-- Stored value is spent principal first, then bonus.
local seen = redis.call('HGET', KEYS[4], 'answer')
if seen then
    if redis.call('HGET', KEYS[4], 'fingerprint') == ARGV[5] then
        return seen
    end
    return redis.error_reply('CONFLICT the order id was used for another purchase')
end

if redis.call('HGET', KEYS[2], 'store_id') ~= ARGV[2] then
    return redis.error_reply('TICKET_UNKNOWN no such ticket for this store')
end
local m = redis.call('HMGET', KEYS[1], 'status', 'level', 'principal_fen',
                     'bonus_fen', 'points')
if m[1] ~= 'active' then
    return redis.error_reply('INACTIVE the member is not active')
end

local discount, points_pct = 100, 100
for i = 9, #ARGV, 3 do
    if ARGV[i] == m[2] then
        discount, points_pct = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
    end
end

local amount = tonumber(ARGV[4])
local charged = math.floor(amount * discount / 100)
local earned = math.floor(charged * tonumber(ARGV[7]) * points_pct
                          * tonumber(ARGV[8]) / 1000000)
local principal, bonus = tonumber(m[3] or 0), tonumber(m[4] or 0)
local from_principal, from_bonus = 0, 0

if ARGV[1] == 'pay' then
    if principal + bonus < charged then
        return redis.error_reply('INSUFFICIENT_BALANCE the stored value does not cover it')
    end
    from_principal = math.min(principal, charged)
    from_bonus = charged - from_principal
    principal = principal - from_principal
    bonus = bonus - from_bonus
end

local points = tonumber(m[5] or 0) + earned
redis.call('HSET', KEYS[1], 'principal_fen', principal, 'bonus_fen', bonus,
           'balance_fen', principal + bonus, 'points', points)
redis.call('HINCRBY', KEYS[1], 'spend_fen', charged)

local id = redis.call('XADD', KEYS[3], '*', 'type', ARGV[1],
                      'store_id', ARGV[2], 'order_id', ARGV[3],
                      'amount_fen', amount, 'charged_fen', charged,
                      'principal_fen', -from_principal, 'bonus_fen', -from_bonus,
                      'balance_fen', principal + bonus,
                      'points_delta', earned, 'points', points, 'ts', ARGV[6])

local answer = string.format(
    '{"order_id":"%s","charged_fen":%d,"points_earned":%d,"balance_fen":%d,'
    .. '"points":%d,"transaction_id":"%s"}',
    ARGV[3], charged, earned, principal + bonus, points, id)

redis.call('HSET', KEYS[4], 'kind', ARGV[1], 'fingerprint', ARGV[5],
           'answer', answer, 'charged_fen', charged,
           'principal_fen', from_principal, 'bonus_fen', from_bonus,
           'points', earned, 'transaction_id', id, 'ts', ARGV[6])
return answer
