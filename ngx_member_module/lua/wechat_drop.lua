-- Drops a cached access_token that WeChat refused (40001, 40014, 42001),
-- unless another worker has replaced it meanwhile.
-- KEYS[1] the cached token; ARGV[1] the stored value that was refused
-- KEYS token
-- ARGV value
-- CHANGES none
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('DEL', KEYS[1])
    return 1
end
return 0
