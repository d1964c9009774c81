-- A purchase at a till: "pay" from stored value, or "earn" when paid
-- otherwise (docs/ledger.md).  Expires what is due and closes an ended
-- tier period first; then the tier's price, points redeemed from the
-- oldest lots, the money part from principal first and bonus after,
-- points earned into this month's lot (a debt first), and an upgrade.
-- A coupon comes off after the tier's discount and before the points.
-- KEYS[1] member hash, KEYS[2] the ticket (the key of the code it spent),
-- KEYS[3] ledger stream,
-- KEYS[4] {m:<id>}:order:<store>:<order id>, KEYS[5] {m:<id>}:lots,
-- KEYS[6] {m:<id>}:coupons, KEYS[7] {m:<id>}:coupons:used
-- ARGV: 1 kind (pay|earn), 2 store id, 3 order id, 4 amount_fen,
--       5 fingerprint, 6 now, 7 per_yuan (0 at an excluded store),
--       8 campaign points_pct, 9 this month's lot (its expiry, 0: never),
--       10 tier period, 11 points to redeem, 12 redeem_fen_per_point,
--       13 redeem_min_points, 14 downgrade steps (-1: no limit),
--       15 rules version, 16 coupon id ("" for none), 17 what the ticket
--       holds ("<store> <sha256 of its secret>"), 18 the order record's
--       lifetime (s), then the tiers as level, min_spend_fen,
--       discount_pct, points_pct, ... lowest first
-- Inputs are bounded by the glue (amount_fen <= 10^8, points <= 10^9);
-- the member's totals are kept below MAX, so every number here stays an
-- exact integer in Lua's doubles (below 2^53).
-- KEYS member ticket ledger order lots coupons coupons_used
-- ARGV kind store order amount_fen fingerprint now per_yuan points_pct lot
--      period redeem_points fen_per_point min_points steps version coupon
--      ticket order_ttl tiers...
-- CHANGES member
-- DURABLE
local MAX = 1000000000000000
local seen = redis.call('HGET', KEYS[4], 'answer')
if seen then
    if redis.call('HGET', KEYS[4], 'fingerprint') == ARGV[5] then
        return seen
    end
    return redis.error_reply('CONFLICT the order id was used for another purchase')
end

if redis.call('GET', KEYS[2]) ~= ARGV[17] then
    return redis.error_reply('TICKET_UNKNOWN no such ticket for this store')
end
local m = redis.call('HMGET', KEYS[1], 'status', 'level', 'principal_fen',
                     'bonus_fen', 'points', 'points_debt', 'period',
                     'period_spend_fen', 'spend_fen')
if m[1] ~= 'active' then
    return redis.error_reply('INACTIVE the member is not active')
end

local now = tonumber(ARGV[6])
local principal, bonus = tonumber(m[3] or 0), tonumber(m[4] or 0)
local points, debt = tonumber(m[5] or 0), tonumber(m[6] or 0)
local level = m[2]

-- the coupon, checked before anything is written: the member's own,
-- unused, valid now, its minimum reached by the order's price
local coupon, c = ARGV[16], nil
if coupon ~= '' then
    local terms = redis.call('HGET', KEYS[6], coupon)
    if not terms then
        return redis.error_reply('COUPON_UNKNOWN the member has no such coupon')
    end
    if redis.call('HEXISTS', KEYS[7], coupon) == 1 then
        return redis.error_reply('COUPON_USED the coupon was used')
    end
    c = cjson.decode(terms)
    if now < c.valid_from or now >= c.expires_at then
        return redis.error_reply('COUPON_NOT_VALID the coupon is not valid now')
    end
    if tonumber(ARGV[4]) < (c.min_spend_fen or 0) then
        return redis.error_reply('COUPON_MIN_SPEND the order is below the coupon minimum')
    end
end

local tiers = {}
for i = 19, #ARGV, 4 do
    tiers[#tiers + 1] = {level = ARGV[i], min = tonumber(ARGV[i + 1]),
                         discount = tonumber(ARGV[i + 2]),
                         points_pct = tonumber(ARGV[i + 3])}
end

