-- The analytics pass, first half (docs/analytics.md): one slice of members'
-- values into the brand's sorted sets, the cursor with them; after the last
-- slice, the quintile cut points and the second half's start.
-- KEYS[1] {b}:rfm:state, KEYS[2] {b}:rfm:r, KEYS[3] {b}:rfm:f,
-- KEYS[4] {b}:rfm:m
-- ARGV: 1 the next member id, 2 "1" after the last slice, then per member
--       id, last_purchase_ts, orders, spend_fen (orders 0: no purchase)
-- Returns the state's phase after it.
-- KEYS state r f m
-- ARGV next last members...
-- CHANGES none
for i = 3, #ARGV, 4 do
    local id = ARGV[i]
    if tonumber(ARGV[i + 2]) > 0 then
        redis.call('ZADD', KEYS[2], ARGV[i + 1], id)
        redis.call('ZADD', KEYS[3], ARGV[i + 2], id)
        redis.call('ZADD', KEYS[4], ARGV[i + 3], id)
    else
        redis.call('ZREM', KEYS[2], id)
        redis.call('ZREM', KEYS[3], id)
        redis.call('ZREM', KEYS[4], id)
    end
end

if ARGV[2] ~= '1' then
    redis.call('HSET', KEYS[1], 'cursor', ARGV[1])
    return 'collect'
end

-- cut point k of n ascending values: the value of rank floor(k * n / 5)
local n = redis.call('ZCARD', KEYS[3])
for s, name in ipairs({'r', 'f', 'm'}) do
    for k = 1, 4 do
        local t = 0
        if n > 0 then
            local rank = math.floor(k * n / 5)
            t = redis.call('ZRANGE', KEYS[s + 1], rank, rank, 'WITHSCORES')[2]
        end
        redis.call('HSET', KEYS[1], name .. k, t)
    end
end

redis.call('HSET', KEYS[1], 'phase', 'score', 'cursor', 1, 'ranked', n)
return 'score'
