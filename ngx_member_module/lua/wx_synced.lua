-- The WeChat outbox: WeChat accepted a member's card values as of ledger
-- entry ARGV[1]; the cursor only moves forward.
-- KEYS[1] member hash
-- ARGV: 1 ledger entry id ("" none), 2 "1" after an activation, 3 now
-- KEYS member
-- ARGV entry activated now
-- CHANGES none
local synced = redis.call('HGET', KEYS[1], 'wx_synced') or ''

local function newer(a, b)
    if a == '' then return false end
    if b == '' then return true end
    local am, as = string.match(a, '^(%d+)-(%d+)$')
    local bm, bs = string.match(b, '^(%d+)-(%d+)$')
    if not am or not bm then return a ~= b end
    am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
    return am > bm or (am == bm and as > bs)
end

if newer(ARGV[1], synced) then
    redis.call('HSET', KEYS[1], 'wx_synced', ARGV[1])
end
if ARGV[2] == '1'
   and redis.call('HGET', KEYS[1], 'wx_card_status') == 'claimed' then
    redis.call('HSET', KEYS[1], 'wx_card_status', 'activated',
               'wx_card_activated_at', ARGV[3])
end
return 1
