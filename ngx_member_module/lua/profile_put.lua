-- Changes a member's own data (sealed values, name_masked).
-- KEYS[1] member hash {m:<id>}; ARGV: field/value pairs
-- NOCARD unless the member is active.
-- KEYS member
-- ARGV fields...
-- CHANGES none
if redis.call('HGET', KEYS[1], 'status') ~= 'active' then
    return redis.error_reply('NOCARD no card yet')
end
for i = 1, #ARGV, 2 do
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
return 'OK'
