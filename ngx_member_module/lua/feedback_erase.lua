-- DELETE profile: the member's feedback goes with their personal data,
-- records and listings.  Answers how many went.
-- KEYS[1] {b}:feedback, KEYS[2] {b}:feedback:all, KEYS[3] {b}:feedback:open,
-- KEYS[4] {b}:feedback:answered, KEYS[5] {b}:feedback:m:<id>,
-- KEYS[6] {b}:feedback:quota:<id>
-- KEYS feedback all open answered mine quota
-- ARGV (none)
-- CHANGES none
local ids = redis.call('ZRANGE', KEYS[5], 0, -1)
for _, id in ipairs(ids) do
    redis.call('HDEL', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
    redis.call('ZREM', KEYS[4], id)
end
redis.call('DEL', KEYS[5], KEYS[6])
return #ids
