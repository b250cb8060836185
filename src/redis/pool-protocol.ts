// The cluster pool's state in Redis, shared by the coordinator (pool.ts)
// and the worker hosts (worker-host.ts). Every key starts with the
// namespace.
//
//   <ns>:pool:tasks          stream of tasks, one consumer group 'workers';
//                            entry fields p (pool id), d (the task message
//                            framed as the local pool's), n (failed deliveries so far)
//   <ns>:pool:workers        hash: worker host → "beatMs leaseMs slots"
//   <ns>:pool:<id>           hash {lease, max, c}: a live pool (expires unless
//                            its coordinator renews it); c counts its cancelled jobs
//   <ns>:pool:<id>:results   stream of result messages (field r: those one FINISH
//                            wrote for the pool, each [length u32][message]), deleted as read
//   <ns>:pool:<id>:cancel    set of cancelled job ids
//
// Why a task is delivered at least once and its result exactly once:
// - An entry leaves the stream only inside FINISH or REQUEUE, each gated on
//   XACK returning 1: of every party that finishes, requeues or reclaims the
//   same entry, exactly one passes the gate, so one result is written per
//   entry, and a requeued copy (a new entry) replaces the old atomically.
// - A worker host that dies stops beating; any other host's RECLAIMABLE scan
//   finds the entries its consumer still holds once its beat is older than
//   the lease it declared, and requeues them (n + 1) or, at maxDeliveries,
//   writes a BrokenPoolError result instead.
// - Entries handed to a host whose connection then broke stay pending under
//   its consumer: the host re-reads its own pending entries (id 0) after any
//   failed read.
// - A coordinator takes the first result per seq and ignores any other (a
//   task added twice by a retried XADD runs twice but settles once).
// Nothing grows without bound: results are deleted when read and expire
// with their pool; a dead pool's tasks are dropped by the hosts; a dead
// host's consumer and beat are removed once it holds nothing; the task
// stream is deleted when a pool or host leaves it empty.

import { BrokenPoolError } from '../errors.js';

export const GROUP = 'workers';
/** A pool key lives this long unless its coordinator renews it (every third of it). */
export const POOL_TTL_MS = 60_000;

export interface PoolKeys {
  tasks: string;
  workers: string;
}

export function sharedKeys(namespace: string): PoolKeys {
  return { tasks: `${namespace}:pool:tasks`, workers: `${namespace}:pool:workers` };
}

export function poolKey(namespace: string, poolId: string): string {
  return `${namespace}:pool:${poolId}`;
}

export const resultsKey = (pool: string) => `${pool}:results`;
export const cancelKey = (pool: string) => `${pool}:cancel`;

/** Creates the stream and its group (from id 0: nothing already added is skipped); BUSYGROUP is fine. */
export const ENSURE_GROUP = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
  for _, g in ipairs(groups) do
    for i = 1, #g, 2 do if g[i] == 'name' and g[i + 1] == ARGV[1] then return 0 end end
  end
end
redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
return 1`;

/**
 * KEYS: tasks. ARGV: group. Deletes the task stream once nothing is in it
 * or held from it, so that a namespace whose pools and hosts are gone
 * leaves no key (a host still reading re-creates it: ENSURE_GROUP on NOGROUP).
 */
export const DROP_IF_IDLE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('XLEN', KEYS[1]) > 0 or redis.call('XPENDING', KEYS[1], ARGV[1])[1] > 0 then return 0 end
redis.call('DEL', KEYS[1])
return 1`;

/**
 * KEYS: tasks. ARGV: pool id, task messages packed as packMessages does.
 * Adds the tasks (no delivery failed yet). One argument for a whole batch:
 * the client encodes, and Redis parses, two protocol items instead of
 * three per task.
 */
export const ADD = `
local packed, at, n = ARGV[2], 1, 0
while at <= #packed do
  local len = struct.unpack('<I4', packed, at)
  redis.call('XADD', KEYS[1], '*', 'p', ARGV[1], 'd', string.sub(packed, at + 4, at + 3 + len), 'n', '0')
  at = at + 4 + len
  n = n + 1
end
return n`;

/** Messages as one buffer, each as [length u32 LE][bytes] (ADD's, FINISH's results). */
export function packMessages(messages: readonly Uint8Array[]): Buffer {
  let total = 0;
  for (const m of messages) total += 4 + m.length;
  const packed = Buffer.allocUnsafe(total);
  let at = 0;
  for (const m of messages) {
    packed.writeUInt32LE(m.length, at);
    packed.set(m, at + 4);
    at += 4 + m.length;
  }
  return packed;
}

/**
 * KEYS: tasks, then per finished entry its pool's results and pool keys.
 * ARGV: group, then per entry its id and result message (empty: none).
 * Each entry is acknowledged and deleted; its result is kept if the entry
 * was still pending (the XACK gate) and its pool is alive. The results for
 * one pool go out as one stream entry (read with unpackResults).
 */
