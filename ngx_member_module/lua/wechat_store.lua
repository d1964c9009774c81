-- Ends a refresh of the brand's access_token or a ticket: stores what it
-- got and releases the lock, if the lock is still this refresher's.
-- KEYS[1] the cached value, KEYS[2] its lock (one slot: {wx:<appid>:<kind>})
-- ARGV: owner, value, ttl in ms
--   value "" only releases the lock (an early refresh failed: the current
--   value stays); "!" remembers a failure for ttl, unless a value is there.
-- KEYS value lock
-- ARGV owner value ttl
-- CHANGES none
if ARGV[2] == '!' then
    redis.call('SET', KEYS[1], '!', 'PX', ARGV[3], 'NX')
elseif ARGV[2] ~= '' then
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
if redis.call('GET', KEYS[2]) == ARGV[1] then
    redis.call('DEL', KEYS[2])
end
return 'OK'
