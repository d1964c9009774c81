-- The WeChat outbox (docs/outbox.md): what one member's wallet card needs.
-- KEYS[1] member hash, KEYS[2] its ledger stream
-- Returns {action, code, card_id, points, balance_fen, last ledger entry id,
-- record text, card_no, openid}; action "update" when the ledger has an
-- entry newer than wx_synced (the last one WeChat accepted), "activate"
-- when a registered member (or one with a phone) holds a claimed card,
-- "form" when a member not registered yet submitted WeChat's activation
-- form (submit_membercard_user_info), else "none" (also for a card
-- claimed by a member not registered yet: its activation will carry them).
-- KEYS member ledger
-- ARGV (none)
-- CHANGES none
local h = redis.call('HMGET', KEYS[1], 'status', 'wx_card_code',
                     'wx_card_id', 'wx_card_status', 'points', 'balance_fen',
                     'wx_synced', 'card_no', 'registered_at',
                     'phone_index', 'wx_form', 'openid')
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1]
local id, kind = '', ''
if last then
    id = last[1]
    for i = 1, #last[2], 2 do
        if last[2][i] == 'type' then kind = last[2][i + 1] end
    end
end

local texts = {
    recharge = '充值', pay = '消费', earn = '消费积分', refund = '退款',
    adjust = '积分调整', expire = '积分过期', redeem = '积分抵现',
    coupon = '优惠券', welcome = '开卡礼', birthday = '生日礼',
    recall = '回馈礼', referral = '推荐奖励', tier = '等级变更'
}

local function newer(a, b)
    if a == '' then return false end
    if b == '' then return true end
    local am, as = string.match(a, '^(%d+)-(%d+)$')
    local bm, bs = string.match(b, '^(%d+)-(%d+)$')
    if not am or not bm then return a ~= b end
    am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
    return am > bm or (am == bm and as > bs)
end

local action = 'none'
if h[1] == 'active' and h[2] and h[2] ~= '' and h[3] and h[3] ~= ''
   and h[4] ~= 'removed' then
    if h[4] == 'claimed' then
        -- not activated yet: the activation carries the values
        if h[9] or (h[10] and h[10] ~= '') then
            action = 'activate'
        elseif h[11] == 'submitted' then
            -- the form's answers register the member first
            action = 'form'
        end
    elseif newer(id, h[7] or '') then
        action = 'update'
    end
end

return {action, h[2] or '', h[3] or '', h[5] or '0', h[6] or '0', id,
        texts[kind] or '会员变动', h[8] or '', h[12] or ''}
