-- A page of a member's ledger, newest first.
-- KEYS[1] the key that must exist (the session, or the member hash),
-- KEYS[2] the ledger stream {m:<id>}:ledger
-- ARGV[1] the error when KEYS[1] is missing, ARGV[2] the exclusive upper
-- bound ("+" for the newest), ARGV[3] how many entries (page size + 1).
if redis.call('EXISTS', KEYS[1]) == 0 then
    return redis.error_reply(ARGV[1])
end
return redis.call('XREVRANGE', KEYS[2], ARGV[2], '-', 'COUNT', ARGV[3])
