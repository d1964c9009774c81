-- Reads the brand's tag sets for the admin API: each set's size and a page
-- of its member ids (SSCAN from the cursor, ids in ascending order).
-- KEYS[1] {b}:tags (every manual tag name in use)
-- ARGV: 1 page size (0: sizes only), 2 cursor, then the sets' names after
--       {b}:tag: (none: the automatic tags and every manual tag)
-- Returns {name, size, next cursor ("0": the end), {ids}, ...}.
-- KEYS tags
-- ARGV count cursor names...
-- CHANGES none
local names = {}
for i = 3, #ARGV do names[#names + 1] = ARGV[i] end
if #names == 0 then
    names = {'new', 'high_value', 'lapsing', 'birthday_month'}
    local manual = redis.call('SMEMBERS', KEYS[1])
    table.sort(manual)
    for _, t in ipairs(manual) do names[#names + 1] = t end
end

local limit = tonumber(ARGV[1])
local out = {}
for _, name in ipairs(names) do
    local key = '{b}:tag:' .. name
    local ids, cursor = {}, '0'
    if limit > 0 then
        local page = redis.call('SSCAN', key, ARGV[2], 'COUNT', limit)
        cursor, ids = page[1], page[2]
        table.sort(ids, function(a, b) return tonumber(a) < tonumber(b) end)
    end
    out[#out + 1] = name
    out[#out + 1] = redis.call('SCARD', key)
    out[#out + 1] = cursor
    out[#out + 1] = ids
end
return out
