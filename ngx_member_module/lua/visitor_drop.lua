-- Drops a visitor record whose openid was linked to an existing member,
-- and the session that named it.
-- KEYS[1] member hash {m:<id>}, KEYS[2] session {m:<id>}:s:<hash>
-- KEYS member session
-- ARGV (none)
-- CHANGES none
if redis.call('HGET', KEYS[1], 'status') == 'visitor' then
    redis.call('DEL', KEYS[1])
else
    redis.call('HDEL', KEYS[1], 's:' .. string.match(KEYS[2], ':s:(%x+)$'))
end
redis.call('DEL', KEYS[2])
return 1
