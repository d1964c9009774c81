-- The fold's second step (docs/ledger.md): after fold.lua folded a member
-- into the brand's numbers, the member leaves its bucket's hints, unless
-- a hint came since the fold read its generation or entries are left.
-- Its own slot (the bucket's), apart from the brand's: a crash before it
-- leaves the member waiting, and fold.lua again folds nothing twice.
-- KEYS[1] {b:fold:<n>} (or {b}:fold), KEYS[2] its generations
-- ARGV: 1 member id, 2 its generation when the fold read it, 3 "1" when
--       more entries wait
-- Returns 1 when the member left, 0 when it waits again.
-- KEYS fold gen
-- ARGV member_id gen more
-- CHANGES none
local id = ARGV[1]
if ARGV[3] ~= '1' and (redis.call('HGET', KEYS[2], id) or '0') == ARGV[2] then
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    return 1
end
return 0
