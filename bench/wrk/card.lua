-- wrk script for the module: GET /api/card with "Authorization: Bearer <id>.<secret>" over every
-- member 1..BENCH_MEMBERS, in the same random order as ../shared/bench/wrk/card.lua (same seed,
-- same shuffle), so the module and the peers walk the members alike.
-- The tokens come from the file BENCH_TOKENS ("<id> <token>" lines, written by seed.py: SHA-256
-- is not something to compute in wrk's LuaJIT). Requests are formatted once in init, so per
-- request wrk does a table lookup.
local n = tonumber(os.getenv("BENCH_MEMBERS") or "") or 100000
local path = os.getenv("BENCH_TOKENS") or "tokens.txt"
local reqs, i = {}, 0

function init(args)
    local tokens = {}
    local f = assert(io.open(path, "r"))
    for line in f:lines() do
        local id, token = line:match("^(%d+) (%S+)$")
        if id then tokens[tonumber(id)] = token end
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
        reqs[k] = wrk.format("GET", "/api/card", { Authorization = "Bearer " .. token })
    end
end

function request()
    i = i % n + 1
    return reqs[i]
end
