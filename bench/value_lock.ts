/**
 * value_lock: a shared Value('i') under its lock, plain Locks, and
 * Array('d', 1_000_000) (mirrors ../shared/bench/python/value_lock.py).
 *
 * For multiproc's 'thread' and 'process' contexts:
 *
 * Part A - counters. P children (P = 1, 2, 4; with 2 cores P=4 is
 * oversubscribed) each do K increments of a shared Value('i', 0):
 *   locked_*            `lock.acquireSync(); v.value += 1; lock.release()`
 *                       with lock = v.getLock() (an RLock, as Python's);
 *                       the final value is checked to be exactly P*K
 *                       (locked_final_count_exact_*, 1 = exact).
 *   atomic_add_*        `v.add(1)` (Atomics.add, no lock) - our own figure,
 *                       no Python twin; also checked exact.
 *   raw_* (P=2)         `v.value += 1` on a RawValue: lost updates show the race.
 *   sync_no_get_lock_* (P=2) `v.value += 1` on a Value without getLock().
 *                       Python's takes the lock once for the read and once for
 *                       the write; ours are single atomic load/store, also
 *                       without the lock - not atomic as a whole either way.
 * Part A' - our own figures (Python's script has none): Lock acquire/release
 * pairs per second, uncontended (1 child, acquireSync/release; and
 * `await acquire()`/release), and contended (2 and 4 children, one Lock).
 *
 * Timed region: children first wait on a Barrier(P+1) that the parent joins
 * once all of them wait there, then each stamps
 * process.hrtime.bigint() (CLOCK_MONOTONIC, comparable between threads and
 * processes) before and after its loop into a RawArray('d'); rate =
 * P*K / (latest end - earliest start). Process start-up is excluded, as in
 * Python (which stamps perf_counter() after its Barrier).
 * The total count is larger than Python's (40 000 / 400 000): at ours 5-50x
 * the rate, such a run lasts a few milliseconds, mostly spent before the JIT
 * has compiled the loop. Quick 1 M, normal 4 M (JIT warm-up included); the
 * figures are rates, so they compare as Python's do.
 *
 * Part B - Array('d', 1_000_000) (synchronized, 8 MB) accessed from a child:
 *   slice_write_from_list          arr.set(numberArray) under the lock (Python: arr[:] = list)
 *   slice_read_to_list             Array.from(arr) under the lock   (Python: arr[:])
 *   memoryview_write               arr.set(float64Array) under the lock
 *   memoryview_read_into_prealloc  dst.set(arr), dst a preallocated Float64Array
 *   memoryview_read_new_bytes      arr.slice() (a new Float64Array: allocation + first touch)
 * each cold (first run) and warm (median of the next 3), and element-wise
 * arr[i] = 1.5 / s += arr[i] over the first N elements (quick 20 000, normal
 * 200 000, as Python; ours keeps the median of 5 passes, the first being
 * mostly unoptimized code). Python's element access takes the lock on every
 * element; ours is plain typed-array indexing (what a user writes; each
 * aligned element access is atomic on its own). Both forms are reported:
 * array_d_elementwise_*_ops_per_s (plain) and locked_array_d_elementwise_*
 * (acquireSync/release around each element, Python's semantics); both pair
 * with Python's figure.
 * Warm spare children are turned off (MULTIPROC_WARM_SPARES=0): multiproc
 * otherwise boots one in the background after each start(), and on 2 cores
 * that boot would overlap the timed loops (Python's fork has no such work).
 * Repetitions: quick 1, normal 3 (median); --reps N.
 */
import {
  type Args, type Compare, emit, emitMedian, loadMultiproc, log, median, parseArgs, reps, size, runIfMain, noWarmSpares } from './_common.js';

const BENCH = 'value_lock';
const NPROCS = [1, 2, 4];
const ARRAY_OPS = [
  'slice_write_from_list', 'slice_read_to_list', 'memoryview_write',
  'memoryview_read_into_prealloc', 'memoryview_read_new_bytes',
] as const;
/** Slots of the array child's result RawArray: per op cold, warm; then 4 element-wise times (s). */
const ELEM_SLOTS = ['elem_set_s', 'elem_get_s', 'locked_elem_set_s', 'locked_elem_get_s'] as const;

