-- Rank and score of members, with the board's tie strategy, in one call.
-- KEYS[1] = board
-- ARGV[1] = ranking: 'o' ordinal (Redis order), 'c' standard competition (1224), 'd' dense (1223)
-- ARGV[2] = factor: 1 for plain boards, 2^bits for composite boards
-- ARGV[3..] = members
-- Returns a flat array: for each member found, {member, stored score, 0-based ordinal index, tie rank}.
-- Members not on the board are left out.
-- key, ranking and factor are declared by leaderboards-ties.lua, loaded first.

-- fmt, above and tieRank come from leaderboards-ties.lua (prepended at load).

local out = {}
for i = 3, #ARGV do
  local member = ARGV[i]
  local score = redis.call('ZSCORE', key, member)
  if score then
    local index = redis.call('ZREVRANK', key, member)
    out[#out + 1] = member
    out[#out + 1] = score
    out[#out + 1] = index
    out[#out + 1] = tieRank(score, index)
  end
end
return out
