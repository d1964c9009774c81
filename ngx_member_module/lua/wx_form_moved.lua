-- The openid's own record, whose wallet card went to the member that has
-- the activation form's phone (docs/outbox.md): it ends merged into that
-- member, without the openid and the card; its ledger, if any, stays.
-- KEYS[1] member hash {m:<id>}
-- ARGV: the member it went to, the openid, now
-- Returns 1, or 0 when the record is not that openid's active one.
-- KEYS member
-- ARGV target openid now
-- CHANGES member
local m = redis.call('HMGET', KEYS[1], 'status', 'openid')
if m[1] ~= 'active' or m[2] ~= ARGV[2] then
    return 0
end
redis.call('HSET', KEYS[1], 'status', 'merged', 'merged_into', ARGV[1],
           'merged_at', ARGV[3])
redis.call('HDEL', KEYS[1], 'openid', 'wx_card_id', 'wx_card_code',
           'wx_card_status', 'wx_card_claimed_at', 'wx_form', 'wx_form_at',
           'wx_form_error')
return 1
