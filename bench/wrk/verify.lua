-- wrk script for the module's POST /scan/verify: every request is sent exactly once (once.lua).
-- BENCH_REQUESTS is a file of "<code> <timestamp> <nonce> <signature>" lines (sign.py: each a
-- distinct member's current code, a fresh nonce, the signature of exactly the body sent here);
-- BENCH_STORE the store id. init() loads the lines and has wrk.format build the request once,
-- with markers in place of the four values (the code's marker as long as a code, so that
-- Content-Length is right); request() takes the next line, never an old one, and puts its values
-- between the template's pieces: the bytes wrk.format would make, without formatting six headers
-- per request on the client's CPU (init checks that on the first and the last line). ~1.3 us a
-- request in wrk's LuaJIT, against ~3 us for wrk.format and ~5 us for a pattern match and a table.
-- Should the file run out before the duration is over, the req/s is a lower bound: codes.sh
-- flags it (raise VERIFY_MAX_RATE).
local once = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "once.lua")
local path = os.getenv("BENCH_REQUESTS") or "verify.txt"
local store = os.getenv("BENCH_STORE") or "BENCH"
local lines = {}
local parts, order = {}, {}

local function headers(ts, nonce, sig)
    return once.headers(store, ts, nonce, sig)
end

local function body(code)
    return '{"code":"' .. code .. '"}'
end

local function fields(line)
    local code, ts, nonce, sig = line:match("^(%d+) (%d+) (%w+) (%x+)$")
    if not code or #code ~= 18 then error("bad line in " .. path .. ": " .. line) end
    return code, ts, nonce, sig
end

-- where each field of a line starts and ends (sign.py writes them of fixed lengths: init checks
-- that every line is as long as the first); string.sub is ~4x cheaper than a pattern match here
local from, to = {}, {}

local function build(line)
    local sub = string.sub
    return parts[1] .. sub(line, from[1], to[1]) .. parts[2] .. sub(line, from[2], to[2])
           .. parts[3] .. sub(line, from[3], to[3]) .. parts[4] .. sub(line, from[4], to[4])
           .. parts[5]
end

function init(args)
    lines = once.load(path)
    local n = prepared

    -- the template: markers for code (1), timestamp (2), nonce (3), signature (4)
    local marks = { ("\4"):rep(18), "\1", "\2", "\3" }
    local t = wrk.format("POST", "/scan/verify", headers(marks[2], marks[3], marks[4]), body(marks[1]))
    local found = {}
    for k, m in ipairs(marks) do
        local at = t:find(m, 1, true)
        if not at then error("marker " .. k .. " not in the template") end
        found[#found + 1] = { at = at, len = #m, field = k }
    end
    table.sort(found, function(a, b) return a.at < b.at end)
    local pos = 1
    for k, m in ipairs(found) do
        parts[k] = t:sub(pos, m.at - 1)
        order[k] = m.field
        pos = m.at + m.len
    end
    parts[5] = t:sub(pos)

    -- the fields of the first line: code 1, timestamp 2, nonce 3, signature 4
    local code, ts, nonce, sig = fields(lines[1])
    local span, pos = {}, 1
    for k, v in ipairs({ code, ts, nonce, sig }) do
        span[k] = { pos, pos + #v - 1 }
        pos = pos + #v + 1
    end
    for k = 1, 4 do
        from[k], to[k] = span[order[k]][1], span[order[k]][2]
    end
    local len = #lines[1]
    for k = 2, n do
        if #lines[k] ~= len then error("line " .. k .. " of " .. path .. " is not as long as the first") end
    end
    for _, k in ipairs({ 1, n }) do
        code, ts, nonce, sig = fields(lines[k])
        if build(lines[k]) ~= wrk.format("POST", "/scan/verify", headers(ts, nonce, sig), body(code)) then
            error("the template does not give what wrk.format gives for line " .. k)
        end
    end
end

function request()
    return once.request(lines, build)
end

function done(summary, latency, requests)
    once.done("verify.lua")
end
