-- wrk script for the module's POST /scan/pay: every request is sent exactly once.
-- BENCH_REQUESTS is a file of "<store> <timestamp> <nonce> <signature> <body>" lines
-- (pay_prep.py: each a distinct order of a member's ticket at its store, a fresh nonce, the
-- signature of exactly that body). init() loads the lines; request() formats the next one
-- (wrk.format, ~3 us: far below what a pay costs the server). Should the file run out before
-- the duration is over, the thread stops and done() says so (the req/s is then a lower bound:
-- raise PAY_MAX_RATE).
local path = os.getenv("BENCH_REQUESTS") or "pays.txt"
local lines = {}
local threads = {}
sent, prepared, ran_out = 0, 0, false

function setup(thread)
    threads[#threads + 1] = thread
end

function init(args)
    local f = assert(io.open(path, "r"))
    local n = 0
    for line in f:lines() do
        n = n + 1
        lines[n] = line
    end
    f:close()
    if n == 0 then error("no requests in " .. path) end
    prepared = n
end

function request()
    if sent == prepared then
        if not ran_out then
            ran_out = true
            wrk.thread:stop()
        end
        return wrk.format("GET", "/bench-idle")
    end
    sent = sent + 1
    local line = lines[sent]
    lines[sent] = nil
    local store, ts, nonce, sig, body = line:match("^(%S+) (%d+) (%x+) (%x+) (.+)$")
    if not store then error("bad line in " .. path .. ": " .. line) end
    return wrk.format("POST", "/scan/pay", {
        ["Content-Type"] = "application/json",
        ["X-Member-Store"] = store,
        ["X-Member-Timestamp"] = ts,
        ["X-Member-Nonce"] = nonce,
        ["X-Member-Signature"] = sig,
    }, body)
end

function done(summary, latency, requests)
    for _, t in ipairs(threads) do
        io.write(string.format("pay.lua: sent %d of %d prepared requests%s\n",
                               t:get("sent"), t:get("prepared"),
                               t:get("ran_out") and ", RAN OUT" or ""))
    end
end
