-- The brand sets a member's tier by hand, with a reason: one "tier" entry
-- (the audit of it).  The next period end recomputes the tier.
-- KEYS[1] member hash, KEYS[2] ledger stream
-- ARGV: level, reason, now
-- KEYS member ledger
-- ARGV level reason now
-- CHANGES member
local m = redis.call('HMGET', KEYS[1], 'status', 'level', 'points',
                     'balance_fen')
if not m[1] or m[1] == 'visitor' then
    return redis.error_reply('NOT_FOUND no such member')
end
local id = redis.call('XADD', KEYS[2], '*', 'type', 'tier', 'from', m[2] or '',
                      'to', ARGV[1], 'reason', 'manual', 'note', ARGV[2],
                      'by', 'admin', 'points', tonumber(m[3] or 0),
                      'balance_fen', tonumber(m[4] or 0), 'ts', ARGV[3])
redis.call('HSET', KEYS[1], 'level', ARGV[1])
return string.format('{"level":"%s","from":"%s","transaction_id":"%s"}',
                     ARGV[1], m[2] or '', id)