export const FINISH = `
local out, order = {}, {}
for i = 2, #ARGV, 2 do
  if redis.call('XACK', KEYS[1], ARGV[1], ARGV[i]) == 1 then
    redis.call('XDEL', KEYS[1], ARGV[i])
    if ARGV[i + 1] ~= '' then
      local key = KEYS[i]
      if not out[key] then
        out[key] = {}
        order[#order + 1] = i
      end
      local parts = out[key]
      parts[#parts + 1] = struct.pack('<I4', #ARGV[i + 1])
      parts[#parts + 1] = ARGV[i + 1]
    end
  end
end
for _, i in ipairs(order) do
  local ttl = redis.call('PTTL', KEYS[i + 1])
  if ttl > 0 then
    redis.call('XADD', KEYS[i], '*', 'r', table.concat(out[KEYS[i]]))
    redis.call('PEXPIRE', KEYS[i], ttl)
  end
end
return 1`;

/** The messages of a packMessages buffer, or of one results entry (views of `packed`). */
export function* unpackResults(packed: Buffer): Generator<Buffer> {
  for (let at = 0; at + 4 <= packed.length; ) {
    const n = packed.readUInt32LE(at);
    yield packed.subarray(at + 4, at + 4 + n);
    at += 4 + n;
  }
}

/**
 * KEYS: tasks, results, pool. ARGV: group, entry id, pool id, task message,
 * failed deliveries including this one, maxDeliveries, the failure result.
 * A delivery failed (its host died, or its child did): the entry is
 * replaced by a copy at the end of the stream, or, once maxDeliveries
 * deliveries failed, by the failure result. Returns 1 if this call did it.
 */
export const REQUEUE = `
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('XDEL', KEYS[1], ARGV[2])
local ttl = redis.call('PTTL', KEYS[3])
if ttl <= 0 then return 1 end
if tonumber(ARGV[5]) >= tonumber(ARGV[6]) then
  redis.call('XADD', KEYS[2], '*', 'r', struct.pack('<I4', #ARGV[7]) .. ARGV[7])
  redis.call('PEXPIRE', KEYS[2], ttl)
else
  redis.call('XADD', KEYS[1], '*', 'p', ARGV[3], 'd', ARGV[4], 'n', ARGV[5])
end
return 1`;

/** KEYS: workers. ARGV: host, lease ms, slots. The host is alive (server time, so hosts' clocks do not matter). */
export const BEAT = `
local t = redis.call('TIME')
redis.call('HSET', KEYS[1], ARGV[1], (t[1] * 1000 + math.floor(t[2] / 1000)) .. ' ' .. ARGV[2] .. ' ' .. ARGV[3])
return 1`;

/**
 * KEYS: tasks, workers. ARGV: group, most entries to return, idle grace ms.
 * Returns [entry id, host, …] for entries held by hosts whose beat is older
 * than their lease (or missing); forgets hosts that hold nothing and have
 * not beaten for their lease plus the grace.
 */
export const RECLAIMABLE = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local function late(beat, grace)
  if not beat then return true end
  local b, l = string.match(beat, '(%d+) (%d+)')
  return now - tonumber(b) > tonumber(l) + grace
end
local out = {}
if redis.call('EXISTS', KEYS[1]) == 0 then return out end
local summary = redis.call('XPENDING', KEYS[1], ARGV[1])
local holding = {}
if summary[1] > 0 then
  for _, c in ipairs(summary[4]) do
    holding[c[1]] = true
    if late(redis.call('HGET', KEYS[2], c[1]), 0) then
      for _, e in ipairs(redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', ARGV[2], c[1])) do
        out[#out + 1] = e[1]
        out[#out + 1] = c[1]
      end
    end
  end
end
local beats = redis.call('HGETALL', KEYS[2])
for i = 1, #beats, 2 do
  if not holding[beats[i]] and late(beats[i + 1], tonumber(ARGV[3])) then
    redis.call('HDEL', KEYS[2], beats[i])
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], beats[i])
  end
end
return out`;

/** KEYS: workers. The worker slots of hosts whose beat is within their lease. */
export const LIVE_SLOTS = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local n = 0
local beats = redis.call('HGETALL', KEYS[1])
for i = 2, #beats, 2 do
  local b, l, s = string.match(beats[i], '(%d+) (%d+) (%d+)')
  if now - tonumber(b) <= tonumber(l) then n = n + tonumber(s) end
end
return n`;

/** Fields of a stream entry ([k, v, k, v]) by name. */
export function entryFields(fields: Buffer[]): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (let i = 0; i + 1 < fields.length; i += 2) out.set(fields[i].toString(), fields[i + 1]);
  return out;
}

/** One stream entry: [id, [k, v, …]]. */
export type StreamEntry = [Buffer, Buffer[]];
/** An XREAD / XREADGROUP reply: [[stream, entries]] or null. */
export type StreamReply = [Buffer, StreamEntry[]][] | null;

/** A task that failed on its last allowed delivery. */
export function deliveriesError(deliveries: number, cause: string): BrokenPoolError {
  return new BrokenPoolError(`the task was delivered ${deliveries} times (maxDeliveries) and each delivery failed; the last: ${cause}`);
}
