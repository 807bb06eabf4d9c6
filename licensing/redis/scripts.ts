/**
 * Lua scripts of the Redis store: each money operation is one script (check, change, ledger append,
 * idempotency and trade records together). KEYS of one call all carry the license's hash tag
 * `{lic:<key>}`, so the scripts also run on Redis Cluster. Numbers leave Lua through %d, never %.14g.
 */

/**
 * Lua: drops a license's holds that ran out (their gateway died before settling), so that credits a dead
 * request held count again for every decision on the balance. They are found through the sorted set of
 * holds by expiry, so the work does not grow with the license's requests in flight; holds written by a
 * version that kept no such set (the counts differ) are indexed once.
 */
const DROP_EXPIRED_HOLDS = `
local function dropExpiredHolds(lic, holds, expiry, now)
  if redis.call('HLEN', holds) ~= redis.call('ZCARD', expiry) then
    redis.call('DEL', expiry)
    local all = redis.call('HGETALL', holds)
    for i = 1, #all, 2 do
      redis.call('ZADD', expiry, string.match(all[i + 1], ':(%d+)'), all[i])
    end
  end
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', expiry, '-inf', now)) do
    local hold = redis.call('HGET', holds, id)
    if hold then
      redis.call('HDEL', holds, id)
      redis.call('HINCRBY', lic, 'held', '-' .. string.match(hold, '(%d+):'))
    end
    redis.call('ZREM', expiry, id)
  end
end
`;

/**
 * KEYS: license, ledger, seq, idempotency record, trade record (holds the entry that credited the trade),
 * holds, holds by expiry. ARGV: amount, kind, time, entry tail, idempotency key, fingerprint, trade number,
 * idempotency TTL (ms; Redis forgets the record after it), largest balance, now (ms). A deduct may take what
 * no live hold reserves.
 */
export const CHANGE = `${DROP_EXPIRED_HOLDS}
local lic = KEYS[1]
if redis.call('EXISTS', lic) == 0 then return {'not_found', '', 0, 0} end
dropExpiredHolds(lic, KEYS[6], KEYS[7], tonumber(ARGV[10]))
local amount = tonumber(ARGV[1])
local kind, time, tail, idem, fp, trade = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local credits = tonumber(redis.call('HGET', lic, 'credits'))
local held = tonumber(redis.call('HGET', lic, 'held'))
if idem ~= '' then
  local known = redis.call('HGET', KEYS[4], 'fingerprint')
  if known then
    if known ~= fp then return {'idempotency_conflict', '', credits, held} end
    return {'replayed', redis.call('HGET', KEYS[4], 'entry'), credits, held}
  end
end
if trade ~= '' and redis.call('EXISTS', KEYS[5]) == 1 then return {'duplicate', '', credits, held} end
if amount < 0 and kind == 'deduct' and redis.call('HGET', lic, 'status') == 'revoked' then return {'revoked', '', credits, held} end
if amount < 0 and redis.call('HGET', lic, 'unlimited') == '1' then amount = 0 end
if amount < 0 and credits - held + amount < 0 then return {'insufficient', '', credits, held} end
if amount > 0 and credits + amount > tonumber(ARGV[9]) then return {'balance_limit', '', credits, held} end
local entry = ''
if amount ~= 0 then
  credits = redis.call('HINCRBY', lic, 'credits', string.format('%d', amount))
  redis.call('HSET', lic, 'last_updated_at', time)
  local id = redis.call('INCR', KEYS[3])
  entry = '{"id":' .. string.format('%d', id) .. ',"time":"' .. time .. '","kind":"' .. kind ..
    '","amount":' .. string.format('%d', amount) .. ',"balanceAfter":' .. string.format('%d', credits) .. tail .. '}'
  redis.call('LPUSH', KEYS[2], entry)
end
if trade ~= '' then redis.call('SET', KEYS[5], entry) end
if idem ~= '' then
  redis.call('HSET', KEYS[4], 'fingerprint', fp, 'entry', entry)
  redis.call('PEXPIRE', KEYS[4], ARGV[8])
end
return {'ok', entry, credits, held}
`;

