-- A coupon template of the brand: the next id "t<n>" and its terms.
-- KEYS[1] {b}:coupon:seq, KEYS[2] {b}:coupon:tpl
-- ARGV[1] the template (JSON, validated by the glue)
-- KEYS seq templates
-- ARGV template
-- CHANGES none
local id = 't' .. redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[2], id, ARGV[1])
return id
