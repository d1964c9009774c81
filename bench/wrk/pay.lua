-- wrk script for the module's POST /scan/pay: every request is sent exactly once (once.lua).
-- BENCH_REQUESTS is a file of "<store> <timestamp> <nonce> <signature> <body>" lines
-- (pay_prep.py: each a distinct order of a member's ticket at its store, a fresh nonce, the
-- signature of exactly that body). init() loads the lines; request() formats the next one
-- (wrk.format, ~3 us: far below what a pay costs the server). Should the file run out, the
-- req/s is a lower bound: raise PAY_MAX_RATE.
local once = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "once.lua")
local path = os.getenv("BENCH_REQUESTS") or "pays.txt"
local lines = {}

local function build(line)
    local store, ts, nonce, sig, body = line:match("^(%S+) (%d+) (%x+) (%x+) (.+)$")
    if not store then error("bad line in " .. path .. ": " .. line) end
    return wrk.format("POST", "/scan/pay", once.headers(store, ts, nonce, sig), body)
end

function init(args)
    lines = once.load(path)
end

function request()
    return once.request(lines, build)
end

function done(summary, latency, requests)
    once.done("pay.lua")
end
