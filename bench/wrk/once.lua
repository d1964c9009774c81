-- What pay.lua and verify.lua share, loaded by each with dofile from beside it: every line of
-- BENCH_REQUESTS is one request, sent exactly once (a code, a nonce, an order are single use: a
-- second send could only be refused). Should the lines run out before the duration is over, the
-- thread stops (wrk.thread:stop()) and done() says so; wrk still divides by the whole duration,
-- so the req/s of such a run is a lower bound. done() runs in wrk's main Lua state: it reads each
-- thread's globals sent, prepared and ran_out through the thread objects that setup() kept.
local once = {}
local threads = {}
sent, prepared, ran_out = 0, 0, false

function setup(thread)
    threads[#threads + 1] = thread
end

-- every line of path; prepared is their count
function once.load(path)
    local lines, n = {}, 0
    local f = assert(io.open(path, "r"))
    for line in f:lines() do
        n = n + 1
        lines[n] = line
    end
    f:close()
    if n == 0 then error("no requests in " .. path) end
    prepared = n
    return lines
end

-- the headers of a request signed by a store
function once.headers(store, ts, nonce, sig)
    return {
        ["Content-Type"] = "application/json",
        ["X-Member-Store"] = store,
        ["X-Member-Timestamp"] = ts,
        ["X-Member-Nonce"] = nonce,
        ["X-Member-Signature"] = sig,
    }
end

-- the request of the next line (build(line)), taken out of lines
function once.request(lines, build)
    if sent == prepared then
        if not ran_out then
            ran_out = true
            wrk.thread:stop()
        end
        -- the loop stops after this event; a GET that the server answers 204 without work
        return wrk.format("GET", "/bench-idle")
    end
    sent = sent + 1
    local line = lines[sent]
    lines[sent] = nil
    return build(line)
end

function once.done(name)
    for _, t in ipairs(threads) do
        io.write(string.format("%s: sent %d of %d prepared requests%s\n", name,
                               t:get("sent"), t:get("prepared"),
                               t:get("ran_out") and ", RAN OUT" or ""))
    end
end

return once
