-- Adds a store to the brand's stores, once.
-- KEYS[1] the stores hash; ARGV[1] store id, ARGV[2] its record (JSON)
-- KEYS stores
-- ARGV id record
-- CHANGES none
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
    return redis.error_reply('STORE_EXISTS a store with that id exists')
end
return 'OK'
