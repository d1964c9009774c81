-- The analytics pass on one member (docs/analytics.md): its RFM scores
-- against the pass's quintile thresholds, its segment, automatic tags and
-- churn score, written into the member hash.  Recomputed from the hash
-- alone: running it twice is harmless.
-- KEYS[1] member hash
-- ARGV: 1 now, 2-5 thresholds of last_purchase_ts, 6-9 of orders,
--       10-13 of spend_fen (ascending quintile cut points), 14 the pass's
--       month "MM" (China time)
-- Returns {segment or "", churn score or -1, automatic tags, manual tags}
-- (tags comma separated), or {} for no member.
-- KEYS member
-- ARGV now recency1 recency2 recency3 recency4 orders1 orders2 orders3 orders4
--      spend1 spend2 spend3 spend4 month
-- CHANGES none
local h = redis.call('HMGET', KEYS[1], 'status', 'orders', 'spend_fen',
                     'last_purchase_ts', 'first_purchase_ts',
                     'activated_at', 'tags', 'birth_md')
if not h[1] or h[1] == 'visitor' or h[1] == 'deleted' then
    return {}
end

local DAY = 86400
local now = tonumber(ARGV[1])
local orders = tonumber(h[2] or 0) or 0
local spend = tonumber(h[3] or 0) or 0
local last = tonumber(h[4] or 0) or 0
local first = tonumber(h[5] or 0) or 0
local activated = tonumber(h[6] or 0) or 0
local tags = {}

local function score(v, at)
    local s = 1
    for k = at, at + 3 do
        if v >= tonumber(ARGV[k]) then s = s + 1 end
    end
    return s
end

if (first > 0 and now - first <= 30 * DAY)
   or (activated > 0 and now - activated <= 30 * DAY) then
    tags[#tags + 1] = 'new'
end

-- birth_md is "MMDD": a 29 February is in February, leap year or not
if h[8] and string.sub(h[8], 1, 2) == ARGV[14] then
    tags[#tags + 1] = 'birthday_month'
end

if orders == 0 or last == 0 then
    redis.call('HDEL', KEYS[1], 'rfm_r', 'rfm_f', 'rfm_m', 'rfm_segment',
               'churn_score')
    redis.call('HSET', KEYS[1], 'tags_auto', table.concat(tags, ','),
               'rfm_at', now)
    return {'', -1, table.concat(tags, ','), h[7] or ''}
end

if first == 0 or first > last then first = last end

local r, f, m = score(last, 2), score(orders, 6), score(spend, 10)
local names = {
    [7] = '重要价值客户', [3] = '重要保持客户', [5] = '重要发展客户',
    [1] = '重要挽留客户', [6] = '一般价值客户', [2] = '一般保持客户',
    [4] = '一般发展客户', [0] = '一般挽留客户'
}
local segment = names[(r >= 3 and 4 or 0) + (f >= 3 and 2 or 0)
                      + (m >= 3 and 1 or 0)]

-- the purchase cycle: the mean gap between purchases (30 days for one)
local cycle = 30 * DAY
if orders >= 2 and last > first then
    cycle = (last - first) / (orders - 1)
end
if cycle < DAY then cycle = DAY end

local idle = now - last
if idle < 0 then idle = 0 end
local overdue = (idle / cycle - 1) / 3
if overdue < 0 then overdue = 0 elseif overdue > 1 then overdue = 1 end
local slowing = idle / (now - first + cycle)
local churn = math.floor(70 * overdue + 30 * slowing + 0.5)
if churn > 100 then churn = 100 end

if m == 5 then
    tags[#tags + 1] = 'high_value'
end
if idle > 90 * DAY or (orders >= 2 and idle > 2 * cycle) then
    tags[#tags + 1] = 'lapsing'
end

redis.call('HSET', KEYS[1], 'rfm_r', r, 'rfm_f', f, 'rfm_m', m,
           'rfm_segment', segment, 'churn_score', churn,
           'tags_auto', table.concat(tags, ','), 'rfm_at', now)

return {segment, churn, table.concat(tags, ','), h[7] or ''}
