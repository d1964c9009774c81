-- The fold (docs/ledger.md, "Brand totals: the fold"): one member's new
-- ledger entries and current status and level, into the brand's numbers.
-- Idempotent by construction: entries at or before the member's cursor
-- are skipped, the status and level counts move from the member's last
-- folded state to its current one, so running it twice changes nothing.
-- The brand's slot only: the entries' copies in their stores' ledgers
-- are made before it, each in its store's slot (store_copy.lua), and the
-- member leaves its bucket's hints afterwards (fold_done.lua), so a crash
-- between any two folds nothing twice.
-- KEYS[1] {b}:cursors, KEYS[2] {b}:totals, KEYS[3] {b}:members, then every
-- {b}:day:<date> the entries and the member name, each once; the script
-- names them by their place in KEYS, never by a name of its own
-- ARGV: 1 member id, 2 status ("" when no record), 3 level, 4 the place
--       in KEYS of the day it became a member ("0" when none), 5 entries,
--       then per entry: id, the place in KEYS of its day (China time), n,
--       n field/value pairs
-- Returns the entries folded now.
-- KEYS cursors totals members days...
-- ARGV member_id status level since entries entry...
-- CHANGES none
local id = ARGV[1]

local function key(place)
    local k = tonumber(place)
    if not k or k < 4 or k > #KEYS then
        error('fold: no key at ' .. tostring(place))
    end
    return KEYS[k]
end

local function num(v)
    return tonumber(v or 0) or 0
end

local function newer(a, b)
    if not b then
        return true
    end
    local am, as = string.match(a, '^(%d+)-(%d+)$')
    local bm, bs = string.match(b, '^(%d+)-(%d+)$')
    am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
    return am > bm or (am == bm and as > bs)
end

local totals = {}
local function add(name, n)
    if n ~= 0 then
        totals[name] = (totals[name] or 0) + n
    end
end

-- the member: status counts, level counts of card holders, new members
local function counted(status)
    return status ~= '' and status ~= 'visitor' and status ~= 'deleted'
end

local old = redis.call('HGET', KEYS[3], id)
local old_status, old_level = '', ''
if old then
    old_status, old_level = string.match(old, '^([^|]*)|(.*)$')
end
local status, level = ARGV[2], ARGV[3]
if not counted(status) then
    level = ''
end

if old_status ~= status or old_level ~= level then
    if old_status ~= '' then
        add('status:' .. old_status, -1)
    end
    if old_level ~= '' then
        add('level:' .. old_level, -1)
    end
    if status ~= '' then
        add('status:' .. status, 1)
    end
    if level ~= '' then
        add('level:' .. level, 1)
    end
    if (old_status == '' or old_status == 'visitor')
       and status ~= '' and status ~= 'visitor' and ARGV[4] ~= '0' then
        local since = key(ARGV[4])
        redis.call('HINCRBY', since, 'new_members', 1)
    end
    if status == '' then
        redis.call('HDEL', KEYS[3], id)
    else
        redis.call('HSET', KEYS[3], id, status .. '|' .. level)
    end
end

-- the entries after the cursor
local cursor = redis.call('HGET', KEYS[1], id)
local last = cursor
local folded = 0
local i = 6

for _ = 1, tonumber(ARGV[5]) do
    local eid, day = ARGV[i], ARGV[i + 1]
    local n = tonumber(ARGV[i + 2])
    local f = {}
    for j = i + 3, i + 2 + 2 * n, 2 do
        f[ARGV[j]] = ARGV[j + 1]
    end
    i = i + 3 + 2 * n

    if newer(eid, last) then
        last = eid
        folded = folded + 1

        local t = f.type or ''
        if t == 'refund' and f.of == 'recharge' then
            t = 'recharge_refund'
        end
        local principal, bonus = num(f.principal_fen), num(f.bonus_fen)
        if t == 'recharge' then
            principal = num(f.amount_fen)
        end
        local points = num(f.points_delta)

        add('principal_fen', principal)
        add('bonus_fen', bonus)
        add('balance_fen', principal + bonus)
        add('points', points)
        add('entries', 1)

        local d = {}
        local function day_add(name, v)
            if v ~= 0 then
                d[#d + 1] = name
                d[#d + 1] = v
            end
        end

        if t ~= '' then
            day_add(t, 1)
        end
        day_add('principal_delta_fen', principal)
        day_add('bonus_delta_fen', bonus)
        day_add('points_delta', points)

        -- a recharge's channel, and its refund's, other than the admin's
        -- (entries before channels have none, and their days were folded
        -- without): what it added and the liability it leaves, principal
        -- and bonus (docs/ledger.md); a channel that is no plain name is
        -- "other" (it names a field)
        local channel = f.channel or 'admin'
        if not string.match(channel, '^[a-z0-9_]+$') or #channel > 16 then
            channel = 'other'
        end
        local function channel_add(name, v)
            if channel ~= 'admin' then
                day_add((string.gsub(name, '<c>', channel)), v)
            end
        end

        if (t == 'recharge' or t == 'recharge_refund')
           and channel ~= 'admin' then
            add('liability_' .. channel .. '_fen', principal + bonus)
            channel_add('liability_<c>_delta_fen', principal + bonus)
        end

        if t == 'recharge' then
            day_add('recharge_fen', num(f.amount_fen))
            day_add('bonus_fen', num(f.bonus_fen))
            channel_add('recharge_<c>_fen', num(f.amount_fen))
            channel_add('bonus_<c>_fen', num(f.bonus_fen))
        elseif t == 'pay' or t == 'earn' then
            day_add(t .. '_fen', num(f.paid_fen))
            day_add('sales_fen', num(f.paid_fen))
            day_add('redeemed_fen', num(f.redeemed_fen))
            day_add('points_earned', num(f.points_earned))
            day_add('points_redeemed', num(f.points_redeemed))
        elseif t == 'refund' then
            day_add('refund_fen', num(f.refunded_fen))
            day_add('sales_fen', num(f.paid_fen))
            day_add('points_returned', num(f.points_returned))
            day_add('points_restored', num(f.points_restored))
        elseif t == 'recharge_refund' then
            day_add('recharge_refund_fen', num(f.refunded_fen))
            channel_add('recharge_refund_<c>_fen', num(f.refunded_fen))
        elseif t == 'expire' then
            day_add('points_expired', -points)
        elseif t == 'adjust' then
            day_add('points_adjusted', points)
        end

        local dk = key(day)
        for j = 1, #d, 2 do
            redis.call('HINCRBY', dk, d[j], d[j + 1])
        end
    end
end

if last and last ~= cursor then
    redis.call('HSET', KEYS[1], id, last)
end

for name, n in pairs(totals) do
    redis.call('HINCRBY', KEYS[2], name, n)
end
return folded
