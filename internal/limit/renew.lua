-- renew.lua extends the leases of requests still running, so that only
-- the slots of a crashed instance (or of a release that failed) expire.
-- XX: a lease already freed or expired is not brought back.
--
-- KEYS: lease sets. ARGV: now (unix µs; 0 reads the server's clock), lease (µs),
-- then one member per key.
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
now = now - 1577836800000000 -- epochMicros in gcra.go: times are µs since 2020-01-01
local lease = tonumber(ARGV[2])
for i = 1, #KEYS do
  if redis.call('ZADD', KEYS[i], 'XX', 'CH', now + lease, ARGV[2 + i]) == 1 then
    redis.call('PEXPIRE', KEYS[i], math.floor(lease / 1000) + 1000)
  end
end
return {}
