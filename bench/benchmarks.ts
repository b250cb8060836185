/**
 * The benchmarks bench/run.ts knows about, in run order.
 *
 * Each NAME maps to our module bench/NAME.ts (run as a child
 * `node --import tsx bench/NAME.ts [--quick] [--reps N]`, which prints JSON
 * lines and exports a `compare` table) and to the Python reference script
 * NAME.py in ../shared/bench/python (or $MULTIPROC_PY_BENCH).
 * `module` / `python` override the file names; `python: null` = no Python twin.
 */
export interface BenchEntry {
  name: string;
  about: string;
  module?: string;
  python?: string | null;
}

export const BENCHMARKS: BenchEntry[] = [
  { name: 'process_start', about: 'Process start / first instruction / start+join latency' },
  // To come, mirroring the Python scripts: queue_throughput, pipe_roundtrip,
  // value_lock, manager_ops, pool_map, large_array, joinable_queue.
];

export const moduleFile = (e: BenchEntry): string => e.module ?? `${e.name}.ts`;
export const pythonFile = (e: BenchEntry): string | null =>
  e.python === undefined ? `${e.name}.py` : e.python;
