-- A manual points adjustment by the brand, idempotent: a credit pays a
-- debt first and goes into this month's lot, a debit leaves the oldest
-- lots first and never makes the points negative.  Lots whose time has
-- come expire first (an "expire" entry each), as in pay.lua.
-- KEYS[1] member hash, KEYS[2] ledger stream, KEYS[3] idempotency record,
-- KEYS[4] {m:<id>}:lots
-- ARGV: delta, reason, fingerprint, now, ttl of the record, the key,
--       this month's lot (its expiry, 0: never)
-- KEYS member ledger idem lots
-- ARGV delta reason fingerprint now ttl idem_key lot
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

local m = redis.call('HMGET', KEYS[1], 'status', 'points', 'points_debt',
                     'balance_fen')
if not m[1] or m[1] == 'visitor' then
    return redis.error_reply('NOT_FOUND no such member')
end

local delta = tonumber(ARGV[1])
local now = tonumber(ARGV[4])
local points, debt = tonumber(m[2] or 0), tonumber(m[3] or 0)
local balance = tonumber(m[4] or 0)

-- the lots, oldest first; those whose time has come expire with this
-- change (a debit never takes expired points), worked out in memory so
-- that a refused debit writes nothing
local flat = redis.call('HGETALL', KEYS[4])
local all, lots, expired = {}, {}, {}
for i = 1, #flat, 2 do
    all[#all + 1] = {tonumber(flat[i]), tonumber(flat[i + 1])}
end
table.sort(all, function(a, b)
    if a[1] == 0 then return false end
    if b[1] == 0 then return true end
    return a[1] < b[1]
end)
for _, lot in ipairs(all) do
    if lot[1] ~= 0 and lot[1] <= now then
        points = points - lot[2]
        expired[#expired + 1] = {lot[1], lot[2], points}
    else
        lots[#lots + 1] = lot
    end
end

if delta < 0 and points + delta < 0 then
    return redis.error_reply('INSUFFICIENT_POINTS not enough points')
end
-- the points stay below 10^15: an exact integer in Lua (< 2^53)
if points + delta > 1000000000000000 then
    return redis.error_reply('LIMIT_EXCEEDED the points would pass their maximum')
end

for _, e in ipairs(expired) do
    redis.call('HDEL', KEYS[4], e[1])
    redis.call('XADD', KEYS[2], '*', 'type', 'expire', 'lot', e[1],
               'points_delta', -e[2], 'points', e[3], 'balance_fen', balance,
               'ts', ARGV[4])
end

if delta > 0 then
    local n = math.min(debt, delta)
    debt = debt - n
    if delta - n > 0 then
        redis.call('HINCRBY', KEYS[4], ARGV[7], delta - n)
    end
else
    local left = -delta
    for _, lot in ipairs(lots) do
        if left == 0 then break end
        local n = math.min(left, lot[2])
        if n == lot[2] then
            redis.call('HDEL', KEYS[4], lot[1])
        else
            redis.call('HINCRBY', KEYS[4], lot[1], -n)
        end
        left = left - n
    end
end
points = points + delta
redis.call('HSET', KEYS[1], 'points', points, 'points_debt', debt)

local id = redis.call('XADD', KEYS[2], '*', 'type', 'adjust',
                      'points_delta', delta, 'points', points,
                      'balance_fen', balance, 'reason', ARGV[2],
                      'idempotency_key', ARGV[6], 'ts', ARGV[4])

local answer = string.format('{"points":%d,"delta":%d,"transaction_id":"%s"}',
                             points, delta, id)
redis.call('SET', KEYS[3], ARGV[3] .. '\n' .. answer, 'EX', ARGV[5])
return answer