/** KEYS: license, ledger, seq. ARGV: email, credits, max_devices, unlimited, time, entry tail. */
export const CREATE = `
local lic = KEYS[1]
if redis.call('EXISTS', lic) == 1 then return {'exists', ''} end
redis.call('HSET', lic, 'email', ARGV[1], 'credits', ARGV[2], 'held', '0', 'status', 'active', 'issued_at', ARGV[5],
  'last_updated_at', ARGV[5], 'devices', '[]', 'max_devices', ARGV[3], 'unlimited', ARGV[4])
local entry = ''
if tonumber(ARGV[2]) > 0 then
  local id = redis.call('INCR', KEYS[3])
  entry = '{"id":' .. string.format('%d', id) .. ',"time":"' .. ARGV[5] .. '","kind":"grant","amount":' .. ARGV[2] ..
    ',"balanceAfter":' .. ARGV[2] .. ARGV[6] .. '}'
  redis.call('LPUSH', KEYS[2], entry)
end
return {'ok', entry}
`;

/**
 * KEYS: email index. ARGV: the license it names now, the license to name instead. Takes a revoked
 * license's email over only while it still names that license (another creator may have been first).
 */
export const SWAP_EMAIL = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
`;

/** KEYS: license. ARGV: device id, time. */
export const BIND = `
local lic = KEYS[1]
if redis.call('EXISTS', lic) == 0 then return 'NOT_FOUND' end
if redis.call('HGET', lic, 'status') == 'revoked' then return 'REVOKED' end
local devices = cjson.decode(redis.call('HGET', lic, 'devices'))
for _, d in ipairs(devices) do if d == ARGV[1] then return 'VALID' end end
if #devices >= tonumber(redis.call('HGET', lic, 'max_devices')) then return 'DEVICE_LIMIT' end
table.insert(devices, ARGV[1])
redis.call('HSET', lic, 'devices', cjson.encode(devices), 'last_updated_at', ARGV[2])
return 'VALID'
`;

/** KEYS: license. ARGV: field, value, time. Sets status or devices of an existing license. */
export const SET_FIELD = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], 'last_updated_at', ARGV[3])
return 1
`;

/** KEYS: email index. ARGV: key. Frees the email if it still points at this license. */
export const RELEASE_EMAIL = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`;

/** Lua: a ledger entry's JSON, as the other store writes it (numbers through %d, never in exponent form). */
const ENTRY = `
local function entry(id, time, kind, amount, balance, tail)
  return '{"id":' .. string.format('%d', id) .. ',"time":"' .. time .. '","kind":"' .. kind ..
    '","amount":' .. string.format('%d', amount) .. ',"balanceAfter":' .. string.format('%d', balance) .. tail .. '}'
end
`;

/**
 * KEYS: license, holds, holds by expiry. ARGV: now (ms). The license's fields as HGETALL gives them (none
 * when there is no such license), after its holds that ran out are dropped: what it shows held is held.
 */
export const READ = `${DROP_EXPIRED_HOLDS}
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
dropExpiredHolds(KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[1]))
return redis.call('HGETALL', KEYS[1])
`;

/**
 * KEYS: license, holds, daily mark, holds by expiry. ARGV: hold id, amount, now (ms), ttl (ms), day ('' for
 * none), day's amount. A second hold of one id adds to it; the day is held only while it is owed (the mark,
 * the last day paid, is before it). Holds expire, so a gateway that died mid-request cannot freeze credits
 * for long: expired ones are dropped before the check.
 */
export const HOLD = `${DROP_EXPIRED_HOLDS}
local lic, holds, expiry = KEYS[1], KEYS[2], KEYS[4]
if redis.call('EXISTS', lic) == 0 then return 'not_found' end
if redis.call('HGET', lic, 'status') == 'revoked' then return 'revoked' end
if redis.call('HGET', lic, 'unlimited') == '1' then return 'ok' end
local now = tonumber(ARGV[3])
dropExpiredHolds(lic, holds, expiry, now)
local amount = tonumber(ARGV[2])
local day = ARGV[5]
if day ~= '' then
  local paid = redis.call('GET', KEYS[3])
  if not paid or paid < day then amount = amount + tonumber(ARGV[6]) end
