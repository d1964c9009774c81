-- The record of an admin key, unless its client address failed too often.
-- The glue compares the key's hash with the record's in constant time.
-- KEYS[1] {b}:admin:keys, KEYS[2] {b}:admin:fail:<address>
-- ARGV: key id, failures allowed per window
-- KEYS keys fail
-- ARGV key_id allowed
-- CHANGES none
local failed = tonumber(redis.call('GET', KEYS[2]) or 0)
if failed >= tonumber(ARGV[2]) then
    return redis.error_reply('RATE_LIMITED too many failed admin logins')
end
return redis.call('HGET', KEYS[1], ARGV[1])