/** Our metric -> Python's comparable metric. */
export const compare: Compare = {};
for (const n of NPROCS) {
  compare[`locked_increments_per_s_${n}proc`] = [`locked_increments_per_s_${n}proc`];
  compare[`locked_final_count_exact_${n}proc`] = [`locked_final_count_exact_${n}proc`];
}
for (const mode of ['raw', 'sync_no_get_lock']) {
  compare[`${mode}_increments_per_s_2proc`] = [`${mode}_increments_per_s_2proc`];
  compare[`${mode}_lost_updates_2proc`] = [`${mode}_lost_updates_2proc`];
}
for (const op of ARRAY_OPS) {
  for (const k of [`array_d_1M_${op}_cold_ms`, `array_d_1M_${op}_warm_ms`, `array_d_1M_${op}_warm_MB_per_s`]) compare[k] = [k];
}
for (const what of ['set', 'get']) {
  compare[`array_d_elementwise_${what}_ops_per_s`] = [`array_d_elementwise_${what}_ops_per_s`];
  compare[`locked_array_d_elementwise_${what}_ops_per_s`] = [`array_d_elementwise_${what}_ops_per_s`];
}

// ---- children (shipped by source text: no outer variables) -------------------

/** Counter loop; stamps[2*idx], stamps[2*idx+1] = start, end (ns). */
function counterChild(mode: string, v: any, k: number, barrier: any, stamps: Float64Array, idx: number): void {
  barrier.waitSync();
  const t0 = Number(process.hrtime.bigint());
  if (mode === 'locked') {
    const lock = v.getLock();
    for (let i = 0; i < k; i++) {
      lock.acquireSync();
      v.value += 1;
      lock.release();
    }
  } else if (mode === 'atomic_add') {
    for (let i = 0; i < k; i++) v.add(1);
  } else if (mode === 'raw' || mode === 'sync_no_get_lock') {
    for (let i = 0; i < k; i++) v.value += 1;
  } else throw new Error(`unknown mode ${mode}`);
  stamps[2 * idx + 1] = Number(process.hrtime.bigint());
  stamps[2 * idx] = t0;
}

/** Lock acquire/release loop (v is the Lock); 'async' awaits acquire(). */
async function lockChild(mode: string, lock: any, k: number, barrier: any, stamps: Float64Array, idx: number): Promise<void> {
  barrier.waitSync();
  const t0 = Number(process.hrtime.bigint());
  if (mode === 'async') {
    for (let i = 0; i < k; i++) {
      await lock.acquire();
      lock.release();
    }
  } else {
    for (let i = 0; i < k; i++) {
      lock.acquireSync();
      lock.release();
    }
  }
  stamps[2 * idx + 1] = Number(process.hrtime.bigint());
  stamps[2 * idx] = t0;
}

/** Array('d') bulk and element-wise access; times (s) into out (see ELEM_SLOTS). */
function arrayChild(arr: any, nElem: number, ops: string[], out: Float64Array, barrier: any): void {
  barrier.waitSync();
  const now = () => Number(process.hrtime.bigint()) / 1e9;
  const n = arr.length;
  const src: number[] = new Array(n);
  for (let i = 0; i < n; i++) src[i] = i;
  const srcF64 = Float64Array.from(src);
  const dst = new Float64Array(n);
  const lock = arr.getLock();
  const box: { list?: number[]; copy?: Float64Array } = {};
  const fns: Record<string, () => void> = {
    slice_write_from_list: () => { lock.acquireSync(); try { arr.set(src); } finally { lock.release(); } },
    slice_read_to_list: () => { lock.acquireSync(); try { box.list = Array.from(arr as Float64Array); } finally { lock.release(); } },
    memoryview_write: () => { lock.acquireSync(); try { arr.set(srcF64); } finally { lock.release(); } },
    memoryview_read_into_prealloc: () => { lock.acquireSync(); try { dst.set(arr); } finally { lock.release(); } },
    memoryview_read_new_bytes: () => { lock.acquireSync(); try { box.copy = arr.slice(); } finally { lock.release(); } },
  };
  ops.forEach((name, j) => {
    const d: number[] = [];
    for (let r = 0; r < 4; r++) {
      const t0 = now();
      fns[name]();
      d.push(now() - t0);
    }
    const rest = d.slice(1).sort((a, b) => a - b);
    out[2 * j] = d[0];
    out[2 * j + 1] = rest[1];
  });
  if (box.list![n - 1] !== n - 1 || box.copy![n - 1] !== n - 1 || dst[n - 1] !== n - 1) throw new Error('array contents wrong');
  box.list = undefined;
  box.copy = undefined;
  // Element-wise: 5 passes each, the median kept (the first passes run
  // mostly before the JIT has compiled the loop; quick mode's 20 000 elements
  // are few). Each sum is kept in a local: a captured `let` updated in the
  // loop would box every intermediate double, which measures the closure.
  const base = 2 * ops.length;
  const passes = (fn: () => void): number => {
    const d: number[] = [];
    for (let r = 0; r < 5; r++) {
      const t0 = now();
      fn();
      d.push(now() - t0);
    }
    return d.sort((a, b) => a - b)[2];
  };
  let s = 0;
  out[base] = passes(() => { for (let i = 0; i < nElem; i++) arr[i] = 1.5; });
  out[base + 1] = passes(() => { let acc = 0; for (let i = 0; i < nElem; i++) acc += arr[i]; s = acc; });
  if (s !== 1.5 * nElem) throw new Error(`element-wise sum ${s}`);
  // Python's semantics: every element access takes the lock.
  out[base + 2] = passes(() => {
    for (let i = 0; i < nElem; i++) {
      lock.acquireSync();
      arr[i] = 1.5;
      lock.release();
    }
  });
  out[base + 3] = passes(() => {
    let acc = 0;
    for (let i = 0; i < nElem; i++) {
      lock.acquireSync();
      acc += arr[i];
      lock.release();
    }
    s = acc;
  });
  if (s !== 1.5 * nElem) throw new Error(`locked element-wise sum ${s}`);
}

