-- admit.lua decides one request against every subject's buckets and, when
-- all allow it, takes them all. It mirrors Memory.decide and gcra.go
-- expression for expression: change both together.
--
-- KEYS, per subject i: KEYS[2i-1] the rate hash (fields r, t: the requests
-- and tokens TATs, µs), KEYS[2i] the concurrency lease set (member → lease
-- expiry, µs).
-- ARGV: now (unix µs; 0 reads the server's clock), lease (µs), lease member,
-- tokens, then per subject: rpm, tpm, concurrency.
-- Returns: allowed, retry (µs), binding subject (1-based), kind, now, then
-- per subject: requests remaining, requests reset (µs), tokens remaining,
-- tokens reset (µs), slots in use.
local PERIOD = 60000000
local EPS = 1

local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
now = now - 1577836800000000 -- epochMicros in gcra.go: times are µs since 2020-01-01
local lease = tonumber(ARGV[2])
local member = ARGV[3]
local tokens = tonumber(ARGV[4])
local n = (#ARGV - 4) / 3

local allowed, retry, bind, kind = true, 0, 0, 0
local function refuse(i, k, wait)
  if allowed or (kind ~= 4 and (k == 4 or wait > retry)) then
    retry, bind, kind = wait, i, k
    if k == 4 then retry = 0 end
  end
  allowed = false
end

local function take(tat, rate, units)
  local nxt = math.max(tat, now) + units * (PERIOD / rate)
  local over = nxt - now - PERIOD
  if over > EPS then return tat, math.floor(over + 0.5) end
  return nxt, nil
end

local subj = {}
for i = 1, n do
  local s = {
    rpm = tonumber(ARGV[2 + 3 * i]), tpm = tonumber(ARGV[3 + 3 * i]), conc = tonumber(ARGV[4 + 3 * i]),
    r = 0, t = 0, nr = nil, nt = nil, inuse = 0,
  }
  if s.rpm > 0 or s.tpm > 0 then
    local v = redis.call('HMGET', KEYS[2 * i - 1], 'r', 't')
    s.r = tonumber(v[1]) or 0
    s.t = tonumber(v[2]) or 0
  end
  if s.rpm > 0 then
    local tat, wait = take(s.r, s.rpm, 1)
    if wait then refuse(i, 1, wait) else s.nr = tat end
  end
  if s.tpm > 0 then
    if tokens > s.tpm then
      refuse(i, 4, 0)
    else
      local tat, wait = take(s.t, s.tpm, tokens)
      if wait then refuse(i, 2, wait) else s.nt = tat end
    end
  end
  if s.conc > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[2 * i], '-inf', now)
    s.inuse = redis.call('ZCARD', KEYS[2 * i])
    if s.inuse >= s.conc then refuse(i, 3, 1000000) end
  end
  subj[i] = s
end

local function remaining(tat, rate)
  local r = math.floor((PERIOD - math.max(tat - now, 0) + EPS) / (PERIOD / rate))
  return math.max(0, math.min(r, rate))
end

local function reset(tat)
  return math.floor(math.max(tat - now, 0) + 0.5)
end

local out = {allowed and 1 or 0, retry, bind, kind, now}
for i = 1, n do
  local s = subj[i]
  if allowed then
    if s.rpm > 0 or s.tpm > 0 then
      local fields = {}
      if s.nr then s.r = s.nr; fields[#fields + 1] = 'r'; fields[#fields + 1] = s.r end
      if s.nt then s.t = s.nt; fields[#fields + 1] = 't'; fields[#fields + 1] = s.t end
      redis.call('HSET', KEYS[2 * i - 1], unpack(fields))
      redis.call('PEXPIRE', KEYS[2 * i - 1], math.floor((math.max(s.r, s.t) - now) / 1000) + 1000)
    end
    if s.conc > 0 then
      redis.call('ZADD', KEYS[2 * i], now + lease, member)
      redis.call('PEXPIRE', KEYS[2 * i], math.floor(lease / 1000) + 1000)
      s.inuse = s.inuse + 1
    end
  end
  local rr, rs, tr, ts = 0, 0, 0, 0
  if s.rpm > 0 then rr, rs = remaining(s.r, s.rpm), reset(s.r) end
  if s.tpm > 0 then tr, ts = remaining(s.t, s.tpm), reset(s.t) end
  out[#out + 1] = rr
  out[#out + 1] = rs
  out[#out + 1] = tr
  out[#out + 1] = ts
  out[#out + 1] = s.inuse
end
return out
