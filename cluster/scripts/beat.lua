-- beat is every instance's heartbeat: it keeps this instance alive (only
-- while it is registered with its epoch), and answers the Redis data's
-- sentinel (set from candidate when missing: the data is new or was lost),
-- every registered instance's epoch:seq, those whose alive key is gone,
-- how long the cluster still settles after a data loss (PTTL of
-- p:settling), the stream's first event, the last entry ID issued, and
-- the entries of the guest windows it closed. ARGV: prefix, id, epoch, TTL
-- in ms, candidate sentinel, the sentinel the caller held ('' at its
-- start), floor, log size. Replacing a sentinel the caller held means
-- Redis lost its data: the cluster settles for a TTL.
--
-- A registered instance's heartbeat also closes the guest windows that
-- are due (see common.lua), logging their summaries and announcing them
-- on the stream: of several instances beating at once, the first closes
-- a window and the others find it closed. Idle, with no window open, this
-- costs one ZRANGE. While the cluster settles, windows due are dropped
-- unlogged: they may be older than the data Redis lost.
local id, epoch, ttl, candidate, held = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local floor, log_size = tonumber(ARGV[7]) or 0, tonumber(ARGV[8]) or 50
local registered = false
local sentinel = redis.call('GET', p .. 'epoch')
if not sentinel then
  sentinel = candidate
  redis.call('SET', p .. 'epoch', sentinel)
  if held ~= '' then redis.call('SET', p .. 'settling', '1', 'PX', ttl) end
end
local instances = redis.call('HGETALL', p .. 'instances')
local dead = {}
for i = 1, #instances, 2 do
  if instances[i] == id then
    if string.sub(instances[i + 1], 1, #epoch + 1) == epoch .. ':' then
      redis.call('SET', p .. 'alive:' .. id, epoch, 'PX', ttl)
      registered = true
    end
  elseif redis.call('EXISTS', p .. 'alive:' .. instances[i]) == 0 then
    dead[#dead + 1] = instances[i]
  end
end
local closed = {}
local earliest = registered and redis.call('ZRANGE', WINDOWS, 0, 0, 'WITHSCORES') or {}
if #earliest > 0 then
  local at = now_ms()
  if tonumber(earliest[2]) <= at then
    local settling = redis.call('EXISTS', p .. 'settling') == 1
    -- A bounded batch; the next heartbeat takes the rest.
    for _, room in ipairs(redis.call('ZRANGEBYSCORE', WINDOWS, '-inf', at, 'LIMIT', 0, 100)) do
      if settling then drop_window(room) else close_window(room, at, floor, log_size, closed) end
    end
    if #closed > 0 then
      redis.call('XADD', p .. 'events', 'MAXLEN', '~', MAX_EVENTS, '*', 't', 'l', 'l', table.concat(closed, GS))
    end
  end
end
local first = redis.call('XRANGE', p .. 'events', '-', '+', 'COUNT', 1)
local first_id = ''
if #first > 0 then first_id = first[1][1] end
return {sentinel, instances, dead, redis.call('PTTL', p .. 'settling'), first_id, redis.call('GET', p .. 'log:next') or '0',
  table.concat(closed, GS)}
