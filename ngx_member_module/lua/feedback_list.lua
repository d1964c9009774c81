-- A page of feedback records, newest first: ids from a list (sorted set,
-- one score, ids ordered by time), records from the brand's hash.
-- KEYS[1] the list, KEYS[2] {b}:feedback
-- ARGV: start ("+" or "(<id>"), how many
-- KEYS list feedback
-- ARGV start count
-- CHANGES none
local ids = redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[1], '-', 'LIMIT', 0,
                       tonumber(ARGV[2]))
if #ids == 0 then
    return {}
end
return redis.call('HMGET', KEYS[2], unpack(ids))
