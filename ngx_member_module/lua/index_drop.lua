-- Removes an index entry (phone:<hmac>, openid:<openid>) if it still
-- names this member.
-- KEYS[1] the index key; ARGV[1] the member id
-- KEYS index
-- ARGV member_id
-- CHANGES none
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('DEL', KEYS[1])
    return 1
end
return 0
