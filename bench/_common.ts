/**
 * Shared helpers for the multiproc benchmarks (mirrors ../shared/bench/python/_common.py).
 *
 * Every benchmark module prints one JSON object per line on stdout:
 *
 *     {"bench", "metric", "impl", "value", "unit", ...extra}
 *
 * `impl` names what was measured: 'multiproc-thread', 'multiproc-process',
 * or a plain-Node peer ('node-worker', 'node-spawn', 'node-fork').
 * Extra keys (optional): "reps", "samples", "n", "note".
 *
 * Timing uses process.hrtime.bigint(), which on Linux is CLOCK_MONOTONIC and
 * therefore comparable between threads and processes on the same machine
 * (the same clock as Python's time.perf_counter()).
 */
import { spawnSync } from 'node:child_process';
import { isMainThread, type Worker } from 'node:worker_threads';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Our metric name -> the Python metric name(s) it is comparable with. */
export type Compare = Record<string, string[]>;

export interface Args {
  quick: boolean;
  reps: number | null;
}

/** Parse --quick and --reps N (also --reps=N) from argv. */
export function parseArgs(argv: string[] = process.argv.slice(2)): Args {
  const args: Args = { quick: false, reps: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') args.quick = true;
    else if (a === '--reps' || a.startsWith('--reps=')) {
      const v = a === '--reps' ? argv[++i] : a.slice('--reps='.length);
      const n = Number.parseInt(v ?? '', 10);
      if (!Number.isFinite(n)) throw new Error(`--reps needs a number, got ${v}`);
      args.reps = n;
    } else if (a === '--help' || a === '-h') {
      log('options: --quick (smaller sizes / fewer repetitions), --reps N');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return args;
}

/** Number of repetitions: --reps wins, else quick/normal default. */
export function reps(args: Args, normal = 3, quick = 1): number {
  if (args.reps !== null) return Math.max(1, args.reps);
  return args.quick ? quick : normal;
}

export function size<T>(args: Args, normal: T, quick: T): T {
  return args.quick ? quick : normal;
}

/** Round to 4 significant digits, like _common.py's _round. */
export function round(v: unknown): unknown {
  if (typeof v !== 'number' || Number.isInteger(v) || !Number.isFinite(v) || v === 0) return v;
  return Number(v.toPrecision(4));
}

export function emit(
  bench: string, metric: string, impl: string, value: number, unit: string,
  extra: Record<string, unknown> = {},
): void {
  const rec: Record<string, unknown> = { bench, metric, impl, value: round(value), unit };
  for (const [k, v] of Object.entries(extra)) {
    rec[k] = k === 'samples' && Array.isArray(v) ? v.map(round) : v;
  }
  process.stdout.write(JSON.stringify(rec) + '\n');
}

/** Emit the median of samples (with the samples attached). */
export function emitMedian(
  bench: string, metric: string, impl: string, samples: number[], unit: string,
  extra: Record<string, unknown> = {},
): void {
  const ex = { reps: samples.length, ...extra };
  if (samples.length > 1 && !('samples' in ex)) Object.assign(ex, { samples });
  emit(bench, metric, impl, median(samples), unit, ex);
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Nearest-rank percentile (p in 0..100); sorts a copy. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const k = Math.max(0, Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1));
  return s[k];
}

/** Monotonic clock in ns (system-wide CLOCK_MONOTONIC on Linux). */
export const nowNs = (): bigint => process.hrtime.bigint();
/** Milliseconds between two nowNs() stamps. */
export const msBetween = (a: bigint, b: bigint): number => Number(b - a) / 1e6;

export function log(...a: unknown[]): void {
  process.stderr.write(a.map(String).join(' ') + '\n');
}

/**
 * True when the module with this import.meta.url is the program's entry
 * (run as `node --import tsx bench/NAME.ts`), on the main thread — so that
 * bench/run.ts can import a module for its `compare` table without running it.
 */
export function isMain(importMetaUrl: string): boolean {
  const entry = process.argv[1];
  return isMainThread && !!entry && resolve(entry) === fileURLToPath(importMetaUrl);
}

/**
 * Turns multiproc's warm spares off for this benchmark (unless the caller
 * set MULTIPROC_WARM_SPARES; read at each start): a spare boots in the
 * background after every start(), and on 2 CPUs that boot overlaps the
 * timed loops, which Python's fork does not pay for.
 */
export function noWarmSpares(): void {
  process.env.MULTIPROC_WARM_SPARES ??= '0';
}

/**
 * Load the package under test via its self-reference ('multiproc' -> dist/).
 * Returns null (with a note on stderr) when dist/ is not built yet.
 */
export async function loadMultiproc(): Promise<any | null> {
  try {
    const spec = 'multiproc'; // via a variable: typechecks whether or not dist/ is built
    const mp: any = await import(spec);
    if (typeof mp.getContext !== 'function' || typeof mp.Process !== 'function') {
      log('# note: multiproc has no Process/getContext yet; measuring Node peers only');
      return null;
    }
    return mp;
  } catch (e) {
    log(`# note: cannot load multiproc (${(e as Error).message.split('\n')[0]}); ` +
      'build it with `npx tsc`. Measuring Node peers only');
    return null;
  }
}

/** Messages from a worker, one per call, in order; a worker error rejects. */
export function mailbox(w: Worker): () => Promise<any> {
  const box: any[] = [];
  const waiters: [(v: any) => void, (e: unknown) => void][] = [];
  let failed: unknown = null;
  w.on('message', (m) => (waiters.length ? waiters.shift()![0](m) : box.push(m)));
  w.on('error', (e) => {
    failed = e;
    for (const [, rej] of waiters.splice(0)) rej(e);
  });
  return () => (box.length ? Promise.resolve(box.shift()) : failed ? Promise.reject(failed) : new Promise((res, rej) => waiters.push([res, rej])));
}

/**
 * `p`, or a rejection naming `what` once `ms` pass first (then `onTimeout` runs,
 * e.g. to kill a stuck child): a benchmark fails instead of hanging.
 */
export function deadline<T>(p: Promise<T>, ms: number, what: string, onTimeout?: () => void): Promise<T> {
  let timer: NodeJS.Timeout;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout?.();
      reject(new Error(`${what}: no answer within ${ms / 1000} s`));
    }, ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/**
 * The entry point of every benchmark file: runs `main` when the file is run
 * directly (not when run.ts imports it for its compare table), and exits 5 s
 * after it ends if a leftover handle keeps the process alive (reported, so the
 * leak is visible).
 */
export async function runIfMain(importMetaUrl: string, main: () => Promise<void>): Promise<void> {
  if (!isMain(importMetaUrl)) return;
  await main();
  setTimeout(() => {
    log('# note: still alive 5 s after the benchmark ended (open handles); exiting');
    process.exit(process.exitCode ?? 0);
  }, 5000).unref();
}

/**
 * Re-runs the benchmark module at `moduleUrl` with `--same-cpu`, pinned with
 * `taskset -c` to the first CPU this process may use (its threads and child
 * processes inherit it); its JSON lines go straight to our stdout.
 */
export function sameCpuRun(moduleUrl: string, argv: string[]): void {
  const which = spawnSync('taskset', ['-cp', String(process.pid)], { encoding: 'utf8' });
  const m = /:\s*([0-9]+)/.exec(which.stdout ?? '');
  if (which.status !== 0 || !m) {
    log('# note: taskset not available; no _same_cpu figures');
    return;
  }
  const r = spawnSync('taskset', ['-c', m[1], process.execPath, ...process.execArgv, fileURLToPath(moduleUrl), '--same-cpu', ...argv], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (r.status !== 0) {
    log(`# same-cpu run failed (exit ${r.status})`);
    process.exitCode = 1;
  }
}
