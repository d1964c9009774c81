-- A member's coupons and which of them are used.
-- KEYS[1] the key that must exist (the session, or the member hash),
-- KEYS[2] {m:<id>}:coupons, KEYS[3] {m:<id>}:coupons:used
-- ARGV[1] the error when KEYS[1] is missing
-- KEYS must_exist coupons used
-- ARGV missing
-- CHANGES none
if redis.call('EXISTS', KEYS[1]) == 0 then
    return redis.error_reply(ARGV[1])
end
return {redis.call('HGETALL', KEYS[2]), redis.call('HGETALL', KEYS[3])}
