-- The WeChat outbox's messages (docs/outbox.md): the next one of a member.
-- First the ledger's entries after wx_msg_seen become messages of the kinds
-- the rules configure (balance: recharge, pay, refund that moved stored
-- value; birthday: the trigger's entry); then the oldest message is either
-- skipped (recorded in the log, never retried) or claimed: marked in
-- flight, a subscription taken, and returned to be sent.
-- KEYS[1] member hash, KEYS[2] its ledger, KEYS[3] {m:<id>}:wx:msgs,
-- KEYS[4] {m:<id>}:wx:subs, KEYS[5] {m:<id>}:wx:msglog
-- ARGV: 1 now (ms), 2 the ledger's now (s), 3 an entry older than this
--       many seconds makes no message, 4 a flight older than this many ms
--       was lost, 5..10 channel and template id of balance,
--       points_expiring and birthday ("" "": off)
-- Returns {"none"}, {"busy"} (another call is in flight) or {"send", msg
-- id, kind, channel, template id, openid, card_no, points, field/value
-- pairs of the message...}.
-- KEYS member ledger msgs subs msglog
-- ARGV now_ms now since flight balance_channel balance_template
--      expiring_channel expiring_template birthday_channel birthday_template
-- CHANGES none
local now, today = tonumber(ARGV[1]), tonumber(ARGV[2])
local h = redis.call('HMGET', KEYS[1], 'status', 'openid',
                     'consent_marketing', 'wx_msg_seen', 'wx_msg_flight',
                     'card_no', 'points')
local conf = {
    balance = {ARGV[5], ARGV[6]},
    points_expiring = {ARGV[7], ARGV[8]},
    birthday = {ARGV[9], ARGV[10]}
}

local function fields(list)
    local f = {}
    for i = 1, #list, 2 do f[list[i]] = list[i + 1] end
    return f
end

-- the ledger: entries after the cursor (a first look starts at the last
-- window of time: the history makes no messages)
local seen = h[4]
if not seen then
    seen = string.format('%d-0', now - tonumber(ARGV[3]) * 1000)
end
local moved = false
for _ = 1, 20 do
    local batch = redis.call('XRANGE', KEYS[2], '(' .. seen, '+',
                             'COUNT', 100)
    for _, e in ipairs(batch) do
        local f = fields(e[2])
        local kind, amount = nil, 0
        if f.type == 'recharge' then
            amount = tonumber(f.amount_fen or 0) + tonumber(f.bonus_fen or 0)
        elseif f.type == 'pay' or f.type == 'refund' then
            amount = tonumber(f.principal_fen or 0)
                     + tonumber(f.bonus_fen or 0)
        end
        if amount ~= 0 then
            kind = 'balance'
        elseif f.type == 'birthday' then
            kind = 'birthday'
        end
        if kind and conf[kind][1] ~= ''
           and tonumber(f.ts or 0) >= today - tonumber(ARGV[3]) then
            redis.call('XADD', KEYS[3], '*', 'kind', kind, 'entry', e[1],
                       'type', f.type, 'amount_fen', amount,
                       'balance_fen', f.balance_fen or '0',
                       'points', f.points or '0',
                       'points_delta', f.points_delta or '0',
                       'ts', f.ts or '0')
        end
        seen = e[1]
        moved = true
    end
    if #batch < 100 then break end
end
if moved or not h[4] then
    redis.call('HSET', KEYS[1], 'wx_msg_seen', seen)
end

local function log(id, kind, outcome, reason)
    redis.call('XADD', KEYS[5], 'MAXLEN', '~', 100, '*', 'msg', id,
               'kind', kind, 'outcome', outcome, 'reason', reason,
               'ts', today)
end

-- the oldest message: skipped, or claimed
while true do
    local m = redis.call('XRANGE', KEYS[3], '-', '+', 'COUNT', 1)[1]
    if not m then
        return {'none'}
    end
    local id, f = m[1], fields(m[2])
    local c = conf[f.kind] or {'', ''}
    local reason
    if c[1] == '' then
        reason = 'not configured'
    elseif h[1] ~= 'active' then
        reason = 'not a member'
    elseif not h[2] or h[2] == '' then
        reason = 'no openid'
    elseif h[3] == '0' then
        reason = 'no consent'
    elseif c[1] == 'subscribe'
           and tonumber(redis.call('HGET', KEYS[4], c[2]) or 0) < 1 then
        reason = 'no subscription'
    end

    local fid, fat = string.match(h[5] or '', '^(.+)|(%d+)$')
    if fid == id then
        if now - tonumber(fat) < tonumber(ARGV[4]) then
            return {'busy'}
        end
        -- a call whose answer was lost: it may have reached WeChat, and a
        -- message is never sent twice
        log(id, f.kind, 'lost', 'no answer')
        redis.call('XDEL', KEYS[3], id)
        redis.call('HDEL', KEYS[1], 'wx_msg_flight')
        h[5] = nil
    elseif reason then
        log(id, f.kind or '', 'skipped', reason)
        redis.call('XDEL', KEYS[3], id)
    else
        if c[1] == 'subscribe' then
            redis.call('HINCRBY', KEYS[4], c[2], -1)
        end
        redis.call('HSET', KEYS[1], 'wx_msg_flight', id .. '|' .. now)
        local out = {'send', id, f.kind, c[1], c[2], h[2], h[6] or '',
                     h[7] or '0'}
        for i = 1, #m[2] do out[#out + 1] = m[2][i] end
        return out
    end
end
