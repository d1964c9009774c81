-- A member's one-time subscriptions to the brand's subscribe messages, as
-- wx.requestSubscribeMessage reported them accepted: one send each
-- (docs/outbox.md).
-- KEYS[1] member hash, KEYS[2] {m:<id>}:wx:subs
-- ARGV: 1 the most kept per template, then template ids (none: a read)
-- Returns the hash's template id/count pairs; NOCARD unless active.
-- KEYS member subs
-- ARGV most templates...
-- CHANGES none
if redis.call('HGET', KEYS[1], 'status') ~= 'active' then
    return redis.error_reply('NOCARD no card yet')
end
local most = tonumber(ARGV[1])
for i = 2, #ARGV do
    if redis.call('HINCRBY', KEYS[2], ARGV[i], 1) > most then
        redis.call('HSET', KEYS[2], ARGV[i], most)
    end
end
return redis.call('HGETALL', KEYS[2])
