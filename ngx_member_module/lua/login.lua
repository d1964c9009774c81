-- Opens a session for a WeChat openid whose member id is known.
-- KEYS[1] member hash {m:<id>}, KEYS[2] session {m:<id>}:s:<hash>
-- ARGV: id, openid, unionid ("" when none), session_key, ttl, now
-- A first login makes a visitor record: the member it becomes once the
-- card is claimed or registered keeps the same id, so tokens stay valid.
-- Returns the member's status.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
    redis.call('HSET', KEYS[1], 'id', ARGV[1], 'openid', ARGV[2],
               'status', 'visitor', 'created_at', ARGV[6])
    status = 'visitor'
elseif redis.call('HGET', KEYS[1], 'openid') ~= ARGV[2] then
    return redis.error_reply('CONFLICT openid index points elsewhere')
end
if ARGV[3] ~= '' then
    redis.call('HSET', KEYS[1], 'unionid', ARGV[3])
end
redis.call('HSET', KEYS[2], 'openid', ARGV[2], 'session_key', ARGV[4],
           'created_at', ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return status