// ---- parent ------------------------------------------------------------------

/**
 * Starts one child per args list and joins them. With `barrier` (whose
 * parties are the children and the parent), the parent joins the barrier
 * once every child waits there, so that the timed loops start together.
 */
async function startJoin(ctx: any, target: (...a: any[]) => unknown, argsList: unknown[][], barrier?: any): Promise<void> {
  const ps = argsList.map((args) => new ctx.Process({ target, args }));
  for (const p of ps) p.start();
  try {
    if (barrier) {
      // A child that ended before the barrier (it failed to start, or threw)
      // would leave the others waiting forever: break the barrier instead.
      while (barrier.nWaiting < ps.length) {
        if (ps.some((p) => p.exitCode !== null)) {
          barrier.abort();
          break;
        }
        await new Promise((r) => setTimeout(r, 10));
      }
      await barrier.wait();
    }
  } finally {
    for (const p of ps) await p.join();
  }
  for (const p of ps) {
    if (p.exitCode !== 0) throw new Error(`child exited with exitCode ${p.exitCode}`);
    p.close?.();
  }
}

/** Runs nproc children doing k iterations each; returns iterations per second. */
async function timedRun(mp: any, ctx: any, nproc: number, target: (...a: any[]) => unknown, mode: string, obj: unknown, k: number): Promise<number> {
  const barrier = new mp.Barrier(nproc + 1);
  const stamps: Float64Array = mp.RawArray('d', 2 * nproc);
  await startJoin(ctx, target, Array.from({ length: nproc }, (_, i) => [mode, obj, k, barrier, stamps, i]), barrier);
  let start = Infinity;
  let end = -Infinity;
  for (let i = 0; i < nproc; i++) {
    start = Math.min(start, stamps[2 * i]);
    end = Math.max(end, stamps[2 * i + 1]);
  }
  if (!(end > start)) throw new Error('children did not record their times');
  return (k * nproc) / ((end - start) / 1e9);
}

async function counterRun(mp: any, ctx: any, nproc: number, total: number, mode: string): Promise<[rate: number, final: number, expected: number]> {
  const v = mode === 'raw' ? mp.RawValue('i', 0) : mp.Value('i', 0);
  const k = Math.floor(total / nproc);
  const rate = await timedRun(mp, ctx, nproc, counterChild, mode, v, k);
  return [rate, Number(v.value), k * nproc];
}

