-- The brand's tag sets after a member's manual tags changed (tags.lua).
-- KEYS[1] {b}:tags (every manual tag name in use), then {b}:tag:<tag> of
-- each added tag, in the order of ARGV[2], then of each removed one
-- ARGV: 1 member id, 2 the added names, comma separated (a tag's name
--       holds no comma)
-- KEYS tags sets...
-- ARGV member_id added
-- CHANGES none
local id, k = ARGV[1], 2
for t in string.gmatch(ARGV[2], '[^,]+') do
    redis.call('SADD', KEYS[k], id)
    redis.call('SADD', KEYS[1], t)
    k = k + 1
end
for i = k, #KEYS do
    redis.call('SREM', KEYS[i], id)
end
return 1
