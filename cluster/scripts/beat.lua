-- beat is every instance's heartbeat: it keeps this instance alive (only
-- while it is registered with its epoch), and answers the Redis data's
-- sentinel (set from candidate when missing: the data is new or was lost),
-- every registered instance's epoch:seq, and those whose alive key is gone.
-- ARGV: prefix, id, epoch, TTL in ms, candidate sentinel.
local id, epoch, ttl, candidate = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local sentinel = redis.call('GET', p .. 'epoch')
if not sentinel then
  sentinel = candidate
  redis.call('SET', p .. 'epoch', sentinel)
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
return {sentinel, instances, dead}