async function measure(mp: any, impl: string, args: Args): Promise<void> {
  const ctx = mp.getContext(impl.replace(/^multiproc-/, ''));
  const R = reps(args, 3, 1);
  const total = size(args, 4_000_000, 1_000_000);
  const fmt = (x: number) => `${(x / 1e6).toFixed(2)} M/s`;

  // Part A: counters.
  for (const mode of ['locked', 'atomic_add']) {
    for (const nproc of NPROCS) {
      const rates: number[] = [];
      let exact = true;
      for (let r = 0; r < R; r++) {
        const [rate, final, expected] = await counterRun(mp, ctx, nproc, total, mode);
        rates.push(rate);
        exact &&= final === expected;
        if (final !== expected) log(`# ${impl}: ${mode} ${nproc} children: final ${final}, expected ${expected}`);
      }
      emitMedian(BENCH, `${mode}_increments_per_s_${nproc}proc`, impl, rates, 'incr/s', { n: total });
      emit(BENCH, `${mode}_final_count_exact_${nproc}proc`, impl, exact ? 1 : 0, 'bool', { n: total });
      if (!exact) process.exitCode = 1;
      log(`${impl}: ${mode} ${nproc} children: ${fmt(median(rates))} exact=${exact}`);
    }
  }
  for (const mode of ['raw', 'sync_no_get_lock']) {
    const rates: number[] = [];
    const lost: number[] = [];
    for (let r = 0; r < R; r++) {
      const [rate, final, expected] = await counterRun(mp, ctx, 2, total, mode);
      rates.push(rate);
      lost.push(expected - final);
    }
    emitMedian(BENCH, `${mode}_increments_per_s_2proc`, impl, rates, 'incr/s', { n: total });
    emitMedian(BENCH, `${mode}_lost_updates_2proc`, impl, lost, 'count', { n: total, note: 'race demonstration: expected > 0' });
    log(`${impl}: ${mode} 2 children: ${fmt(median(rates))} lost=${lost.join(',')}`);
  }

  // Part A': plain Lock acquire/release pairs.
  for (const [metric, mode, nproc] of [
    ['lock_uncontended_acquire_release_per_s', 'sync', 1],
    ['lock_uncontended_async_acquire_release_per_s', 'async', 1],
    ['lock_contended_acquire_release_per_s_2proc', 'sync', 2],
    ['lock_contended_acquire_release_per_s_4proc', 'sync', 4],
  ] as const) {
    const rates: number[] = [];
    for (let r = 0; r < R; r++) {
      rates.push(await timedRun(mp, ctx, nproc, lockChild, mode, new mp.Lock(), Math.floor(total / nproc)));
    }
    emitMedian(BENCH, metric, impl, rates, 'ops/s', { n: total });
    log(`${impl}: ${metric}: ${fmt(median(rates))}`);
  }

  // Part B: Array('d', 1_000_000) from a child.
  const nArr = 1_000_000;
  const nElem = size(args, 200_000, 20_000);
  const nOut = 2 * ARRAY_OPS.length + ELEM_SLOTS.length;
  const samples: number[][] = Array.from({ length: nOut }, () => []);
  for (let r = 0; r < R; r++) {
    const arr = mp.Array('d', nArr);
    const out: Float64Array = mp.RawArray('d', nOut);
    const barrier = new mp.Barrier(2);
    await startJoin(ctx, arrayChild, [[arr, nElem, [...ARRAY_OPS], out, barrier]], barrier);
    if (arr[nElem] !== nElem || arr[0] !== 1.5) throw new Error('the child\'s writes are not visible in the parent');
    out.forEach((x, j) => {
      samples[j].push(x);
    });
  }
  const nbytes = nArr * 8;
  ARRAY_OPS.forEach((op, j) => {
    emitMedian(BENCH, `array_d_1M_${op}_cold_ms`, impl, samples[2 * j].map((s) => s * 1e3), 'ms', { n: nArr });
    emitMedian(BENCH, `array_d_1M_${op}_warm_ms`, impl, samples[2 * j + 1].map((s) => s * 1e3), 'ms', { n: nArr });
    emitMedian(BENCH, `array_d_1M_${op}_warm_MB_per_s`, impl, samples[2 * j + 1].map((s) => nbytes / s / 1e6), 'MB/s', { n: nArr });
  });
  const base = 2 * ARRAY_OPS.length;
  const elem = ['array_d_elementwise_set', 'array_d_elementwise_get', 'locked_array_d_elementwise_set', 'locked_array_d_elementwise_get'];
  elem.forEach((name, j) => {
    emitMedian(BENCH, `${name}_ops_per_s`, impl, samples[base + j].map((s) => nElem / s), 'ops/s', { n: nElem });
  });
  log(`${impl}: array: ${ARRAY_OPS.map((op, j) => `${op} warm ${(median(samples[2 * j + 1]) * 1e3).toFixed(2)} ms`).join(', ')}`);
}

export async function main(args: Args = parseArgs()): Promise<void> {
  noWarmSpares(); // (see the top)
  const mp = await loadMultiproc();
  if (!mp) {
    log('# value_lock: multiproc is not available; nothing to measure');
    process.exitCode = 1;
    return;
  }
  if (typeof mp.parentProcess === 'function' && mp.parentProcess() !== null) return;
  for (const impl of ['multiproc-thread', 'multiproc-process']) {
    try {
      await measure(mp, impl, args);
    } catch (e) {
      log(`# ${impl}: FAILED: ${(e as Error)?.stack ?? e}`);
      process.exitCode = 1;
    }
  }
}

await runIfMain(import.meta.url, () => main());
