-- Gives a store a new secret: a new nonce (and the current key id) to
-- derive it from; the old secret stops working.
-- KEYS[1] the stores hash; ARGV[1] store id, ARGV[2] key id, ARGV[3] nonce,
-- ARGV[4] now
-- KEYS stores
-- ARGV id key_id nonce now
-- CHANGES none
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then
    return redis.error_reply('NOT_FOUND no such store')
end
local store = cjson.decode(raw)
store.key = ARGV[2]
store.nonce = ARGV[3]
store.rotated_at = tonumber(ARGV[4])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(store))
return 'OK'
