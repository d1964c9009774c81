-- The fold's store copies (docs/ledger.md, "Brand totals: the fold"): a
-- member's ledger entries made at one store, appended to that store's
-- ledger in the store's own slot, not the brand's.  Idempotent on its
-- own, since it is not the slot of fold.lua's cursors: the store keeps the
-- member's last copied entry, moved in this same script, and entries at
-- or before it are skipped.  The fold sends it before fold.lua, so a
-- crash between the two copies nothing twice and loses nothing.
-- KEYS[1] {s:<store>}:ledger, KEYS[2] {s:<store>}:copied
-- ARGV: 1 member id, 2 entries, then per entry (oldest first): id, n, n
--       field/value pairs
-- Returns the entries copied now.
-- KEYS ledger copied
-- ARGV member_id entries entry...
-- CHANGES none
local id = ARGV[1]

local function newer(a, b)
    if not b then
        return true
    end
    local am, as = string.match(a, '^(%d+)-(%d+)$')
    local bm, bs = string.match(b, '^(%d+)-(%d+)$')
    am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
    return am > bm or (am == bm and as > bs)
end

local cursor = redis.call('HGET', KEYS[2], id)
local last = cursor
local copied = 0
local i = 3

for _ = 1, tonumber(ARGV[2]) do
    local eid, n = ARGV[i], tonumber(ARGV[i + 1])
    if not string.match(eid, '^%d+-%d+$') then
        error('store_copy: not an entry id')
    end
    local flat = {}
    for j = i + 2, i + 1 + 2 * n do
        flat[#flat + 1] = ARGV[j]
    end
    i = i + 2 + 2 * n

    if newer(eid, last) then
        last = eid
        copied = copied + 1
        redis.call('XADD', KEYS[1], '*', 'member_id', id,
                   'transaction_id', eid, unpack(flat))
    end
end

if last and last ~= cursor then
    redis.call('HSET', KEYS[2], id, last)
end
return copied
