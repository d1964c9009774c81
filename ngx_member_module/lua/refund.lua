-- Reverses an order exactly, once (docs/ledger.md): the stored value it
-- took goes back where it came from (principal, bonus), the redeemed
-- points back into their lots (points_restored), the earned points are
-- taken back (points_returned: their lot first, then the oldest, then as
-- a debt), the period spend goes down, the coupon it used is usable
-- again (until its own expiry), the analytics counters go down.
-- KEYS[1] member hash, KEYS[2] ledger stream, KEYS[3] the order,
-- KEYS[4] {m:<id>}:lots, KEYS[5] {m:<id>}:coupons:used
-- ARGV: store id, order id, now
-- KEYS member ledger order lots coupons_used
-- ARGV store order now
-- CHANGES member
-- DURABLE
local o = redis.call('HMGET', KEYS[3], 'kind', 'principal_fen', 'bonus_fen',
                     'points', 'refund', 'paid_fen', 'lot', 'redeemed',
                     'charged_fen', 'coupon_id')
if not o[1] then
    return redis.error_reply('ORDER_UNKNOWN no such order for this store')
end
if o[5] then
    return o[5]
end

local m = redis.call('HMGET', KEYS[1], 'principal_fen', 'bonus_fen', 'points',
                     'points_debt', 'period_spend_fen', 'spend_fen',
                     'orders')
local back_p, back_b = tonumber(o[2]), tonumber(o[3])
local principal = tonumber(m[1] or 0) + back_p
local bonus = tonumber(m[2] or 0) + back_b
local points, debt = tonumber(m[3] or 0), tonumber(m[4] or 0)
local paid = tonumber(o[6] or o[9])

-- the redeemed points go back to the lots they came from
local returned = 0
for lot, n in string.gmatch(o[8] or '', '(%d+):(%d+)') do
    redis.call('HINCRBY', KEYS[4], lot, n)
    returned = returned + tonumber(n)
end

-- the earned points leave their lot, then the oldest, then a debt
local earned = tonumber(o[4])
local left = earned
local function take(lot)
    local have = tonumber(redis.call('HGET', KEYS[4], lot) or 0)
    local n = math.min(have, left)
    if n > 0 then
        if n == have then
            redis.call('HDEL', KEYS[4], lot)
        else
            redis.call('HINCRBY', KEYS[4], lot, -n)
        end
        left = left - n
    end
end
if o[7] then take(o[7]) end
if left > 0 then
    local flat = redis.call('HGETALL', KEYS[4])
    local lots = {}
    for i = 1, #flat, 2 do lots[#lots + 1] = tonumber(flat[i]) end
    table.sort(lots, function(a, b)
        if a == 0 then return false end
        if b == 0 then return true end
        return a < b
    end)
    for _, lot in ipairs(lots) do
        if left == 0 then break end
        take(lot)
    end
end
debt = debt + left
points = points + returned - earned

local spend = math.max(0, tonumber(m[5] or 0) - paid)
redis.call('HSET', KEYS[1], 'principal_fen', principal, 'bonus_fen', bonus,
           'balance_fen', principal + bonus, 'points', points,
           'points_debt', debt, 'period_spend_fen', spend,
           'spend_fen', math.max(0, tonumber(m[6] or 0) - paid),
           'orders', math.max(0, tonumber(m[7] or 0) - 1))

-- the coupon comes back, if this order is what used it
local coupon = o[10] or ''
if coupon ~= '' and redis.call('HGET', KEYS[5], coupon)
                    == ARGV[1] .. ':' .. ARGV[2] then
    redis.call('HDEL', KEYS[5], coupon)
end

local id = redis.call('XADD', KEYS[2], '*', 'type', 'refund',
                      'store_id', ARGV[1], 'order_id', ARGV[2],
                      'refunded_fen', back_p + back_b,
                      'principal_fen', back_p, 'bonus_fen', back_b,
                      'balance_fen', principal + bonus, 'paid_fen', -paid,
                      'points_restored', returned, 'points_returned', earned,
                      'points_delta', returned - earned, 'points', points,
                      'coupon_id', coupon, 'ts', ARGV[3])

local answer = string.format(
    '{"order_id":"%s","refunded_fen":%d,"points_returned":%d,'
    .. '"points_restored":%d,"coupon_returned":%s,"balance_fen":%d,'
    .. '"points":%d,"transaction_id":"%s"}',
    ARGV[2], back_p + back_b, earned, returned,
    coupon == '' and 'null' or '"' .. coupon .. '"', principal + bonus,
    points, id)
redis.call('HSET', KEYS[3], 'refund', answer)
return answer