end
local credits = tonumber(redis.call('HGET', lic, 'credits'))
local held = tonumber(redis.call('HGET', lic, 'held'))
if credits - held < amount then return 'insufficient' end
redis.call('HINCRBY', lic, 'held', string.format('%d', amount))
local before = redis.call('HGET', holds, ARGV[1])
if before then amount = amount + tonumber(string.match(before, '(%d+):')) end
local expires = string.format('%d', now + tonumber(ARGV[4]))
redis.call('HSET', holds, ARGV[1], string.format('%d', amount) .. ':' .. expires)
redis.call('ZADD', expiry, expires, ARGV[1])
return 'ok'
`;

/**
 * KEYS: license, holds, ledger, seq, daily mark, holds by expiry. ARGV: hold id, cost, kind, time, entry
 * tail, day ('' when the request earned none), day's amount, day entry tail. Ends the hold, takes the day's
 * charge when owed (then marks the day) and the cost, each within what is left. Returns the day's entry and
 * the usage entry ('' for none), and 1 when the day is paid now.
 */
export const SETTLE = `${ENTRY}
local lic, holds = KEYS[1], KEYS[2]
if redis.call('EXISTS', lic) == 0 then return {'', '', 0} end
local hold = redis.call('HGET', holds, ARGV[1])
if hold then
  redis.call('HDEL', holds, ARGV[1])
  redis.call('ZREM', KEYS[6], ARGV[1])
  redis.call('HINCRBY', lic, 'held', '-' .. string.match(hold, '(%d+):'))
end
if redis.call('HGET', lic, 'unlimited') == '1' then return {'', '', 1} end
local function debit(kind, wanted, tail)
  local credits = tonumber(redis.call('HGET', lic, 'credits'))
  local held = tonumber(redis.call('HGET', lic, 'held'))
  local charge = math.min(wanted, math.max(credits - held, 0))
  if charge <= 0 then return '' end
  credits = redis.call('HINCRBY', lic, 'credits', '-' .. string.format('%d', charge))
  redis.call('HSET', lic, 'last_updated_at', ARGV[4])
  local line = entry(redis.call('INCR', KEYS[4]), ARGV[4], kind, -charge, credits, tail)
  redis.call('LPUSH', KEYS[3], line)
  return line
end
local daily, paid = '', 0
local day = ARGV[6]
if day ~= '' then
  local last = redis.call('GET', KEYS[5])
  if not last or last < day then
    daily = debit('daily_charge', tonumber(ARGV[7]), ARGV[8])
    if daily ~= '' then
      redis.call('SET', KEYS[5], day)
      paid = 1
    end
  else
    paid = 1
  end
end
return {daily, debit(ARGV[3], tonumber(ARGV[2]), ARGV[5]), paid}
`;

/**
 * KEYS: license, daily mark, ledger, seq, holds, holds by expiry. ARGV: day, amount, time, entry tail, now
 * (ms). Takes a day's charge at once (an edge's settle), unless that day or a later one is paid.
 */
export const DAILY = `${ENTRY}${DROP_EXPIRED_HOLDS}
local lic, mark = KEYS[1], KEYS[2]
if redis.call('EXISTS', lic) == 0 then return 'not_found' end
dropExpiredHolds(lic, KEYS[5], KEYS[6], tonumber(ARGV[5]))
local paid = redis.call('GET', mark)
if paid and paid >= ARGV[1] then return 'already' end
if redis.call('HGET', lic, 'status') == 'revoked' then return 'revoked' end
if redis.call('HGET', lic, 'unlimited') == '1' then return 'charged' end
local amount = tonumber(ARGV[2])
local spendable = tonumber(redis.call('HGET', lic, 'credits')) - tonumber(redis.call('HGET', lic, 'held'))
if spendable < amount then return 'insufficient' end
redis.call('SET', mark, ARGV[1])
local credits = redis.call('HINCRBY', lic, 'credits', string.format('%d', -amount))
redis.call('HSET', lic, 'last_updated_at', ARGV[3])
redis.call('LPUSH', KEYS[3], entry(redis.call('INCR', KEYS[4]), ARGV[3], 'daily_charge', -amount, credits, ARGV[4]))
return 'charged'
`;
