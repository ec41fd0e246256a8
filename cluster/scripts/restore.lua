-- restore puts back entries Redis does not have, each in its room's log:
-- shared entries this instance holds (after Redis lost its data; each kept under its ID, the
-- counter raised past them) and entries it logged while cut off, which get
-- their shared IDs here and are announced. ARGV: prefix, floor, log size,
-- shared entries, provisional entries (both GS-separated, oldest first),
-- instance. Returns the provisional entries as renumbered, in order. A
-- provisional entry restored before (the answer was lost) keeps the shared
-- ID it got then, so it is never shared twice.
local floor, log_size, instance = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[6]
local restored = p .. 'restored:' .. instance
for _, e in ipairs(split(ARGV[4], GS)) do
  local f = split(e, RS)
  local id, room = tonumber(f[1]), f[7] or ''
  if redis.call('ZCOUNT', log_key(room), id, id) == 0 then add_logged(room, id, e, log_size) end
  if id > floor then floor = id end
end
local current = tonumber(redis.call('GET', p .. 'log:next') or '0')
if current < floor then redis.call('SET', p .. 'log:next', int(floor)) end
local renumbered = {}
local announce = {}
for _, e in ipairs(split(ARGV[5], GS)) do
  local f = split(e, RS)
  local room = f[7] or ''
  -- Provisional IDs are numbered per room's hub, from the same base each
  -- time a room is made anew: the room and the entry's time are part of
  -- the name, so that a later hub's entry is not taken for an earlier one's.
  local provisional = share_field(room, f[1]) .. FS .. f[2]
  local shared = redis.call('HGET', restored, provisional)
  if not shared then
    local id = next_id(floor)
    f[1] = int(id)
    shared = table.concat(f, RS)
    add_logged(room, id, shared, log_size)
    redis.call('HSET', restored, provisional, shared)
    announce[#announce + 1] = shared
  end
  renumbered[#renumbered + 1] = shared
end
redis.call('PEXPIRE', restored, 86400000)
if #announce > 0 then
  redis.call('XADD', p .. 'events', 'MAXLEN', '~', MAX_EVENTS, '*', 't', 'l', 'l', table.concat(announce, GS))
end
return renumbered
