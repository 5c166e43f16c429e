-- release.lua ends a request: it corrects every tokens bucket by
-- actual − estimate (as correct in gcra.go) and frees the lease.
--
-- KEYS, per subject i: KEYS[2i-1] the rate hash, KEYS[2i] the lease set.
-- ARGV: now (unix µs; 0 reads the server's clock), lease member, delta tokens,
-- then per subject: tpm, 1 if it holds a lease else 0.
local PERIOD = 60000000

local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
now = now - 1577836800000000 -- epochMicros in gcra.go: times are µs since 2020-01-01
local member = ARGV[2]
local delta = tonumber(ARGV[3])
local n = (#ARGV - 3) / 2

for i = 1, n do
  local tpm = tonumber(ARGV[2 + 2 * i])
  if tpm > 0 and delta ~= 0 then
    local h = KEYS[2 * i - 1]
    local v = redis.call('HMGET', h, 'r', 't')
    local r, t = tonumber(v[1]) or 0, tonumber(v[2]) or 0
    local d = delta * (PERIOD / tpm)
    if delta > 0 then t = math.max(t, now) + d else t = math.max(t + d, now) end
    redis.call('HSET', h, 't', t)
    local last = math.max(r, t)
    if last <= now then
      redis.call('DEL', h)
    else
      redis.call('PEXPIRE', h, math.floor((last - now) / 1000) + 1000)
    end
  end
  if ARGV[3 + 2 * i] == '1' then
    redis.call('ZREM', KEYS[2 * i], member)
  end
end
return {}
