-- beat is every instance's heartbeat: it keeps this instance alive (only
-- while it is registered with its epoch), and answers the Redis data's
-- sentinel (set from candidate when missing: the data is new or was lost),
-- every registered instance's epoch:seq, those whose alive key is gone,
-- how long the cluster still settles after a data loss (PTTL of
-- p:settling), the stream's first event, and the last entry ID issued.
-- ARGV: prefix, id, epoch, TTL in ms, candidate sentinel, the sentinel the
-- caller held ('' at its start). Replacing a sentinel the caller held
-- means Redis lost its data: the cluster settles for a TTL.
local id, epoch, ttl, candidate, held = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
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
    end
  elseif redis.call('EXISTS', p .. 'alive:' .. instances[i]) == 0 then
    dead[#dead + 1] = instances[i]
  end
end
local first = redis.call('XRANGE', p .. 'events', '-', '+', 'COUNT', 1)
local first_id = ''
if #first > 0 then first_id = first[1][1] end
return {sentinel, instances, dead, redis.call('PTTL', p .. 'settling'), first_id, redis.call('GET', p .. 'log:next') or '0'}
