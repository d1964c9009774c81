-- A WeChat Pay recharge order, stored before WeChat Pay is asked for it:
-- pending, its amount and the bonus the rules give now, the session's
-- openid.  Only an active member (a card holder) may order; an
-- out_trade_no is never used twice.  ARGV[1] "close" instead marks a
-- pending order closed (WeChat Pay refused it); a paid one stays paid.
-- KEYS[1] member hash {m:<id>}, KEYS[2] {m:<id>}:wxpay:<out_trade_no>
-- ARGV: what ("order" or "close"), amount_fen, bonus_fen, now, openid,
--       ttl of the order record, the reason of a close
-- KEYS member order
-- ARGV what amount_fen bonus_fen now openid ttl reason
-- CHANGES none
if ARGV[1] == 'close' then
    if redis.call('HGET', KEYS[2], 'state') ~= 'pending' then
        return 'unchanged'
    end
    redis.call('HSET', KEYS[2], 'state', 'closed', 'closed_at', ARGV[4],
               'reason', ARGV[7])
    return 'closed'
end

local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'visitor' or status == 'deleted' then
    return redis.error_reply('NOT_FOUND no card yet: claim or register first')
end
if status ~= 'active' then
    return redis.error_reply('INACTIVE the member is not active')
end
if redis.call('EXISTS', KEYS[2]) == 1 then
    return redis.error_reply('CONFLICT the out_trade_no was used')
end
redis.call('HSET', KEYS[2], 'state', 'pending', 'amount_fen', ARGV[2],
           'bonus_fen', ARGV[3], 'created_at', ARGV[4], 'openid', ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[6])
return 'pending'
