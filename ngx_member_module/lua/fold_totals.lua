-- GET totals: the brand's numbers and how far behind the fold is.
-- KEYS[1] {b}:totals, KEYS[2] {b}:fold, KEYS[3] {b}:fold:rescan
-- Returns the totals (field, value, ...), members waiting, the score of
-- the oldest waiting ("" when none), 1 when a rescan runs.
-- KEYS totals fold rescan
-- ARGV (none)
-- CHANGES none
local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
return { redis.call('HGETALL', KEYS[1]), redis.call('ZCARD', KEYS[2]),
         oldest[2] or '', redis.call('EXISTS', KEYS[3]) }
