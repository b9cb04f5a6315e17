-- Change an entry's expiry: patch the logical expiry in the envelope header (8 bytes at offset 1)
-- and the physical TTL together. ARGV[2] = -1 removes the physical TTL (persist).
-- KEYS[1] value   ARGV[1] 8-byte little-endian expiry (unix ms), ARGV[2] physical ttl ms or -1
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('SETRANGE', KEYS[1], 1, ARGV[1])
if ARGV[2] == '-1' then
  redis.call('PERSIST', KEYS[1])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
