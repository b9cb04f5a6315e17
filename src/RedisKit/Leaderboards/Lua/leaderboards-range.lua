-- A slice of a board (highest first) with the tie rank of its first entry, in one call.
-- KEYS[1] = board
-- ARGV[1] = ranking: 'o' | 'c' | 'd' (see leaderboards-rank.lua)
-- ARGV[2] = factor: 1 for plain boards, 2^bits for composite boards
-- ARGV[3] = kind: 'index' (ARGV[4] = start, ARGV[5] = stop, 0-based) |
--                 'around' (ARGV[4] = member, ARGV[5] = k) |
--                 'score' (ARGV[4] = max stored score, ARGV[5] = min stored score, ARGV[6] = limit)
-- Returns {first 0-based index, tie rank of first entry, member1, score1, member2, score2, ...},
-- or {} when the slice is empty (or the member of 'around' is not on the board).
-- key, ranking and factor are declared by leaderboards-ties.lua, loaded first.
local kind = ARGV[3]

-- fmt, above and tieRank come from leaderboards-ties.lua (prepended at load).

local start
local items
if kind == 'index' then
  start = tonumber(ARGV[4])
  items = redis.call('ZREVRANGE', key, start, tonumber(ARGV[5]), 'WITHSCORES')
elseif kind == 'around' then
  local index = redis.call('ZREVRANK', key, ARGV[4])
  if not index then
    return {}
  end
  local k = tonumber(ARGV[5])
  start = index - k
  if start < 0 then
    start = 0
  end
  items = redis.call('ZREVRANGE', key, start, index + k, 'WITHSCORES')
else
  items = redis.call('ZREVRANGEBYSCORE', key, ARGV[4], ARGV[5], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[6]))
  if #items > 0 then
    -- Everything strictly above the first returned score comes before it; equal scores are all in range.
    start = redis.call('ZCOUNT', key, '(' .. items[2], '+inf')
  end
end

if #items == 0 then
  return {}
end
local out = {start, tieRank(items[2], start)}
for i = 1, #items do
  out[#out + 1] = items[i]
end
return out
