-- RemoveByTag: one INCR, O(1) whatever the number of tagged entries. Entries remember the generation
-- of each tag they were written under and are stale once it moves.
-- KEYS[1] tag   ARGV[1] retention ms
local gen = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return gen
