-- The brand answers a feedback: the answer (sealed by the glue) into its
-- record, the record from the open list to the answered one.  Answers the
-- status it had.
-- KEYS[1] {b}:feedback, KEYS[2] {b}:feedback:open, KEYS[3] {b}:feedback:answered
-- ARGV: feedback id, sealed answer, now, who answered
-- KEYS feedback open answered
-- ARGV id answer now who
-- CHANGES none
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then
    return redis.error_reply('NOT_FOUND no such feedback')
end
local record = cjson.decode(raw)
local was = record.status
record.status = 'answered'
record.answer = ARGV[2]
record.answered_at = tonumber(ARGV[3])
record.answered_by = ARGV[4]
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(record))
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], 0, ARGV[1])
return was
