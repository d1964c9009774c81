-- A member's manual tags (POST members/<id>/tags): the names to add, then
-- those to remove; at most 20 tags are kept.  The brand's tag sets follow
-- in a second step (tag_sets.lua, another slot).
-- KEYS[1] member hash
-- ARGV: 1 how many names to add, then the names to add, then to remove
-- Returns the member's manual tags after it, comma separated.
-- KEYS member
-- ARGV nadd names...
-- CHANGES none
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'visitor' then
    return redis.error_reply('NOT_FOUND no such member')
end

local list, seen = {}, {}
for t in string.gmatch(redis.call('HGET', KEYS[1], 'tags') or '', '[^,]+') do
    list[#list + 1] = t
    seen[t] = true
end

local nadd = tonumber(ARGV[1])
for i = 2, nadd + 1 do
    if not seen[ARGV[i]] then
        list[#list + 1] = ARGV[i]
        seen[ARGV[i]] = true
    end
end

local drop = {}
for i = nadd + 2, #ARGV do drop[ARGV[i]] = true end

local kept = {}
for _, t in ipairs(list) do
    if not drop[t] then kept[#kept + 1] = t end
end

if #kept > 20 then
    return redis.error_reply('TOO_MANY_TAGS a member has at most 20 tags')
end

redis.call('HSET', KEYS[1], 'tags', table.concat(kept, ','))
return table.concat(kept, ',')
