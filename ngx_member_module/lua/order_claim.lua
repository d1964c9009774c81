-- The store's index of its order ids (order:{s:<store>}:<order id> ->
-- the member), claimed for one purchase and kept only if it succeeds,
-- so that a refused purchase leaves the order id free (docs/ledger.md).
-- KEYS[1] order:{s:<store>}:<order id>
-- ARGV: 1 what to do, 2 member id, 3 the claim (the request's nonce),
--       4 ttl (the order's lifetime)
--   claim: a free id becomes "<member>:<claim>"; one of this member's
--          (a retry, or its own claim in flight) answers SEEN; another
--          member's is CONFLICT
--   keep:  the purchase succeeded: "<member>", which no drop matches
--   drop:  the purchase was refused: the claim goes, if it is still ours
-- KEYS index
-- ARGV action member claim ttl
-- CHANGES none
local v = redis.call('GET', KEYS[1])
local mine = ARGV[2] .. ':' .. ARGV[3]

if ARGV[1] == 'drop' then
    if v == mine then
        redis.call('DEL', KEYS[1])
        return 'DROPPED'
    end
    return 'KEPT'
end

if v and string.match(v, '^%d+') ~= ARGV[2] then
    return redis.error_reply('CONFLICT the order id was used for another member')
end

if ARGV[1] == 'keep' then
    if v ~= ARGV[2] then
        redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[4])
    end
    return 'KEPT'
end

if v then
    return 'SEEN'
end
redis.call('SET', KEYS[1], mine, 'EX', ARGV[4])
return 'CLAIMED'
