-- The brand's tag sets after a member's manual tags changed (tags.lua).
-- KEYS[1] {b}:tags (every manual tag name in use)
-- ARGV: 1 member id, 2 how many names were added, then the added names,
--       then the removed ones
-- KEYS tags
-- ARGV member_id nadd names...
-- CHANGES none
local id, nadd = ARGV[1], tonumber(ARGV[2])
for i = 3, #ARGV do
    if i <= nadd + 2 then
        redis.call('SADD', '{b}:tag:' .. ARGV[i], id)
        redis.call('SADD', KEYS[1], ARGV[i])
    else
        redis.call('SREM', '{b}:tag:' .. ARGV[i], id)
    end
end
return 1
