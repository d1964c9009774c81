-- WeChat Pay's notification of a paid recharge order, verified and
-- decrypted by the module: credits the order's amount as principal and
-- the bonus stored with the order, one ledger entry (type recharge,
-- channel wxpay, WeChat Pay's transaction id), exactly once: the order
-- goes pending (or closed) -> paid, and a paid order answers "already"
-- and changes nothing.  An unknown order, or an amount that is not the
-- order's, changes nothing either.
-- KEYS[1] member hash, KEYS[2] ledger stream, KEYS[3] the order
-- {m:<id>}:wxpay:<out_trade_no>
-- ARGV: amount_fen paid (amount.total), WeChat Pay's transaction_id, now,
-- out_trade_no
-- KEYS member ledger order
-- ARGV amount_fen wx_transaction_id now out_trade_no
-- CHANGES member when paid
-- DURABLE
local o = redis.call('HMGET', KEYS[3], 'state', 'amount_fen', 'bonus_fen')
if not o[1] then
    return redis.error_reply('NOT_FOUND no such order')
end
if o[2] ~= ARGV[1] then
    return redis.error_reply('MISMATCH the amount is not the order\'s')
end
if o[1] == 'paid' or o[1] == 'refunded' then
    return 'already'
end

local m = redis.call('HMGET', KEYS[1], 'status', 'principal_fen',
                     'bonus_fen')
if not m[1] then
    return redis.error_reply('NOT_FOUND no such member')
end
-- no balance cap here: WeChat Pay has taken the money, and a refusal
-- would fail every retry of the notification while the customer has
-- paid (the cap of the other recharges is 10^15 fen; Lua's numbers stay
-- exact to 2^53, and one order is at most 10^8 fen)

local principal = redis.call('HINCRBY', KEYS[1], 'principal_fen', o[2])
local bonus = redis.call('HINCRBY', KEYS[1], 'bonus_fen', o[3])
local balance = principal + bonus
redis.call('HSET', KEYS[1], 'balance_fen', balance)

local id = redis.call('XADD', KEYS[2], '*', 'type', 'recharge',
                      'amount_fen', o[2], 'bonus_fen', o[3],
                      'balance_fen', balance, 'channel', 'wxpay',
                      'out_trade_no', ARGV[4],
                      'wx_transaction_id', ARGV[2], 'ts', ARGV[3])
redis.call('HSET', KEYS[3], 'state', 'paid', 'paid_at', ARGV[3],
           'wx_transaction_id', ARGV[2], 'transaction_id', id)
return 'paid'
