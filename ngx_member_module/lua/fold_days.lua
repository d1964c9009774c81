-- GET reports/daily: the day buckets of the fold, one after another.
-- KEYS: {b}:day:<YYYY-MM-DD> of every day asked for
-- Returns each day's hash (field, value, ...), empty for a quiet day.
-- KEYS days...
-- ARGV (none)
-- CHANGES none
local days = {}
for i, key in ipairs(KEYS) do
    days[i] = redis.call('HGETALL', key)
end
return days
