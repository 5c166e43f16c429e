-- fleet.lua is one instance's heartbeat: it keeps the instance in the set of
-- live instances for ttl and returns how many are live, the divisor of the
-- limits each instance enforces alone while Redis is unreachable.
--
-- KEYS[1]: the set of instances (member → expiry, µs).
-- ARGV: now (unix µs; 0 reads the server's clock), ttl (µs), instance.
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + ttl, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.floor(ttl / 1000) + 1000)
return {redis.call('ZCARD', KEYS[1])}
