-- Reverses an order exactly: the stored value it took goes back where it
-- came from (principal, bonus), the points it gave are taken back.  Once.
-- KEYS[1] member hash, KEYS[2] ledger stream, KEYS[3] the order
-- ARGV: store id, order id, now
local o = redis.call('HMGET', KEYS[3], 'kind', 'principal_fen', 'bonus_fen',
                     'points', 'refund', 'charged_fen')
if not o[1] then
    return redis.error_reply('ORDER_UNKNOWN no such order for this store')
end
if o[5] then
    return o[5]
end

local m = redis.call('HMGET', KEYS[1], 'principal_fen', 'bonus_fen', 'points')
local principal = tonumber(m[1] or 0) + tonumber(o[2])
local bonus = tonumber(m[2] or 0) + tonumber(o[3])
local points = tonumber(m[3] or 0) - tonumber(o[4])
redis.call('HSET', KEYS[1], 'principal_fen', principal, 'bonus_fen', bonus,
           'balance_fen', principal + bonus, 'points', points)
redis.call('HINCRBY', KEYS[1], 'spend_fen', -tonumber(o[6]))

local id = redis.call('XADD', KEYS[2], '*', 'type', 'refund',
                      'store_id', ARGV[1], 'order_id', ARGV[2],
                      'refunded_fen', tonumber(o[2]) + tonumber(o[3]),
                      'principal_fen', o[2], 'bonus_fen', o[3],
                      'balance_fen', principal + bonus,
                      'points_delta', -tonumber(o[4]), 'points', points,
                      'ts', ARGV[3])

local answer = string.format(
    '{"order_id":"%s","refunded_fen":%d,"points_returned":%d,'
    .. '"balance_fen":%d,"points":%d,"transaction_id":"%s"}',
    ARGV[2], tonumber(o[2]) + tonumber(o[3]), tonumber(o[4]),
    principal + bonus, points, id)
redis.call('HSET', KEYS[3], 'refund', answer)
return answer
