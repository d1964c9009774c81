-- wrk script for the module's GET /api/code.png: "Authorization: Bearer <id>.<secret>" over the
-- members 1..BENCH_MEMBERS, in the same random order as wrk/card.lua and the peers' card.lua
-- (same seed, same shuffle). Tokens come from the file BENCH_TOKENS ("<id> <token>" lines, written
-- by seed.py). Every answer is a fresh PNG of the member's current code; nothing is spent, so the
-- requests are formatted once in init and cycled (a table lookup per request in wrk).
local n = tonumber(os.getenv("BENCH_MEMBERS") or "") or 100000
local path = os.getenv("BENCH_TOKENS") or "tokens.txt"
local reqs, i = {}, 0

function init(args)
    local tokens = {}
    local f = assert(io.open(path, "r"))
    for line in f:lines() do
        local id, token = line:match("^(%d+) (%S+)$")
        if id then
            id = tonumber(id)
            if id <= n then tokens[id] = token end
        end
    end
    f:close()

    math.randomseed(12345)
    local ids = {}
    for k = 1, n do ids[k] = k end
    for k = n, 2, -1 do
        local j = math.random(k)
        ids[k], ids[j] = ids[j], ids[k]
    end
    for k = 1, n do
        local token = tokens[ids[k]]
        if not token then error("no token for member " .. ids[k] .. " in " .. path) end
        reqs[k] = wrk.format("GET", "/api/code.png", { Authorization = "Bearer " .. token })
    end
end

function request()
    i = i % n + 1
    return reqs[i]
end
