"""The Redis backend's Lua scripts: each runs atomically in Redis, so no two nodes interleave.

Times are Redis's own clock (TIME), so nodes need not agree on theirs. Calls: one sorted set per
counter, member = lease id, score = expiry in ms. Pools: under the prefix `P` (one hash tag per
pool), `P:cfg` (JSON: capacity, weights, minimums, default_weight), `P:tenants`, `P:held:<tenant>`
(ticket -> expiry), `P:wait:<tenant>` (ticket -> arrival sequence, FIFO), `P:deadline` and `P:node`
(a waiter's give-up time and the channel its grant is published on). The fair-share rule is the
one `voicegrid.capacity.fair.FairPool` states, line for line.
"""

_CLOCK = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local NOW = now_ms()
"""

# KEYS: the counters; ARGV: lease id, ttl ms, then each counter's allowance (-1: unlimited).
# Returns 0 when admitted, else the 1-based index of the first counter that was full.
ADMIT = (
    _CLOCK
    + """
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', NOW)
  local allowed = tonumber(ARGV[2 + i])
  if allowed >= 0 and redis.call('ZCARD', key) >= allowed then return i end
end
for _, key in ipairs(KEYS) do redis.call('ZADD', key, NOW + tonumber(ARGV[2]), ARGV[1]) end
return 0
"""
)

# KEYS: one sorted set per holding; ARGV: ttl ms, then the member held in each. A holding that had
# expired (the node was cut off longer than the TTL) is put back, since the call is still up.
# Returns how many were put back.
RENEW = (
    _CLOCK
    + """
local restored = 0
for i, key in ipairs(KEYS) do
  if not redis.call('ZSCORE', key, ARGV[i + 1]) then restored = restored + 1 end
  redis.call('ZADD', key, NOW + tonumber(ARGV[1]), ARGV[i + 1])
end
return restored
"""
)

# KEYS[1]: the event window; ARGV: limit, a unique member, window ms. 1 taken, 0 the window is full.
RATE = (
    _CLOCK
    + """
local window = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', NOW - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], NOW, ARGV[2])
redis.call('PEXPIRE', KEYS[1], 2 * window)
return 1
"""
)

# KEYS: the counters a lease holds; ARGV[1]: the lease id. Gives the lease back in one step.
DROP = """
for _, key in ipairs(KEYS) do redis.call('ZREM', key, ARGV[1]) end
return 0
"""

# KEYS[1]: the total; ARGV: amount, expiry (epoch s). Returns the new total as text.
ADD = """
local total = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
redis.call('EXPIREAT', KEYS[1], ARGV[2])
return total
"""

COUNT = (
    _CLOCK
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', NOW)
return redis.call('ZCARD', KEYS[1])
"""
)

