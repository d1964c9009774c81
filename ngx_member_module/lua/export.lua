-- Everything stored about a member: the record and the whole ledger.
-- KEYS[1] member hash {m:<id>}, KEYS[2] ledger {m:<id>}:ledger
-- ARGV: at most this many ledger entries
-- KEYS member ledger
-- ARGV limit
-- CHANGES none
return {redis.call('HGETALL', KEYS[1]),
        redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', ARGV[1])}
