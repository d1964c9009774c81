-- A page of the audit stream, newest first, with optional filters; reads
-- at most ARGV[5] entries so that a rare filter cannot stall Redis.
-- KEYS[1] {b}:audit
-- ARGV: start ("+" or "(<id>"), limit, actor ("" any), target ("" any),
--       budget
-- Answers {resume, entries}: entries are XRANGE's; resume is the id to
-- go on from when the budget ran out before the page filled, else "".
-- KEYS audit
-- ARGV start limit actor target budget
-- CHANGES none
local start, limit = ARGV[1], tonumber(ARGV[2])
local actor, target, budget = ARGV[3], ARGV[4], tonumber(ARGV[5])
local out, scanned = {}, 0

while true do
    local batch = redis.call('XREVRANGE', KEYS[1], start, '-', 'COUNT', 200)
    for _, e in ipairs(batch) do
        local a, t
        local f = e[2]
        for i = 1, #f, 2 do
            if f[i] == 'actor' then a = f[i + 1]
            elseif f[i] == 'target' then t = f[i + 1] end
        end
        if (actor == '' or a == actor) and (target == '' or t == target) then
            out[#out + 1] = e
            if #out > limit then
                return {'', out}
            end
        end
        scanned = scanned + 1
        if scanned >= budget then
            return {e[1], out}
        end
    end
    if #batch < 200 then
        return {'', out}
    end
    start = '(' .. batch[#batch][1]
end
