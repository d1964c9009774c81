-- A new version of the brand's rules; every earlier version is kept.
-- KEYS[1] {rules} (version, json, updated_at, clock), KEYS[2]
-- {rules}:versions (version -> json)
-- ARGV: the validated rules as compact JSON, now
-- KEYS rules versions
-- ARGV json now
-- CHANGES none
local v = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'json', ARGV[1], 'updated_at', ARGV[2])
redis.call('HSET', KEYS[2], v, ARGV[1])
return v
