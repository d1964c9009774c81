-- A member's feedback: its record in the brand's feedback hash, listed
-- among all, the open ones and the member's own; at most ARGV[3] a day.
-- KEYS[1] {b}:feedback, KEYS[2] {b}:feedback:all, KEYS[3] {b}:feedback:open,
-- KEYS[4] {b}:feedback:m:<id>, KEYS[5] {b}:feedback:quota:<id>
-- ARGV: feedback id (ordered by time), record (JSON), limit, window
-- KEYS feedback all open mine quota
-- ARGV id record limit window
-- CHANGES none
local n = tonumber(redis.call('GET', KEYS[5]) or 0)
if n >= tonumber(ARGV[3]) then
    return redis.error_reply('RATE_LIMITED too much feedback today')
end
if redis.call('INCR', KEYS[5]) == 1 then
    redis.call('EXPIRE', KEYS[5], ARGV[4])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
redis.call('ZADD', KEYS[3], 0, ARGV[1])
redis.call('ZADD', KEYS[4], 0, ARGV[1])
return ARGV[1]
