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
--        base), seq (last entry number), ht (the time of the oldest entry in B:q), pm (the
--        earliest expiry in B:p; absent when nothing is pending), v (the window sum as of clk,
--        as a reply gives it), r<seq> (entry <seq> no longer counts: denied, or expired into
--        deny). With ht and pm, one HMGET tells whether anything left the window or expired
--        since, and v is then the sum: most reads of a base are that one command. This script
--        writes clk with a trailing space (numbers still parse), and trusts ht, pm and v only
--        when clk has it: a version of the script without them writes clk without it whenever
--        it changes the base (a rolling upgrade), and a hash written before them lacks them;
--        either is looked at in full and brought up to date.
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
--   reads, commits: the packed operations (the Node host's). A few long arguments instead of
--            hundreds of short ones (a client encodes, writes and Redis parses each one); each
--            base named by its hash key alone (B:h: the script derives B:q and B:p, which share
--            its hash tag, hence its slot, when it needs them). KEYS = the first base (it routes
--            the call in a cluster, whose prefix puts every key of the store in one slot).
--            BASES = the bases' hash keys, newline-separated; WINDOWS = their windows,
--            space-separated (base numbers count from 1 in this order).
--   reads    `read` of distinct bases
--            ARGV = reads now grace BASES WINDOWS
--            -> {now', sum1..sumnb}
--   commits  many commits in one call, applied in order, each compared and recorded as
--            `commit` would be on its own (a later one sees what an earlier one recorded),
--            all at one now': the commits of one decider's turn in one round trip
--            ARGV = commits now grace BASES WINDOWS BODY APPROVALS
--            BODY (space-separated): nc, then per commit
--                   nr (r s)*nr ne (b amount)*ne 0 | 1 a exp onTimeout
--            APPROVALS: the approval keys of the pending commits, newline-separated (a = its
--            number in this list)
--            -> {now', then per commit: '1' | 'P' (its approval is still held: nothing recorded)
--                | '0' sum1..sumnr (the sums changed: nothing recorded)}
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

-- A base's state as the script works on it. `q` and `p` may be nil (the one-key operations):
-- `names` derives them from `h` when a command needs them.
local function open(h, q, p, window)
  local v = redis.call('HMGET', h, 'sum', 'comp', 'cnt', 'clk', 'seq', 'ht', 'pm', 'v')
  local b = {
    h = h, q = q, p = p, window = window,
    sum = tonumber(v[1]) or 0, comp = tonumber(v[2]) or 0, cnt = tonumber(v[3]) or 0,
    clk = tonumber(v[4]) or NEG_INF, seq = tonumber(v[5]) or 0, ht = tonumber(v[6]), pm = tonumber(v[7]),
    -- exists: the hash exists (so the queue has entries); dirty: to be written back; head,
    -- pend: the oldest entry, the pending entries changed; tail: an entry was appended
    exists = v[4] ~= false, dirty = false, head = false, pend = false, tail = false,
  }
  if b.exists and not (b.ht and v[8] and string.byte(v[4], -1) == 32) then
    -- ht, pm and v missing or not written with the last change: look at the queue, write them
    b.legacy = true
    b.dirty = true
    b.head = true
    b.pend = true
  end
  return b
end

local function names(b)
  if not b.q then
    local stem = string.sub(b.h, 1, -2)
    b.q = stem .. 'q'
    b.p = stem .. 'p'
  end
end

-- Neumaier summation, as Bucket#add: a sum that overflows is infinity with no compensation
-- (-inf would make the value NaN, read as 0: a limit failing open) until an entry leaves.
local function add(b, x)
  local s = b.sum + x
  if s == math.huge then
    b.sum = s
    b.comp = 0
    return
  end
  if math.abs(b.sum) >= math.abs(x) then
    b.comp = b.comp + (b.sum - s + x)
  else
    b.comp = b.comp + (x - s + b.sum)
  end
  b.sum = s
end

-- An overflowed sum from the entries that still count (in the queue, not marked r<seq>).
local function resum(b)
  names(b)
  b.sum = 0
  b.comp = 0
  for _, e in ipairs(redis.call('LRANGE', b.q, 0, -1)) do
    local seq, _, amount = parse(e)
    if redis.call('HEXISTS', b.h, 'r' .. seq) == 0 then add(b, amount) end
  end
end

-- Stops counting `amount` (its entry already out of the queue or marked r<seq>); back to
-- exactly 0 when nothing counts (Bucket#take); an overflowed sum is summed again.
local function take(b, amount)
  b.cnt = b.cnt - 1
  if b.cnt == 0 then
    b.sum = 0
    b.comp = 0
  elseif b.sum == math.huge or amount >= 1099511627776 then
    -- (an overflowed sum, or a huge amount whose rounding would swamp the others: 2^40, as
    -- HUGE_AMOUNT in src/state/memory-store.ts)
    resum(b)
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
-- store's advance), then entries that left the window are evicted from the front. Nothing to do
-- (and no command) when the hash says the oldest entry still counts and nothing pending expired.
local function advance(b, now)
  if not b.exists then return end
  if not b.legacy and now - b.window < b.ht and not (b.pm and b.pm <= now) then return end
  names(b)
  if b.legacy or (b.pm and b.pm <= now) then
    local due = redis.call('ZRANGEBYSCORE', b.p, '-inf', fmt(now))
    for _, e in ipairs(due) do
      redis.call('ZREM', b.p, e)
      local seq, _, amount, o = parse(e)
      if o == 'd' then
        redis.call('HSET', b.h, 'r' .. seq, '1')
        take(b, amount)
      end
      b.dirty = true
      b.pend = true
    end
  end
  local limit = now - b.window
  if b.legacy or not (limit < b.ht) then
    while true do
      local e = redis.call('LINDEX', b.q, 0)
      if not e then break end
      local seq, t, amount, o = parse(e)
      if limit < t then break end
      redis.call('LPOP', b.q)
      if o ~= '-' then
        redis.call('ZREM', b.p, e)
        b.pend = true
      end
      if redis.call('HDEL', b.h, 'r' .. seq) == 0 then take(b, amount) end
      b.dirty = true
      b.head = true
    end
  end
end

-- Writes a changed base back. Empty: deleted. Else its keys expire once its newest entry has
-- left the window (plus the grace: Redis's clock is not the callers'), set when an entry was
-- appended (evictions leave the newest entry, and so the expiry, as they were). An unchanged
-- base keeps its stored clock: the state at its stored clock is also the state at `now`.
local function save(b, now, grace)
  if not b.dirty then return end
  names(b)
  if b.head then
    local first = redis.call('LINDEX', b.q, 0)
    if not first then
      redis.call('DEL', b.h, b.q, b.p)
      return
    end
    local _, t = parse(first)
    b.ht = t
  end
  if b.pend then
    local z = redis.call('ZRANGE', b.p, 0, 0, 'WITHSCORES')
    b.pm = tonumber(z[2])
    if not b.pm then redis.call('HDEL', b.h, 'pm') end
  end
  -- clk with a trailing space: ht, pm and v are this write's (see the layout above)
  if b.pm then
    redis.call('HSET', b.h, 'sum', fmt(b.sum), 'comp', fmt(b.comp), 'cnt', string.format('%d', b.cnt), 'clk', fmt(now) .. ' ',
      'seq', string.format('%d', b.seq), 'ht', fmt(b.ht), 'v', fmt(value(b)), 'pm', fmt(b.pm))
  else
    redis.call('HSET', b.h, 'sum', fmt(b.sum), 'comp', fmt(b.comp), 'cnt', string.format('%d', b.cnt), 'clk', fmt(now) .. ' ',
      'seq', string.format('%d', b.seq), 'ht', fmt(b.ht), 'v', fmt(value(b)))
  end
  if b.tail or b.legacy then
    local t = now
    if not b.tail then
      local _, last = parse(redis.call('LINDEX', b.q, -1))
      t = last
    end
    local ttl = string.format('%d', math.min(MAX_TTL, math.ceil(t + b.window - now + grace)))
    redis.call('PEXPIRE', b.h, ttl)
    redis.call('PEXPIRE', b.q, ttl)
    if b.pm then redis.call('PEXPIRE', b.p, ttl) end
  end
end

local function record(b, now, amount, o)
  names(b)
  b.seq = b.seq + 1
  local e = string.format('%d %s %s %s', b.seq, fmt(now), fmt(amount), o)
  redis.call('RPUSH', b.q, e)
  if not b.exists then
    -- the first entry of an empty base: the oldest one
    b.exists = true
    b.ht = now
  end
  b.cnt = b.cnt + 1
  add(b, amount)
  b.dirty = true
  b.tail = true
  return e
end

-- The bases of a `read` or `commit` call: KEYS 3 per base, windows from ARGV[5].
local function openBases(nb)
  local bases = {}
  for i = 1, nb do
    bases[i] = open(KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i], tonumber(ARGV[4 + i]))
  end
  return bases
end

-- Records `entries` ({base number, amount}) of one decision at `now` (pending on approval key
-- `akey` with expiry `exp` and `onTimeout` when pending), as `commit` does once it compared.
local function recordAll(bases, now, grace, entries, pending, akey, exp, onTimeout)
  local ne = #entries
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
      b.pend = true
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
  if pending and ne > 0 then
    local untl = now + widest
    redis.call('DEL', akey)
    redis.call('HSET', akey, 't', fmt(now), 'exp', fmt(exp), 'until', fmt(untl),
      'keys', table.concat(keys, '\n'), 'windows', table.concat(windows, ' '), 'entries', table.concat(lines, '\n'))
    local ttl = math.min(MAX_TTL, math.ceil(math.min(exp, untl) - now + grace))
    redis.call('PEXPIRE', akey, string.format('%d', ttl))
  end
end

-- Whether approval `akey` is still held at `now`: not resolved (the hash is deleted then), not
-- expired, and with an entry still in its window. An id may not be reused while it is.
local function held(akey, now)
  local h = redis.call('HMGET', akey, 'exp', 'until')
  return h[1] and now < tonumber(h[1]) and now < tonumber(h[2])
end

if op == 'reads' then
  -- The common case costs one HMGET per base and no table: the hash says nothing left the
  -- window and nothing pending expired, and gives the sum. Else the base is opened and
  -- advanced as for `read`. One pass at `now`, and a second one only when a base's clock is
  -- ahead of it (now' is the latest of them all).
  local now = tonumber(ARGV[2])
  local grace = tonumber(ARGV[3])
  local keys = split(ARGV[4], '\n')
  local windows = split(ARGV[5], ' ')
  local nb = #keys
  local raw = {}
  local reply = {}
  local late = now
  for i = 1, nb do
    local v = redis.call('HMGET', keys[i], 'clk', 'ht', 'pm', 'v')
    raw[i] = v
    local c = v[1]
    if c == false then
      reply[i + 1] = '0'
    else
      local clk = tonumber(c)
      if clk > late then late = clk end
      if v[4] and string.byte(c, -1) == 32 and now - tonumber(windows[i]) < tonumber(v[2]) and not (v[3] and tonumber(v[3]) <= now) then
        reply[i + 1] = v[4]
      end
    end
  end
  if late > now then
    -- a clock ahead: every base at that time
    now = late
    for i = 1, nb do
      local v = raw[i]
      if v[1] ~= false and not (v[4] and string.byte(v[1], -1) == 32 and now - tonumber(windows[i]) < tonumber(v[2]) and not (v[3] and tonumber(v[3]) <= now)) then
        reply[i + 1] = nil
      end
    end
  end
  for i = 1, nb do
    if reply[i + 1] == nil then
      local b = open(keys[i], nil, nil, tonumber(windows[i]))
      advance(b, now)
      save(b, now, grace)
      reply[i + 1] = fmt(value(b))
    end
  end
  reply[1] = fmt(now)
  return reply
end

if op == 'commits' then
  local now = tonumber(ARGV[2])
  local grace = tonumber(ARGV[3])
  local keys = split(ARGV[4], '\n')
  local windows = split(ARGV[5], ' ')
  local body = split(ARGV[6], ' ')
  local approvals = split(ARGV[7], '\n')
  local nb = #keys
  local bases = {}
  for i = 1, nb do
    bases[i] = open(keys[i], nil, nil, tonumber(windows[i]))
    if bases[i].clk > now then now = bases[i].clk end
  end
  for i = 1, nb do advance(bases[i], now) end
  local reply = { fmt(now) }
  local a = 1
  local nc = tonumber(body[a])
  a = a + 1
  for _ = 1, nc do
    local nr = tonumber(body[a])
    a = a + 1
    local sums = {}
    local same = true
    for j = 1, nr do
      local v = value(bases[tonumber(body[a])])
      sums[j] = v
      if v ~= tonumber(body[a + 1]) then same = false end
      a = a + 2
    end
    local ne = tonumber(body[a])
    a = a + 1
    local entries = {}
    for j = 1, ne do
      entries[j] = { tonumber(body[a]), tonumber(body[a + 1]) }
      a = a + 2
    end
    local pending = body[a] == '1'
    local akey, exp, onTimeout
    if pending then
      akey = approvals[tonumber(body[a + 1])]
      exp = tonumber(body[a + 2])
      onTimeout = body[a + 3]
      a = a + 4
    else
      a = a + 1
    end
    if pending and held(akey, now) then
      reply[#reply + 1] = 'P'
    elseif not same then
      reply[#reply + 1] = '0'
      for j = 1, nr do reply[#reply + 1] = fmt(sums[j]) end
    else
      recordAll(bases, now, grace, entries, pending, akey, exp, onTimeout)
      reply[#reply + 1] = '1'
    end
  end
  for i = 1, nb do save(bases[i], now, grace) end
  return reply
end

if op == 'read' or op == 'commit' then
  local now = tonumber(ARGV[2])
  local grace = tonumber(ARGV[3])
  local nb = tonumber(ARGV[4])
  local bases = openBases(nb)
  local a = 5 + nb
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
    if held(akey, now) then
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
  recordAll(bases, now, grace, entries, pending, akey, exp, onTimeout)
  saveAll()
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
      if redis.call('ZREM', b.p, e) == 1 then
        b.pend = true
        b.dirty = true
        if deny then
          local seq, _, amount = parse(e)
          redis.call('HSET', b.h, 'r' .. seq, '1')
          take(b, amount)
        end
      end
    end
    changed = '1'
  end
  for i = 1, #bases do save(bases[i], at, grace) end
  redis.call('DEL', akey)
  return changed
end

return redis.error_reply('ERR tollgate: unknown operation ' .. tostring(op))
