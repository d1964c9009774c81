-- The WeChat outbox's hint set after a member's turn.  Done: the member
-- leaves {b}:wx unless a change came meanwhile (its hint moved the score).
-- Failed: the member comes back after a backoff that doubles each time.
-- KEYS[1] {b}:wx, KEYS[2] {b}:wx:tries
-- ARGV: 1 member id, 2 its score when read, 3 "1" done / "0" failed,
--       4 now (ms), 5 first backoff (ms), 6 longest backoff (ms)
-- Returns the backoff (0 when done).
-- KEYS wx tries
-- ARGV member_id score done now backoff_min backoff_max
-- CHANGES none
local id = ARGV[1]
if ARGV[3] == '1' then
    local score = redis.call('ZSCORE', KEYS[1], id)
    if score and tonumber(score) == tonumber(ARGV[2]) then
        redis.call('ZREM', KEYS[1], id)
    end
    redis.call('HDEL', KEYS[2], id)
    return 0
end
local n = redis.call('HINCRBY', KEYS[2], id, 1)
local delay = tonumber(ARGV[5]) * 2 ^ math.min(n - 1, 20)
if delay > tonumber(ARGV[6]) then delay = tonumber(ARGV[6]) end
redis.call('ZADD', KEYS[1], tonumber(ARGV[4]) + delay, id)
return delay
