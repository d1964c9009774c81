-- The door of a signed scanner request: its nonce is single use, and a
-- verify counts against the store's and the address' rate limits, and is
-- refused while the store has failed too many verifications this minute.
-- KEYS[1] {s:<store>}:n:<nonce>, KEYS[2] {s:<store>}:rl:<minute>,
-- KEYS[3] {s:<store>}:rla:<address>:<minute>, KEYS[4] {s:<store>}:fail:<minute>
-- ARGV: nonce ttl, per-store limit (0: not counted), per-address limit,
--       failed verifications allowed
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) == false then
    return redis.error_reply('REPLAY the nonce was used before')
end
if tonumber(ARGV[2]) > 0 then
    if tonumber(redis.call('GET', KEYS[4]) or 0) >= tonumber(ARGV[4]) then
        return redis.error_reply('RATE_LIMITED too many failed verifications')
    end
    local store = redis.call('INCR', KEYS[2])
    local address = redis.call('INCR', KEYS[3])
    if store == 1 then redis.call('EXPIRE', KEYS[2], 120) end
    if address == 1 then redis.call('EXPIRE', KEYS[3], 120) end
    if store > tonumber(ARGV[2]) or address > tonumber(ARGV[3]) then
        return redis.error_reply('RATE_LIMITED too many verifications')
    end
end
return 'OK'
