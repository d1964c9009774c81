-- The referrer's side of a referral (docs/campaigns.md), once per referee:
-- the referee's id in {m:<id>}:referrals is the idempotency key, and the
-- set's size is what the cap counts.  The timer runs it after trigger.lua
-- gave the referee its side; a crash between the two is repaired by the
-- next tick, which finds the referee still pending.
-- KEYS[1] member hash, KEYS[2] ledger stream, KEYS[3] {m:<id>}:lots,
-- KEYS[4] {m:<id>}:referrals
-- ARGV: 1 referrer id, 2 referee id, 3 points, 4 max_per_referrer, 5 now,
--       6 this month's lot, 7 rules version
-- Returns {referrer, referee, outcome, points given, lot}: the outcome is
-- rewarded, seen (rewarded before), capped or gone (no such member).
-- KEYS member ledger lots referrals
-- ARGV referrer referee points max_per_referrer now lot version
-- CHANGES member by caller
-- DURABLE
local function answer(outcome, n)
    return {ARGV[1], ARGV[2], outcome, n, tonumber(ARGV[6])}
end

local m = redis.call('HMGET', KEYS[1], 'status', 'points', 'points_debt',
                     'balance_fen')
if m[1] ~= 'active' then
    return answer('gone', 0)
end
if redis.call('SISMEMBER', KEYS[4], ARGV[2]) == 1 then
    return answer('seen', 0)
end
if redis.call('SCARD', KEYS[4]) >= tonumber(ARGV[4]) then
    return answer('capped', 0)
end
redis.call('SADD', KEYS[4], ARGV[2])

local n = tonumber(ARGV[3])
local points, debt = tonumber(m[2] or 0), tonumber(m[3] or 0)
if n > 0 then
    local d = math.min(debt, n)
    debt = debt - d
    if n - d > 0 then
        redis.call('HINCRBY', KEYS[3], ARGV[6], n - d)
    end
    points = points + n
end
redis.call('HSET', KEYS[1], 'points', points, 'points_debt', debt)
redis.call('XADD', KEYS[2], '*', 'type', 'referral', 'points_delta', n,
           'points', points, 'balance_fen', tonumber(m[4] or 0),
           'role', 'referrer', 'referee', ARGV[2],
           'rules_version', ARGV[7], 'ts', ARGV[5])
return answer('rewarded', n)
