-- Counts a failed verification of a store: guessing codes is what fails.
-- KEYS[1] {s:<store>}:fail:<minute>
-- KEYS fail
-- ARGV (none)
-- CHANGES none
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], 120) end
return n
