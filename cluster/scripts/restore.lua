-- restore puts back entries Redis does not have: shared entries this
-- instance holds (after Redis lost its data; each kept under its ID, the
-- counter raised past them) and entries it logged while cut off, which get
-- their shared IDs here and are announced. ARGV: prefix, floor, log size,
-- shared entries, provisional entries (both GS-separated, oldest first).
-- Returns the provisional entries as renumbered, in order.
local floor, log_size = tonumber(ARGV[2]), tonumber(ARGV[3])
for _, e in ipairs(split(ARGV[4], GS)) do
  local id = tonumber(split(e, RS)[1])
  if redis.call('ZCOUNT', p .. 'log', id, id) == 0 then redis.call('ZADD', p .. 'log', id, e) end
  if id > floor then floor = id end
end
local current = tonumber(redis.call('GET', p .. 'log:next') or '0')
if current < floor then redis.call('SET', p .. 'log:next', int(floor)) end
local renumbered = {}
for _, e in ipairs(split(ARGV[5], GS)) do
  local f = split(e, RS)
  local id = next_id(floor)
  f[1] = int(id)
  local shared = table.concat(f, RS)
  redis.call('ZADD', p .. 'log', id, shared)
  renumbered[#renumbered + 1] = shared
end
trim_log(log_size)
if #renumbered > 0 then
  redis.call('XADD', p .. 'events', 'MAXLEN', '~', MAX_EVENTS, '*', 't', 'l', 'l', table.concat(renumbered, GS))
end
return renumbered
