-- The analytics pass, second half (docs/analytics.md): one slice of
-- members' segments, automatic tags and churn scores into the brand's sets,
-- the cursor with them.  Each member is put in exactly the sets it belongs
-- to and taken out of the others, so a slice applied twice is harmless.
-- Manual tags are added again (repairing a lost step of POST tags).
-- Every set comes in KEYS (the Redis layer may rename them: a brand's
-- namespace); each is checked to be the set of the name it stands for.
-- KEYS[1] {b}:rfm:state, KEYS[2] {b}:churn, KEYS[3] {b}:tags, KEYS[4..11]
-- {b}:tag:segment:<name> of the segments below, in their order,
-- KEYS[12..15] {b}:tag:<tag> of the automatic tags below, then
-- {b}:tag:<tag> of each member's manual tags, members and tags in order
-- ARGV: 1 the next member id, 2 "1" after the last slice, 3 now, then per
--       member id, segment ("" none), churn (-1 none), automatic tags,
--       manual tags (comma separated)
-- KEYS state churn tags segment1 segment2 segment3 segment4 segment5
--      segment6 segment7 segment8 new high_value lapsing birthday_month
--      manual...
-- ARGV next last now members...
-- CHANGES none
local segments = {'重要价值客户', '重要保持客户', '重要发展客户',
                  '重要挽留客户', '一般价值客户', '一般保持客户',
                  '一般发展客户', '一般挽留客户'}
local auto = {'new', 'high_value', 'lapsing', 'birthday_month'}

local function set(k, name)
    local key = KEYS[k]
    if not key or string.sub(key, -#name - 1) ~= ':' .. name then
        error('rfm_apply: KEYS[' .. k .. '] is not the set of ' .. name)
    end
    return key
end

local segment_set, auto_set = {}, {}
for n, s in ipairs(segments) do
    segment_set[s] = set(3 + n, 'segment:' .. s)
end
for n, t in ipairs(auto) do
    auto_set[t] = set(11 + n, t)
end
local manual = 16

for i = 4, #ARGV, 5 do
    local id, segment = ARGV[i], ARGV[i + 1]
    for _, s in ipairs(segments) do
        if s == segment then
            redis.call('SADD', segment_set[s], id)
        else
            redis.call('SREM', segment_set[s], id)
        end
    end

    local has = {}
    for t in string.gmatch(ARGV[i + 3], '[^,]+') do has[t] = true end
    for _, t in ipairs(auto) do
        if has[t] then
            redis.call('SADD', auto_set[t], id)
        else
            redis.call('SREM', auto_set[t], id)
        end
    end

    for t in string.gmatch(ARGV[i + 4], '[^,]+') do
        redis.call('SADD', set(manual, t), id)
        redis.call('SADD', KEYS[3], t)
        manual = manual + 1
    end

    if tonumber(ARGV[i + 2]) >= 0 then
        redis.call('ZADD', KEYS[2], ARGV[i + 2], id)
    else
        redis.call('ZREM', KEYS[2], id)
    end
end

if ARGV[2] ~= '1' then
    redis.call('HSET', KEYS[1], 'cursor', ARGV[1])
    return 'score'
end

redis.call('HSET', KEYS[1], 'phase', 'idle', 'cursor', 1,
           'last_done_at', ARGV[3])
redis.call('HINCRBY', KEYS[1], 'runs', 1)
return 'idle'