_POOL = (
    _CLOCK
    + """
local P = KEYS[1]
local cfg, tenants, use, used
local function load()
  local raw = redis.call('GET', P .. ':cfg')
  if not raw then return false end
  cfg = cjson.decode(raw)
  tenants = redis.call('SMEMBERS', P .. ':tenants')
  use, used = {}, 0
  for _, t in ipairs(tenants) do
    redis.call('ZREMRANGEBYSCORE', P .. ':held:' .. t, '-inf', NOW)
    local n = redis.call('ZCARD', P .. ':held:' .. t)
    use[t] = n
    used = used + n
  end
  return true
end
local function weight(t)
  local w = cfg.weights[t]
  if w == nil then return cfg.default_weight end
  return w
end
local function inuse(t) return use[t] or 0 end
local function need(t) return inuse(t) / weight(t) end
local function may_take(t)
  local free = cfg.capacity - used
  if free <= 0 then return false end
  local held = 0
  for other, m in pairs(cfg.minimums) do
    if other ~= t then held = held + math.max(0, m - inuse(other)) end
  end
  return free > held or inuse(t) < (cfg.minimums[t] or 0)
end
local function forget(t, ticket)
  redis.call('ZREM', P .. ':wait:' .. t, ticket)
  redis.call('HDEL', P .. ':deadline', ticket)
  redis.call('HDEL', P .. ':node', ticket)
end
local function queued(t)
  local q = P .. ':wait:' .. t
  while true do
    local head = redis.call('ZRANGE', q, 0, 0)
    if #head == 0 then return 0 end
    if tonumber(redis.call('HGET', P .. ':deadline', head[1]) or '0') > NOW then
      return redis.call('ZCARD', q)
    end
    forget(t, head[1])
  end
end
local function grant(t, ticket, ttl)
  redis.call('ZADD', P .. ':held:' .. t, NOW + ttl, ticket)
  use[t] = inuse(t) + 1
  used = used + 1
end
local function dispatch(ttl)
  local n = 0
  while true do
    local best, best_need = nil, nil
    for _, t in ipairs(tenants) do
      if queued(t) > 0 and may_take(t) then
        local nd = need(t)
        if best == nil or nd < best_need then best, best_need = t, nd end
      end
    end
    if best == nil then return n end
    local ticket = redis.call('ZRANGE', P .. ':wait:' .. best, 0, 0)[1]
    local channel = redis.call('HGET', P .. ':node', ticket)
    forget(best, ticket)
    grant(best, ticket, ttl)
    redis.call('PUBLISH', channel, ticket)
    n = n + 1
  end
end
"""
)

# KEYS[1]: pool prefix; ARGV: tenant, ticket, wait ms, ttl ms, grant channel.
# Returns 1 granted now, 0 queued, -1 no such pool.
ACQUIRE = (
    _POOL
    + """
if not load() then return -1 end
local t, ticket = ARGV[1], ARGV[2]
if use[t] == nil then
  redis.call('SADD', P .. ':tenants', t)
  table.insert(tenants, t)
  use[t] = 0
end
local more_deserving = false
for _, other in ipairs(tenants) do
  if other ~= t and queued(other) > 0 and need(other) < need(t) + 1 / weight(t) then
    more_deserving = true
  end
end
if queued(t) == 0 and not more_deserving and may_take(t) then
  grant(t, ticket, tonumber(ARGV[4]))
  return 1
end
redis.call('ZADD', P .. ':wait:' .. t, redis.call('INCR', P .. ':seq'), ticket)
redis.call('HSET', P .. ':deadline', ticket, NOW + tonumber(ARGV[3]))
redis.call('HSET', P .. ':node', ticket, ARGV[5])
return 0
"""
)

# KEYS[1]: pool prefix; ARGV: tenant, ticket, ttl ms. Returns how many waiters were granted.
RELEASE = (
    _POOL
    + """
redis.call('ZREM', P .. ':held:' .. ARGV[1], ARGV[2])
if not load() then return 0 end
return dispatch(tonumber(ARGV[3]))
"""
)

# KEYS[1]: pool prefix; ARGV: tenant, ticket, ttl ms. A waiter gives up: 1 if it had been granted in
# the meantime (the caller keeps the slot), else 0 and the ticket is withdrawn.
CANCEL = (
    _POOL
    + """
if redis.call('ZSCORE', P .. ':held:' .. ARGV[1], ARGV[2]) then return 1 end
forget(ARGV[1], ARGV[2])
if load() then dispatch(tonumber(ARGV[3])) end
return 0
"""
)

# KEYS[1]: pool prefix; ARGV: config JSON, ttl ms. A bigger pool grants waiters at once.
CONFIGURE = (
    _POOL
    + """
redis.call('SET', P .. ':cfg', ARGV[1])
load()
return dispatch(tonumber(ARGV[2]))
"""
)

# KEYS[1]: pool prefix. Returns {capacity, {tenant, in use, waiting}...} flattened.
USAGE = (
    _POOL
    + """
if not load() then return -1 end
local out = {cfg.capacity}
for _, t in ipairs(tenants) do
  table.insert(out, t)
  table.insert(out, inuse(t))
  table.insert(out, queued(t))
end
return out
"""
)
