-- Tollgate's Redis counter store (docs/redis.md): the ONE script both hosts run,
-- src/state/redis-store.ts and python/tollgate/state/redis_store.py. scripts/gen-lua.mjs
-- (npm run build:ts) copies this text into src/state/redis-counters.generated.ts and
-- python/tollgate/state/redis_counters.lua; edit only this file.
--
-- It is src/state/memory-store.ts per counter+key ("base"), step for step where sums are
-- concerned: the same Neumaier running sum (add in arrival order, take on eviction, removal
-- or expiry-into-deny, exactly 0 when nothing counts), the same window test (an entry at t
-- counts while now - window < t) and the same pending rules.
--
-- A base is three keys sharing one hash tag: B:h, B:q, B:p.
--   B:h  hash: sum, comp (Neumaier), cnt (entries that count), clk (latest time used on this
--        base), seq (last entry number), r<seq> (entry <seq> no longer counts: denied, or
--        expired into deny)
--   B:q  list, in time order (arrival order within equal times): "seq t amount o",
--        o = '-' (recorded), 'a' / 'd' (pending, expiring into allow / deny)
--   B:p  zset: the entries still pending, scored by their approval's expiresAt
-- An approval is one hash A: t, exp, until (t + its largest window: it holds nothing after),
-- keys (its bases' key names, newline-separated), windows, entries ("<base#> <entry>" lines).
--
-- Numbers cross the boundary as text: ARGV in the hosts' shortest round-trip form, replies
-- and stored values as %.17g (Redis would truncate a Lua number to an integer in a reply,
-- and tostring() keeps only 14 digits). Both parse exactly (strtod).
--
-- Calls (ARGV[1] = operation, ARGV[2] = now or at, ARGV[3] = expiry grace in ms):
--   read     KEYS = bases (3 each)
--            ARGV = read now grace nb w1..wnb nr r1..rnr            (r = base number)
--            -> {now', sum1..sumnr}
--   commit   KEYS = bases (3 each) [, approval]
--            ARGV = commit now grace nb w1..wnb nr (r s)*nr ne (b amount)*ne 0 | 1 id exp onTimeout
--            -> {'1', now'} recorded | {'0', now', sum1..sumnr} the sums changed
--            error 'TOLLGATE_PENDING ...' when the approval is still held
--   resolve  KEYS = approval, its bases (3 each, as its `keys` field lists them)
--            ARGV = resolve at grace approved|denied keys
--            -> '1' changed | '0' not held | 'retry' the approval is not the one the keys
--               were read from (the caller reads them again)
-- now' is the time the call ran at: the latest of now and the clocks of the bases it touched.

local op = ARGV[1]
local NEG_INF = -math.huge
-- A TTL beyond any window (30 days max in policies; ~31,000 years here) is clamped.
local MAX_TTL = 1e15

local function fmt(x)
  return string.format('%.17g', x)
end

local function parse(e)
  local seq, t, amount, o = string.match(e, '^(%d+) (%S+) (%S+) (%S)$')
  return seq, tonumber(t), tonumber(amount), o
end

local function split(s, sep)
  local out = {}
  if s == '' then return out end
  local from = 1
  while true do
    local i = string.find(s, sep, from, true)
    if not i then
      out[#out + 1] = string.sub(s, from)
      return out
    end
    out[#out + 1] = string.sub(s, from, i - 1)
    from = i + #sep
  end
end

local function open(h, q, p, window)
  local v = redis.call('HMGET', h, 'sum', 'comp', 'cnt', 'clk')
  return {
    h = h, q = q, p = p, window = window,
    sum = tonumber(v[1]) or 0, comp = tonumber(v[2]) or 0, cnt = tonumber(v[3]) or 0,
    clk = tonumber(v[4]) or NEG_INF, dirty = false,
  }
end

-- Neumaier summation, as Bucket#add.
local function add(b, x)
  local s = b.sum + x
  if math.abs(b.sum) >= math.abs(x) then
    b.comp = b.comp + (b.sum - s + x)
  else
    b.comp = b.comp + (x - s + b.sum)
  end
  b.sum = s
end

-- Stops counting `amount`; back to exactly 0 when nothing counts (Bucket#take).
local function take(b, amount)
  b.cnt = b.cnt - 1
  if b.cnt == 0 then
    b.sum = 0
    b.comp = 0
  else
    add(b, -amount)
  end
end

local function value(b)
  if b.cnt == 0 then return 0 end
  local v = b.sum + b.comp
  if v > 0 then return v end
  return 0
end

-- The base at `now`: pending entries whose approval expired settle first (as the memory
-- store's advance), then entries that left the window are evicted from the front.
local function advance(b, now)
  local due = redis.call('ZRANGEBYSCORE', b.p, '-inf', fmt(now))
  for _, e in ipairs(due) do
    redis.call('ZREM', b.p, e)
    local seq, _, amount, o = parse(e)
    if o == 'd' then
      redis.call('HSET', b.h, 'r' .. seq, '1')
      take(b, amount)
    end
    b.dirty = true
  end
  local limit = now - b.window
  while true do
    local e = redis.call('LINDEX', b.q, 0)
    if not e then break end
    local seq, t, amount, o = parse(e)
    if limit < t then break end
    redis.call('LPOP', b.q)
    if o ~= '-' then redis.call('ZREM', b.p, e) end
    if redis.call('HDEL', b.h, 'r' .. seq) == 0 then take(b, amount) end
    b.dirty = true
  end
end

-- Writes a changed base back. Empty: deleted. Else its keys expire once its newest entry has
-- left the window (plus the grace: Redis's clock is not the callers'). An unchanged base keeps
-- its stored clock: the state at its stored clock is also the state at `now`.
local function save(b, now, grace)
  if not b.dirty then return end
  local last = redis.call('LINDEX', b.q, -1)
  if not last then
    redis.call('DEL', b.h, b.q, b.p)
    return
  end
  local _, t = parse(last)
  redis.call('HSET', b.h, 'sum', fmt(b.sum), 'comp', fmt(b.comp), 'cnt', string.format('%d', b.cnt), 'clk', fmt(now))
  local ttl = string.format('%d', math.min(MAX_TTL, math.ceil(t + b.window - now + grace)))
  redis.call('PEXPIRE', b.h, ttl)
  redis.call('PEXPIRE', b.q, ttl)
  redis.call('PEXPIRE', b.p, ttl)
end

local function record(b, now, amount, o)
  local seq = redis.call('HINCRBY', b.h, 'seq', 1)
  local e = string.format('%d %s %s %s', seq, fmt(now), fmt(amount), o)
  redis.call('RPUSH', b.q, e)
  b.cnt = b.cnt + 1
  add(b, amount)
  b.dirty = true
  return e
end

if op == 'read' or op == 'commit' then
  local now = tonumber(ARGV[2])
  local grace = tonumber(ARGV[3])
  local nb = tonumber(ARGV[4])
  local a = 5
  local bases = {}
  for i = 1, nb do
    bases[i] = open(KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i], tonumber(ARGV[a]))
    a = a + 1
  end
  for i = 1, nb do
    if bases[i].clk > now then now = bases[i].clk end
  end
  for i = 1, nb do advance(bases[i], now) end
  local function saveAll()
    for i = 1, nb do save(bases[i], now, grace) end
  end

  local nr = tonumber(ARGV[a])
  a = a + 1
  local sums = {}
  local same = true
  for j = 1, nr do
    local v = value(bases[tonumber(ARGV[a])])
    a = a + 1
    sums[j] = fmt(v)
    if op == 'commit' then
      if v ~= tonumber(ARGV[a]) then same = false end
      a = a + 1
    end
  end
  if op == 'read' then
    saveAll()
    local reply = { fmt(now) }
    for j = 1, nr do reply[j + 1] = sums[j] end
    return reply
  end

  local ne = tonumber(ARGV[a])
  a = a + 1
  local entries = {}
  for j = 1, ne do
    entries[j] = { tonumber(ARGV[a]), tonumber(ARGV[a + 1]) }
    a = a + 2
  end
  local pending = ARGV[a] == '1'
  local akey, exp, onTimeout
  if pending then
    akey = KEYS[3 * nb + 1]
    exp = tonumber(ARGV[a + 2])
    onTimeout = ARGV[a + 3]
    -- An id may not be reused while the store holds it: not resolved (the hash is deleted
    -- then), not expired, and with an entry still in its window.
    local held = redis.call('HMGET', akey, 'exp', 'until')
    if held[1] and now < tonumber(held[1]) and now < tonumber(held[2]) then
      saveAll()
      return redis.error_reply('TOLLGATE_PENDING approval is already pending')
    end
  end
  if not same then
    saveAll()
    local reply = { '0', fmt(now) }
    for j = 1, nr do reply[j + 2] = sums[j] end
    return reply
  end
  local o = '-'
  if pending then
    if exp <= now then
      -- Already expired: settled for every sum from now on.
      if onTimeout == 'deny' then ne = 0 end
      pending = false
    elseif onTimeout == 'allow' then
      o = 'a'
    else
      o = 'd'
    end
  end
  local keys, windows, lines, number = {}, {}, {}, {}
  local widest = 0
  for j = 1, ne do
    local i = entries[j][1]
    local b = bases[i]
    local e = record(b, now, entries[j][2], o)
    if pending then
      redis.call('ZADD', b.p, fmt(exp), e)
      if not number[i] then
        keys[#keys + 1] = b.h
        keys[#keys + 1] = b.q
        keys[#keys + 1] = b.p
        windows[#windows + 1] = fmt(b.window)
        number[i] = #windows
        if b.window > widest then widest = b.window end
      end
      lines[#lines + 1] = number[i] .. ' ' .. e
    end
  end
  saveAll()
  if pending and ne > 0 then
    local untl = now + widest
    redis.call('DEL', akey)
    redis.call('HSET', akey, 't', fmt(now), 'exp', fmt(exp), 'until', fmt(untl),
      'keys', table.concat(keys, '\n'), 'windows', table.concat(windows, ' '), 'entries', table.concat(lines, '\n'))
    local ttl = math.min(MAX_TTL, math.ceil(math.min(exp, untl) - now + grace))
    redis.call('PEXPIRE', akey, string.format('%d', ttl))
  end
  return { '1', fmt(now) }
end

if op == 'resolve' then
  local akey = KEYS[1]
  local rec = redis.call('HMGET', akey, 't', 'exp', 'until', 'keys', 'windows', 'entries')
  if not rec[1] then return '0' end
  if rec[4] ~= ARGV[5] then return 'retry' end
  local at = tonumber(ARGV[2])
  local grace = tonumber(ARGV[3])
  local t, exp, untl = tonumber(rec[1]), tonumber(rec[2]), tonumber(rec[3])
  if t > at then at = t end
  local windows = split(rec[5], ' ')
  local bases = {}
  for i = 1, #windows do
    bases[i] = open(KEYS[3 * i - 1], KEYS[3 * i], KEYS[3 * i + 1], tonumber(windows[i]))
    if bases[i].clk > at then at = bases[i].clk end
  end
  for i = 1, #bases do advance(bases[i], at) end
  local changed = '0'
  -- Held: not expired (a resolution at or after expiresAt is too late) and something of it
  -- still in a window.
  if at < exp and at < untl then
    local deny = ARGV[4] == 'denied'
    for _, line in ipairs(split(rec[6], '\n')) do
      local i, e = string.match(line, '^(%d+) (.*)$')
      local b = bases[tonumber(i)]
      if redis.call('ZREM', b.p, e) == 1 and deny then
        local seq, _, amount = parse(e)
        redis.call('HSET', b.h, 'r' .. seq, '1')
        take(b, amount)
        b.dirty = true
      end
    end
    changed = '1'
  end
  for i = 1, #bases do save(bases[i], at, grace) end
  redis.call('DEL', akey)
  return changed
end

return redis.error_reply('ERR tollgate: unknown operation ' .. tostring(op))
