-- Reads the brand's tag sets for the admin API: each set's size and a page
-- of its member ids (SSCAN from the cursor, ids in ascending order).
-- KEYS: the sets, {b}:tag:<name> (the caller knows their names)
-- ARGV: 1 page size (0: sizes only), 2 cursor
-- Returns {size, next cursor ("0": the end), {ids}, ...}, a set after the
-- other.
-- KEYS sets...
-- ARGV count cursor
-- CHANGES none
local limit = tonumber(ARGV[1])
local out = {}
for _, key in ipairs(KEYS) do
    local ids, cursor = {}, '0'
    if limit > 0 then
        local page = redis.call('SSCAN', key, ARGV[2], 'COUNT', limit)
        cursor, ids = page[1], page[2]
        table.sort(ids, function(a, b) return tonumber(a) < tonumber(b) end)
    end
    out[#out + 1] = redis.call('SCARD', key)
    out[#out + 1] = cursor
    out[#out + 1] = ids
end
return out
