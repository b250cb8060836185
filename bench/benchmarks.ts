/**
 * The benchmarks bench/run.ts knows about, in run order.
 *
 * Each NAME maps to our module bench/NAME.ts (run as a child
 * `node --import tsx bench/NAME.ts [--quick] [--reps N]`, which prints JSON
 * lines and exports a `compare` table) and to the Python reference script
 * NAME.py in ../shared/bench/python (or $MULTIPROC_PY_BENCH).
 * `module` / `python` override the file names (a `python` path with a folder is
 * our own twin, relative to the repo root, run in the reference folder so it
 * can reuse the reference scripts); `python: null` = no Python twin.
 */
export interface BenchEntry {
  name: string;
  about: string;
  module?: string;
  python?: string | null;
}

export const BENCHMARKS: BenchEntry[] = [
  { name: 'process_start', about: 'Process start / first instruction / start+join latency' },
  { name: 'queue_throughput', about: 'Queue / SimpleQueue producer -> consumer msg/s and MB/s' },
  { name: 'pipe_roundtrip', about: 'Pipe ping-pong latency and sendBytes throughput' },
  { name: 'joinable_queue', about: 'JoinableQueue taskDone()/join() overhead vs a plain Queue' },
  { name: 'large_array', about: '64 MiB through a Queue, a Pipe and SharedMemory' },
  { name: 'value_lock', about: 'Value(\'i\') increments under its lock, Lock acquire/release, Array(\'d\', 1M) access' },
  { name: 'manager_ops', about: 'Manager start/shutdown, proxy op latency (dict, list, Namespace, Lock) from a child, the parent and over TCP' },
  { name: 'pool_map', about: 'Pool(2): start-up, map/imap/applyAsync throughput, serial apply latency, maxtasksperchild' },
  { name: 'channel_load', about: 'Queue under contention (N -> N up to 2 x cpus), lists of ints, small objects, both ends on one CPU', python: 'bench/python/channel_load.py' },
  { name: 'redis', about: 'cluster Pool on Redis (2 worker hosts x 4) vs BullMQ: tiny tasks, a 1M-item map, lease-expiry recovery', python: null },
  { name: 'pool_peers', about: 'Pool vs piscina and tinypool: 64 tasks in flight, serial round trip, start-up', python: null },
];

export const moduleFile = (e: BenchEntry): string => e.module ?? `${e.name}.ts`;
export const pythonFile = (e: BenchEntry): string | null =>
  e.python === undefined ? `${e.name}.py` : e.python;
