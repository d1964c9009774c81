-- Spends the (timestamp, nonce) of a signed official-account push.  The
-- pair remembers its message: the same message again (WeChat retrying it)
-- passes, to be answered again; another message under it is refused.
-- KEYS[1] oa:n:<appid>:<timestamp>:<nonce>
-- ARGV: the message's identity (openid:MsgId, or openid:time:type:event),
--       ttl (as long as the timestamp can be accepted)
-- Returns 'NEW' or 'RETRY'; REPLAY for another message.
-- KEYS nonce
-- ARGV message ttl
-- CHANGES none
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
    return 'NEW'
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return 'RETRY'
end
return redis.error_reply('REPLAY the nonce was used before')
