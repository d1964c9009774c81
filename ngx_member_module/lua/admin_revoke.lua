-- Revokes an admin key: its record goes, so the next request with it is
-- refused on every worker and node.  Answers the record (for the audit).
-- KEYS[1] {b}:admin:keys; ARGV: key id
-- KEYS keys
-- ARGV key_id
-- CHANGES none
local record = redis.call('HGET', KEYS[1], ARGV[1])
if not record then
    return redis.error_reply('NOT_FOUND no such key')
end
redis.call('HDEL', KEYS[1], ARGV[1])
return record