local function tier_index(name)
    for i, t in ipairs(tiers) do
        if t.level == name then return i end
    end
    return 1
end

local function tier_reached(spend)
    local n = 1
    for i, t in ipairs(tiers) do
        if spend >= t.min then n = i end
    end
    return n
end

local function lots_oldest_first()
    local flat = redis.call('HGETALL', KEYS[5])
    local lots = {}
    for i = 1, #flat, 2 do
        lots[#lots + 1] = {tonumber(flat[i]), tonumber(flat[i + 1])}
    end
    table.sort(lots, function(a, b)
        if a[1] == 0 then return false end
        if b[1] == 0 then return true end
        return a[1] < b[1]
    end)
    return lots
end

local function entry(...)
    return redis.call('XADD', KEYS[3], '*', ...)
end

-- what is due (lots whose time has come, an ended tier period) is worked
-- out in memory: it is written only once every check has passed, so a
-- refused purchase writes nothing (the sweep expires those lots)
local lots, expired = {}, {}
for _, lot in ipairs(lots_oldest_first()) do
    if lot[1] ~= 0 and lot[1] <= now then
        points = points - lot[2]
        expired[#expired + 1] = {lot[1], lot[2], points}
    else
        lots[#lots + 1] = lot
    end
end

local period = tonumber(ARGV[10])
local spend = tonumber(m[8] or 0)
local period_end = nil
if m[7] and tonumber(m[7]) < period then
    local ended = tonumber(m[7])
    local last = (ended == period - 1) and spend or 0
    local cur, want = tier_index(level), tier_reached(last)
    local steps = tonumber(ARGV[14])
    if steps >= 0 and want < cur - steps * (period - ended) then
        want = cur - steps * (period - ended)
    end
    if want < cur then
        period_end = {level, tiers[want].level, last}
        level = tiers[want].level
    end
    spend = 0
end

local tier = tiers[tier_index(level)]
local amount = tonumber(ARGV[4])
local charged = math.floor(amount * tier.discount / 100)

local coupon_fen = 0
if c then
    if c.type == 'cash' then
        coupon_fen = math.min(c.value_fen, charged)
    elseif c.type == 'percent' then
        coupon_fen = math.floor(charged * c.pct / 100)
        if (c.cap_fen or 0) > 0 and coupon_fen > c.cap_fen then
            coupon_fen = c.cap_fen
        end
    end
end
local due = charged - coupon_fen

-- 抵现: points at the brand's rate, never more than the price
local redeem = tonumber(ARGV[11])
local redeemed_fen = 0
if redeem > 0 then
    local rate = tonumber(ARGV[12])
    if rate <= 0 or redeem < tonumber(ARGV[13]) or redeem * rate > due then
        return redis.error_reply('BAD_REDEEM the points cannot be redeemed for this purchase')
    end
    if redeem > points then
        return redis.error_reply('INSUFFICIENT_POINTS not enough points')
    end
    redeemed_fen = redeem * rate
end
local paid = due - redeemed_fen

local from_principal, from_bonus = 0, 0
if ARGV[1] == 'pay' then
    if principal + bonus < paid then
        return redis.error_reply('INSUFFICIENT_BALANCE the stored value does not cover it')
    end
    from_principal = math.min(principal, paid)
    from_bonus = paid - from_principal
end

-- floor(paid * per_yuan * points_pct * campaign_pct / 10^6), exactly: the
-- product may pass 2^53, so the money part is split at 10^6 first
local base = paid * tonumber(ARGV[7])
local pct = tier.points_pct * tonumber(ARGV[8])
local whole = math.floor(base / 1000000)
local earned = whole * pct + math.floor((base - whole * 1000000) * pct
                                        / 1000000)
if points - redeem + earned > MAX or spend + paid > MAX
   or tonumber(m[9] or 0) + paid > MAX then
    return redis.error_reply('LIMIT_EXCEEDED the member\'s points or spend would pass their maximum')
end

-- every check passed: from here on the purchase is written
for _, e in ipairs(expired) do
    redis.call('HDEL', KEYS[5], e[1])
    entry('type', 'expire', 'lot', e[1], 'points_delta', -e[2],
          'points', e[3], 'balance_fen', principal + bonus, 'ts', now)
end
if period_end then
    entry('type', 'tier', 'from', period_end[1], 'to', period_end[2],
          'reason', 'period_end', 'period_spend_fen', period_end[3],
          'points', points, 'balance_fen', principal + bonus, 'ts', now)
end
principal = principal - from_principal
bonus = bonus - from_bonus

-- the redeemed points leave the oldest lots first; which, for a refund
local taken = {}
local left = redeem
for _, lot in ipairs(lots) do
    if left == 0 then break end
    local n = math.min(left, lot[2])
    if n == lot[2] then
        redis.call('HDEL', KEYS[5], lot[1])
    else
        redis.call('HINCRBY', KEYS[5], lot[1], -n)
    end
    taken[#taken + 1] = lot[1] .. ':' .. n
    left = left - n
end
points = points - redeem

local to_lot = earned
if debt > 0 then
    local n = math.min(debt, to_lot)
    debt = debt - n
    to_lot = to_lot - n
end
if to_lot > 0 then
    redis.call('HINCRBY', KEYS[5], ARGV[9], to_lot)
end
points = points + earned

spend = spend + paid
local from_level = level
local up = tier_reached(spend)
if up > tier_index(level) then
    level = tiers[up].level
end

redis.call('HSET', KEYS[1], 'principal_fen', principal, 'bonus_fen', bonus,
           'balance_fen', principal + bonus, 'points', points,
           'points_debt', debt, 'level', level, 'period', period,
           'period_spend_fen', spend)

-- what analytics reads (docs/keys.md): recency, frequency, money
redis.call('HINCRBY', KEYS[1], 'spend_fen', paid)
redis.call('HINCRBY', KEYS[1], 'orders', 1)
redis.call('HSET', KEYS[1], 'last_purchase_ts', now)
redis.call('HSETNX', KEYS[1], 'first_purchase_ts', now)
if coupon ~= '' then
    redis.call('HSET', KEYS[7], coupon, ARGV[2] .. ':' .. ARGV[3])
end

local id = entry('type', ARGV[1], 'store_id', ARGV[2], 'order_id', ARGV[3],
                 'amount_fen', amount, 'charged_fen', charged,
                 'coupon_id', coupon, 'coupon_fen', coupon_fen,
                 'redeemed_fen', redeemed_fen, 'paid_fen', paid,
                 'principal_fen', -from_principal, 'bonus_fen', -from_bonus,
                 'balance_fen', principal + bonus,
                 'points_redeemed', redeem, 'points_earned', earned,
                 'points_delta', earned - redeem, 'points', points,
                 'level', from_level, 'rules_version', ARGV[15], 'ts', now)

if level ~= from_level then
    entry('type', 'tier', 'from', from_level, 'to', level,
          'reason', 'spend', 'period_spend_fen', spend, 'points', points,
          'balance_fen', principal + bonus, 'ts', now)
end

local answer = string.format(
    '{"order_id":"%s","charged_fen":%d,"coupon_id":%s,"coupon_fen":%d,'
    .. '"redeemed_fen":%d,"paid_fen":%d,'
    .. '"points_redeemed":%d,"points_earned":%d,"balance_fen":%d,'
    .. '"points":%d,"level":"%s","transaction_id":"%s"}',
    ARGV[3], charged, coupon == '' and 'null' or '"' .. coupon .. '"',
    coupon_fen, redeemed_fen, paid, redeem, earned, principal + bonus,
    points, level, id)

redis.call('HSET', KEYS[4], 'kind', ARGV[1], 'fingerprint', ARGV[5],
           'answer', answer, 'charged_fen', charged, 'paid_fen', paid,
           'coupon_id', coupon, 'coupon_fen', coupon_fen,
           'principal_fen', from_principal, 'bonus_fen', from_bonus,
           'points', earned, 'lot', ARGV[9], 'redeemed', table.concat(taken, ','),
           'transaction_id', id, 'ts', now)
redis.call('EXPIRE', KEYS[4], ARGV[18])
return answer
