-- The expiry timer's work on one member (docs/ledger.md): lots whose time
-- has come expire (one entry each), an ended tier period closes (a
-- downgrade entry when the level falls).  Only what is due: running it
-- twice or late is harmless.  Returns the member's next due time (0: none).
-- KEYS[1] member hash, KEYS[2] ledger stream, KEYS[3] {m:<id>}:lots
-- ARGV: 1 now, 2 tier period, 3 its end, 4 downgrade steps (-1: no
--       limit), then the tiers as level, min_spend_fen, ... lowest first
-- KEYS member ledger lots
-- ARGV now period period_end steps tiers...
-- CHANGES member
-- DURABLE
local m = redis.call('HMGET', KEYS[1], 'status', 'level', 'points',
                     'balance_fen', 'period', 'period_spend_fen')
if not m[1] then
    return 0
end

local now = tonumber(ARGV[1])
local points, balance = tonumber(m[3] or 0), tonumber(m[4] or 0)
local next_due = 0

local flat = redis.call('HGETALL', KEYS[3])
local lots = {}
for i = 1, #flat, 2 do
    lots[#lots + 1] = {tonumber(flat[i]), tonumber(flat[i + 1])}
end
table.sort(lots, function(a, b) return a[1] < b[1] end)

for _, lot in ipairs(lots) do
    if lot[1] ~= 0 and lot[1] <= now then
        redis.call('HDEL', KEYS[3], lot[1])
        points = points - lot[2]
        redis.call('XADD', KEYS[2], '*', 'type', 'expire', 'lot', lot[1],
                   'points_delta', -lot[2], 'points', points,
                   'balance_fen', balance, 'ts', now)
    elseif lot[1] ~= 0 and next_due == 0 then
        next_due = lot[1]
    end
end

local period = tonumber(ARGV[2])
local level = m[2]
if m[5] and tonumber(m[5]) < period then
    local tiers, cur, want = {}, 1, 1
    for i = 5, #ARGV, 2 do
        tiers[#tiers + 1] = ARGV[i]
        if ARGV[i] == level then cur = #tiers end
    end
    local ended = tonumber(m[5])
    local last = (ended == period - 1) and tonumber(m[6] or 0) or 0
    for i = 5, #ARGV, 2 do
        if last >= tonumber(ARGV[i + 1]) then want = (i - 3) / 2 end
    end
    local steps = tonumber(ARGV[4])
    if steps >= 0 and want < cur - steps * (period - ended) then
        want = cur - steps * (period - ended)
    end
    if want < cur then
        redis.call('XADD', KEYS[2], '*', 'type', 'tier', 'from', level,
                   'to', tiers[want], 'reason', 'period_end',
                   'period_spend_fen', last, 'points', points,
                   'balance_fen', balance, 'ts', now)
        level = tiers[want]
    end
    redis.call('HSET', KEYS[1], 'level', level, 'period', period,
               'period_spend_fen', 0)
end

redis.call('HSET', KEYS[1], 'points', points)

local period_end = tonumber(ARGV[3])
if m[5] and (next_due == 0 or period_end < next_due) then
    next_due = period_end
end
return next_due
