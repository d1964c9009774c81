-- The campaigns' triggers on one member (docs/campaigns.md): welcome,
-- birthday, anniversary, recall and the referee's side of a referral.
-- Each fires once per member and period by construction: a marker in the
-- member hash, checked and set here with the points and the entry.
-- Points go as adjust.lua's credit does: a debt first, the rest into
-- this month's lot.
-- The notice of points expiring soon (docs/outbox.md) comes from here too:
-- once per lot, a message for the WeChat outbox.
-- KEYS[1] member hash, KEYS[2] ledger stream, KEYS[3] {m:<id>}:lots,
-- KEYS[4] {m:<id>}:wx:msgs
-- ARGV: 1 member id, 2 now, 3 year (China time), 4 today as MMDD,
--       5 another MMDD that is today ("0229" on 28 February of a common
--       year, else ""), 6 this month's lot, 7 rules version,
--       8 welcome points (-1: off), 9 welcome for activations since,
--       10 birthday points (-1: off), 11 birthday "month" or "day",
--       12 recall after silent seconds (0: off), 13 recall points,
--       14 anniversary points (-1: off), 15 referral on (1/0),
--       16 referee points, 17 the recall's coupon name ("": none),
--       18 the notice of expiring points this many seconds before (0: off)
-- Returns {id, points given, lot, referrer or "", referral state, recall
-- coupon, 1 when it wrote an entry or a message}: the state is none,
-- waiting (no purchase yet), pending (the referrer's side is to do) or
-- done; the recall coupon is the silence (its start) whose coupon is to
-- issue (coupon_issue.lua), or 0.
-- KEYS member ledger lots msgs
-- ARGV member_id now year today also_today lot version welcome_points
--      welcome_since birthday_points birthday_by recall_after recall_points
--      anniversary_points referral referee_points recall_coupon notice_before
-- CHANGES member by caller
-- DURABLE
local m = redis.call('HMGET', KEYS[1], 'status', 'points', 'points_debt',
                     'balance_fen', 'activated_at', 'birth_md',
                     'last_purchase_ts', 'period', 'welcome_at',
                     'birthday_year', 'anniversary_year', 'recall_for',
                     'referred_by', 'referral_given', 'referral_done',
                     'recall_coupon', 'wx_expiring_lot')
if m[1] ~= 'active' then
    return {ARGV[1], 0, 0, '', 'none', 0, 0}
end

local now, year = tonumber(ARGV[2]), tonumber(ARGV[3])
local points, debt = tonumber(m[2] or 0), tonumber(m[3] or 0)
local balance = tonumber(m[4] or 0)
local activated = tonumber(m[5] or '')
local given, wrote = 0, false

-- the China date of a unix time: year and MMDD
local function china_date(ts)
    local z = math.floor((ts + 28800) / 86400) + 719468
    local era = math.floor(z / 146097)
    local doe = z - era * 146097
    local yoe = math.floor((doe - math.floor(doe / 1460)
                            + math.floor(doe / 36524)
                            - math.floor(doe / 146096)) / 365)
    local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
    local mp = math.floor((5 * doy + 2) / 153)
    local d = doy - math.floor((153 * mp + 2) / 5) + 1
    local mo = mp < 10 and mp + 3 or mp - 9
    local y = yoe + era * 400 + (mo <= 2 and 1 or 0)
    return y, string.format('%02d%02d', mo, d)
end

local function today(md)
    return md == ARGV[4] or md == ARGV[5]
end

local function give(kind, n, ...)
    if n > 0 then
        local d = math.min(debt, n)
        debt = debt - d
        if n - d > 0 then
            redis.call('HINCRBY', KEYS[3], ARGV[6], n - d)
        end
        points = points + n
        given = given + n
    end
    wrote = true
    redis.call('XADD', KEYS[2], '*', 'type', kind, 'points_delta', n,
               'points', points, 'balance_fen', balance,
               'rules_version', ARGV[7], 'ts', ARGV[2], ...)
end

-- welcome: once, for an activation the rules saw
local wp = tonumber(ARGV[8])
if wp >= 0 and not m[9] and activated and activated >= tonumber(ARGV[9]) then
    give('welcome', wp)
    redis.call('HSET', KEYS[1], 'welcome_at', now)
end

-- birthday: once a year, in the month or on the day
local bp = tonumber(ARGV[10])
if bp >= 0 and m[6] and tonumber(m[10] or 0) < year
   and ((ARGV[11] == 'month'
         and string.sub(m[6], 1, 2) == string.sub(ARGV[4], 1, 2))
        or (ARGV[11] == 'day' and today(m[6])))
then
    give('birthday', bp, 'year', year)
    redis.call('HSET', KEYS[1], 'birthday_year', year)
end

-- anniversary of the activation: once a year, on the day
local ap = tonumber(ARGV[14])
if ap >= 0 and activated and tonumber(m[11] or 0) < year then
    local ay, amd = china_date(activated)
    if ay < year and today(amd) then
        give('anniversary', ap, 'year', year, 'years', year - ay)
        redis.call('HSET', KEYS[1], 'anniversary_year', year)
    end
end

-- recall: once per silence, which starts at the last purchase (or the
-- activation of a member who never bought)
local silent = tonumber(ARGV[12])
local since = tonumber(m[7] or '') or activated
if silent > 0 and since and now - since >= silent
   and tonumber(m[12] or -1) ~= since
then
    if ARGV[17] ~= '' then
        -- the coupon follows, issued under the key recall:<since>
        give('recall', tonumber(ARGV[13]), 'silent_since', since,
             'coupon', ARGV[17])
        redis.call('HSET', KEYS[1], 'recall_coupon', since)
        m[16] = since
    else
        give('recall', tonumber(ARGV[13]), 'silent_since', since)
    end
    redis.call('HSET', KEYS[1], 'recall_for', since)
end

-- referral: the referee's side at its first purchase; the referrer's is
-- referral.lua's, on the referrer's slot
local state, referrer = 'none', ''
if m[13] then
    referrer = m[13]
    if m[14] then
        state = m[15] and 'done' or 'pending'
    elseif not (m[7] or m[8]) then
        state = 'waiting'
    elseif ARGV[15] == '1' then
        give('referral', tonumber(ARGV[16]), 'role', 'referee',
             'referrer', m[13])
        redis.call('HSET', KEYS[1], 'referral_given', now)
        state = 'pending'
    end
end

if wrote then
    redis.call('HSET', KEYS[1], 'points', points, 'points_debt', debt)
end

-- points expiring soon: the lots due within the notice, once each (the
-- latest lot noticed is the marker)
local notice, noticed = tonumber(ARGV[18] or 0), 0
if notice > 0 then
    local lots = redis.call('HGETALL', KEYS[3])
    local last = tonumber(m[17] or 0)
    local sum, first, top = 0, 0, 0
    for i = 1, #lots, 2 do
        local at, n = tonumber(lots[i]), tonumber(lots[i + 1])
        if at > now and at <= now + notice and at > last and n > 0 then
            sum = sum + n
            if first == 0 or at < first then first = at end
            if at > top then top = at end
        end
    end
    if sum > 0 then
        redis.call('XADD', KEYS[4], '*', 'kind', 'points_expiring',
                   'expiring_points', sum, 'expire_at', first,
                   'points', points, 'ts', now)
        redis.call('HSET', KEYS[1], 'wx_expiring_lot', top)
        noticed = 1
    end
end

return {ARGV[1], given, tonumber(ARGV[6]), referrer, state,
        tonumber(m[16] or 0), (wrote or noticed == 1) and 1 or 0}
