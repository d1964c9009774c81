-- A page of a member's ledger, newest first, perhaps filtered.
-- KEYS[1] the key that must exist (the session, or the member hash),
-- KEYS[2] the ledger stream {m:<id>}:ledger
-- ARGV[1] the error when KEYS[1] is missing, ARGV[2] the exclusive upper
-- bound ("+" for the newest), ARGV[3] the page size, then the filters
-- ("" for none): ARGV[4] type, ARGV[5] from, ARGV[6] to (ts, inclusive),
-- ARGV[7] store id.
-- Answers {next, entries}: next is the cursor of the following page ("" at
-- the end).  A filtered page reads at most 1000 entries: it may hold fewer
-- than the page size, even none, and still have a next.
-- KEYS must_exist ledger
-- ARGV missing before count type from to store
-- CHANGES none
if redis.call('EXISTS', KEYS[1]) == 0 then
    return redis.error_reply(ARGV[1])
end

local limit = tonumber(ARGV[3])
local kind, store = ARGV[4], ARGV[7]
local from, to = tonumber(ARGV[5]), tonumber(ARGV[6])

if kind == '' and store == '' and not from and not to then
    local page = redis.call('XREVRANGE', KEYS[2], ARGV[2], '-', 'COUNT',
                            limit + 1)
    if #page > limit then
        page[limit + 1] = nil
        return {page[limit][1], page}
    end
    return {'', page}
end

local function wanted(fields)
    local f = {}
    for i = 1, #fields, 2 do f[fields[i]] = fields[i + 1] end
    local ts = tonumber(f.ts or 0)
    return (kind == '' or f.type == kind)
           and (store == '' or f.store_id == store)
           and (not from or ts >= from) and (not to or ts <= to)
end

local out, scanned, bound = {}, 0, ARGV[2]
while scanned < 1000 do
    local batch = redis.call('XREVRANGE', KEYS[2], bound, '-', 'COUNT', 200)
    for _, e in ipairs(batch) do
        scanned = scanned + 1
        bound = '(' .. e[1]
        if wanted(e[2]) then
            out[#out + 1] = e
            if #out == limit then
                return {e[1], out}
            end
        end
    end
    if #batch < 200 then
        return {'', out}
    end
end
return {string.sub(bound, 2), out}
