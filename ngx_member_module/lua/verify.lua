-- Spends a member's dynamic code and opens a checkout ticket.
-- KEYS[1] member hash, KEYS[2] {m:<id>}:code:<step> (the code, spent),
-- KEYS[3] {m:<id>}:t:<sha256 of the ticket's secret>
-- ARGV: store id, ticket ttl, spent-code ttl, now
-- Returns the member's card_no, level, points, balance_fen, name.
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'active' then
    return redis.error_reply('UNKNOWN_CODE no active member for that code')
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'EX', ARGV[3]) == false then
    return redis.error_reply('CODE_USED the code was used before')
end
redis.call('HSET', KEYS[3], 'store_id', ARGV[1], 'created_at', ARGV[4])
redis.call('EXPIRE', KEYS[3], ARGV[2])
return redis.call('HMGET', KEYS[1], 'card_no', 'level', 'points',
                  'balance_fen', 'name_masked')
