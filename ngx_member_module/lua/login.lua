-- Opens a session for a WeChat openid whose member id is known.
-- KEYS[1] member hash {m:<id>}, KEYS[2] session {m:<id>}:s:<hash>
-- ARGV: id, openid, unionid ("" when none), session_key, ttl, now
-- A first login makes a visitor record: the member it becomes once the
-- card is claimed or registered keeps the same id, so tokens stay valid.
-- Returns the member's status.  ARGV[5] is the session's ttl, ARGV[6] now.
-- KEYS member session
-- ARGV id openid unionid session_key ttl now
-- CHANGES member when visitor
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

-- The session's end, copied into the member hash, lets a card be read
-- with one HMGET; copies that have ended go at the next login.
local now = tonumber(ARGV[6])
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 2) == 's:' and tonumber(fields[i + 1]) <= now then
        redis.call('HDEL', KEYS[1], fields[i])
    end
end
redis.call('HSET', KEYS[1], 's:' .. string.match(KEYS[2], ':s:(%x+)$'),
           now + tonumber(ARGV[5]))
return status
