-- Adds an entry to a stream, at most once per idempotency key.
-- KEYS[1] stream; KEYS[2] (optional) idempotency key, hash-tagged with the stream (same slot).
-- ARGV[1] payload (JSON); ARGV[2] approximate MAXLEN (0 = no trim); ARGV[3] idempotency TTL in ms.
-- Returns {1, id} when added, {0, id-of-the-first-add} when the key was seen within its TTL.
if #KEYS > 1 then
  if not redis.call('SET', KEYS[2], '', 'NX', 'PX', ARGV[3]) then
    return {0, redis.call('GET', KEYS[2])}
  end
end
local id
local maxlen = tonumber(ARGV[2])
if maxlen > 0 then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', 'data', ARGV[1])
else
  id = redis.call('XADD', KEYS[1], '*', 'data', ARGV[1])
end
if #KEYS > 1 then
  redis.call('SET', KEYS[2], id, 'XX', 'KEEPTTL')
end
return {1, id}
