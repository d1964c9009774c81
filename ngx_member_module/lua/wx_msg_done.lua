-- The WeChat outbox's messages: what WeChat answered to a claimed message
-- (wx_msg.lua).  sent and dropped end it (logged); retry keeps it first in
-- line and gives back its subscription.
-- KEYS[1] member hash, KEYS[2] {m:<id>}:wx:msgs, KEYS[3] {m:<id>}:wx:subs,
-- KEYS[4] {m:<id>}:wx:msglog
-- ARGV: 1 message id, 2 sent|dropped|retry, 3 kind, 4 channel,
--       5 template id, 6 errcode, 7 WeChat's msgid ("" none), 8 now (s)
-- Returns 1, or 0 when the message was not in flight any more.
-- KEYS member msgs subs msglog
-- ARGV msg_id outcome kind channel template errcode msgid now
-- CHANGES none
local fid = string.match(redis.call('HGET', KEYS[1], 'wx_msg_flight') or '',
                         '^(.+)|%d+$')
if fid ~= ARGV[1] then
    return 0
end
redis.call('HDEL', KEYS[1], 'wx_msg_flight')

if ARGV[2] == 'retry' then
    if ARGV[4] == 'subscribe' then
        redis.call('HINCRBY', KEYS[3], ARGV[5], 1)
    end
    return 1
end

-- 43101: the user has no subscription left (refused or used up)
if ARGV[4] == 'subscribe' and ARGV[6] == '43101' then
    redis.call('HSET', KEYS[3], ARGV[5], 0)
end
redis.call('XDEL', KEYS[2], ARGV[1])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', 100, '*', 'msg', ARGV[1],
           'kind', ARGV[3], 'outcome', ARGV[2], 'errcode', ARGV[6],
           'msgid', ARGV[7], 'ts', ARGV[8])
return 1
