-- One more failed admin login from a client address, counted in a window
-- that starts with the first failure.
-- KEYS[1] {b}:admin:fail:<address>; ARGV: window (seconds)
-- KEYS fail
-- ARGV window
-- CHANGES none
local n = redis.call('INCR', KEYS[1])
if n == 1 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return n
