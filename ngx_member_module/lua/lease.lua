-- The background jobs' lease (ngx_http_member_job.c): one worker of one
-- node runs the sweep, campaigns, analytics, fold and outbox at a time.
-- KEYS[1] ledger:lease; ARGV: owner, lease in milliseconds
-- Returns 1 when the caller holds the lease (taken or renewed), else 0.
-- KEYS lease
-- ARGV owner ms
-- CHANGES none
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
    return 1
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 1
end
return 0
