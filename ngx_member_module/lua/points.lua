-- The session's member's points and the lots that expire soon.
-- KEYS[1] session, KEYS[2] member hash, KEYS[3] {m:<id>}:lots
-- ARGV: now, the horizon (now + 30 days)
-- Returns status, points, then expiry, points of each lot due by the
-- horizon and not yet swept.
-- KEYS session member lots
-- ARGV now horizon
-- CHANGES none
if redis.call('EXISTS', KEYS[1]) == 0 then
    return redis.error_reply('UNAUTHORIZED no such session')
end
local m = redis.call('HMGET', KEYS[2], 'status', 'points')
local out = {m[1] or '', m[2] or '0'}
local flat = redis.call('HGETALL', KEYS[3])
local lots = {}
for i = 1, #flat, 2 do
    local at = tonumber(flat[i])
    if at ~= 0 and at <= tonumber(ARGV[2]) then
        lots[#lots + 1] = {at, flat[i + 1]}
    end
end
table.sort(lots, function(a, b) return a[1] < b[1] end)
for _, lot in ipairs(lots) do
    out[#out + 1] = tostring(lot[1])
    out[#out + 1] = lot[2]
end
return out
