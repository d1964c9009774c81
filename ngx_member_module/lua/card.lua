-- The card of a session that has no copy of its end in the member hash
-- (made before those copies were): the session key itself decides.
-- KEYS[1] session {m:<id>}:s:<hash>, KEYS[2] member hash {m:<id>}
-- Returns the fields in this order: status, card_no, level, points,
-- balance_fen; UNAUTHORIZED when the session is gone.
-- KEYS session member
-- ARGV (none)
-- CHANGES none
if redis.call('EXISTS', KEYS[1]) == 0 then
    return redis.error_reply('UNAUTHORIZED no such session')
end
return redis.call('HMGET', KEYS[2], 'status', 'card_no', 'level', 'points',
                  'balance_fen')
