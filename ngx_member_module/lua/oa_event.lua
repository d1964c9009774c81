-- A member-card event pushed to the official account, applied once.
-- KEYS[1] member hash {m:<id>}, KEYS[2] activity stream {m:<id>}:activity,
-- KEYS[3] the event's dedupe record {m:<id>}:oa:<MsgId or time:type:event>
-- ARGV: event, id, card_no (the id's), openid, unionid ("" when none),
--       now, dedupe ttl, the referrer its OuterStr's invite code names
--       ("" when none), then the event's fields as name, value, ...
--       (card_id, card_code, outer_str, gifted, friend_openid, ...)
-- user_get_card makes the openid's record a member with that card, or
-- links the card to the member it is, and links the member to the
-- referrer as POST register's invite_code does (docs/campaigns.md);
-- submit_membercard_user_info marks the activation form to read (the
-- outbox reads it, registers and activates); user_del_card marks it
-- removed and keeps the rest.  Every event goes to the activity stream.
-- Returns 'APPLIED', 'LINKED' (applied, and a referrer linked), or
-- 'DUPLICATE' when WeChat retried it.
-- KEYS member activity dedupe
-- ARGV event id card_no openid unionid now ttl referrer fields...
-- CHANGES member
local event, id, now, referrer = ARGV[1], ARGV[2], ARGV[6], ARGV[8]
local f = {}
for i = 9, #ARGV, 2 do
    f[ARGV[i]] = ARGV[i + 1]
end

local m = redis.call('HMGET', KEYS[1], 'status', 'openid', 'wx_card_code')
if m[1] and m[2] ~= ARGV[4] then
    return redis.error_reply('CONFLICT openid index points elsewhere')
end
if redis.call('SET', KEYS[3], now, 'NX', 'EX', ARGV[7]) == false then
    return 'DUPLICATE'
end

local status, linked = m[1], false
if not status then
    -- first sight of this openid: a visitor record, as a login makes
    redis.call('HSET', KEYS[1], 'id', id, 'openid', ARGV[4],
               'status', 'visitor', 'created_at', now)
    status = 'visitor'
end
if ARGV[5] ~= '' then
    redis.call('HSET', KEYS[1], 'unionid', ARGV[5])
end

-- a card makes a visitor a member, as member_create.lua does
local function member()
    if status == 'visitor' then
        redis.call('HSET', KEYS[1], 'card_no', ARGV[3], 'level', 'normal',
                   'status', 'active', 'points', 0, 'balance_fen', 0,
                   'principal_fen', 0, 'bonus_fen', 0, 'activated_at', now)
        status = 'active'
    end
end

if event == 'user_get_card' then
    member()
    redis.call('HSET', KEYS[1], 'wx_card_id', f.card_id or '',
               'wx_card_code', f.card_code or '', 'wx_card_status', 'claimed',
               'wx_card_claimed_at', now,
               'wx_card_gifted', f.gifted == '1' and '1' or '0')
    if f.outer_str then
        -- the channel the member first came through stays
        redis.call('HSETNX', KEYS[1], 'channel', f.outer_str)
    end
    -- one referrer, never oneself, only for a member who never bought
    if referrer ~= '' and referrer ~= id and status == 'active' then
        local r = redis.call('HMGET', KEYS[1], 'referred_by', 'period',
                             'last_purchase_ts')
        if not (r[1] or r[2] or r[3]) then
            redis.call('HSET', KEYS[1], 'referred_by', referrer,
                       'referred_via', 'wallet', 'referred_at', now)
            linked = true
        end
    end
elseif event == 'submit_membercard_user_info' then
    member()
    -- WeChat hears of the activation from the outbox, which reads the
    -- form first (docs/outbox.md): until it accepts, the card is claimed
    if redis.call('HGET', KEYS[1], 'wx_card_status') ~= 'activated' then
        redis.call('HSET', KEYS[1], 'wx_card_status', 'claimed',
                   'wx_form', 'submitted', 'wx_form_at', now)
        redis.call('HDEL', KEYS[1], 'wx_form_error')
    end
    if f.card_code then
        redis.call('HSETNX', KEYS[1], 'wx_card_code', f.card_code)
    end
    if f.card_id then
        redis.call('HSETNX', KEYS[1], 'wx_card_id', f.card_id)
    end
elseif event == 'user_del_card' then
    -- only the card the member holds; an older one was replaced already
    if not m[3] or m[3] == '' or f.card_code == m[3] then
        redis.call('HSET', KEYS[1], 'wx_card_status', 'removed',
                   'wx_card_removed_at', now)
    end
end

local entry = { 'event', event }
for i = 9, #ARGV do
    entry[#entry + 1] = ARGV[i]
end
if linked then
    entry[#entry + 1] = 'referred_by'
    entry[#entry + 1] = referrer
end
entry[#entry + 1] = 'ts'
entry[#entry + 1] = now
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 1000, '*', unpack(entry))
return linked and 'LINKED' or 'APPLIED'
