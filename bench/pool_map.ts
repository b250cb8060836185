/**
 * pool_map: Pool(2) throughput and start-up (mirrors ../shared/bench/python/pool_map.py).
 *
 * For multiproc's 'thread' and 'process' contexts:
 *   pool2_ctor_ms / pool2_startup_to_first_result_ms / pool2_close_join_ms
 *       - new Pool(2), until the first apply() result, close()+join()
 *         (median of 5 back to back, as Python's; compared with fork and spawn)
 *   map_default_chunksize_items_per_s - map(square, 1,000,000 items), Python's
 *       default chunksize ceil(n / (4 × processes)) = 125,000
 *   map_chunksize1_items_per_s, imap_chunksize1_items_per_s,
 *   imap_unordered_chunksize1_items_per_s - 20,000 items, one per task
 *   apply_async_tasks_per_s - 10,000 applyAsync() calls, then get() on each
 *       (and the submission-only rate)
 *   apply_serial_p50_us / p99 - one apply() awaited at a time (no Python twin)
 *   maxtasksperchild1_tasks_per_s - every task replaces its worker
 * The input of the maps is an array made before timing (Python's range() is
 * made into a list inside map(), which its figure includes: ~20 ms per 1M).
 */
import { type Compare, emitMedian, loadMultiproc, log, nowNs, msBetween, parseArgs, percentile, reps, runIfMain, size } from './_common.js';

const BENCH = 'pool_map';

export const compare: Compare = {
  pool2_ctor_ms: ['pool2_ctor_ms_fork', 'pool2_ctor_ms_spawn'],
  pool2_startup_to_first_result_ms: ['pool2_startup_to_first_result_ms_fork', 'pool2_startup_to_first_result_ms_spawn'],
  pool2_close_join_ms: ['pool2_close_join_ms_fork', 'pool2_close_join_ms_spawn'],
  map_default_chunksize_items_per_s: ['map_default_chunksize_items_per_s'],
  map_chunksize1_items_per_s: ['map_chunksize1_items_per_s'],
  imap_chunksize1_items_per_s: ['imap_chunksize1_items_per_s'],
  imap_unordered_chunksize1_items_per_s: ['imap_unordered_chunksize1_items_per_s'],
  apply_async_tasks_per_s: ['apply_async_tasks_per_s'],
  apply_async_submit_only_tasks_per_s: ['apply_async_submit_only_tasks_per_s'],
  maxtasksperchild1_tasks_per_s: ['maxtasksperchild1_tasks_per_s'],
};

/** Shipped by source to the workers. */
const sq = (x: number) => x * x;

async function main(): Promise<void> {
  const args = parseArgs();
  const mp = await loadMultiproc();
  if (!mp) return;
  const R = reps(args, 3, 1);
  const N = size(args, 1_000_000, 100_000);
  const nSmall = size(args, 20_000, 2_000);
  const M = size(args, 10_000, 1_000);
  const input = Array.from({ length: N }, (_, i) => i);
  const small = input.slice(0, nSmall);

  for (const method of ['thread', 'process']) {
    const impl = `multiproc-${method}`;
    const ctx = mp.getContext(method);
    const ctor: number[] = [];
    const first: number[] = [];
    const closeJoin: number[] = [];
    for (let i = 0; i < size(args, 5, 2); i++) {
      const t0 = nowNs();
      const pool = new ctx.Pool(2);
      const t1 = nowNs();
      if ((await pool.apply(sq, [3])) !== 9) throw new Error('wrong result');
      const t2 = nowNs();
      pool.close();
      await pool.join();
      const t3 = nowNs();
      ctor.push(msBetween(t0, t1));
      first.push(msBetween(t0, t2));
      closeJoin.push(msBetween(t2, t3));
    }
    emitMedian(BENCH, 'pool2_ctor_ms', impl, ctor, 'ms');
    emitMedian(BENCH, 'pool2_startup_to_first_result_ms', impl, first, 'ms');
    emitMedian(BENCH, 'pool2_close_join_ms', impl, closeJoin, 'ms');

    const res: Record<string, number[]> = {
      map_default: [], map_c1: [], imap_c1: [], imap_unordered_c1: [], apply_async: [], apply_async_submit: [], serial_p50: [], serial_p99: [],
    };
    const pool = new ctx.Pool(2);
    await pool.map(sq, small.slice(0, 1000)); // warm
    for (let r = 0; r < R; r++) {
      let t0 = nowNs();
      const out = await pool.map(sq, input);
      res.map_default.push(N / (msBetween(t0, nowNs()) / 1e3));
      if (out.length !== N || out[N - 1] !== (N - 1) ** 2) throw new Error('map gave a wrong result');

      t0 = nowNs();
      const c1 = await pool.map(sq, small, { chunksize: 1 });
      res.map_c1.push(nSmall / (msBetween(t0, nowNs()) / 1e3));
      if (c1.length !== nSmall) throw new Error('map (chunksize 1) gave a wrong result');

      t0 = nowNs();
      let s = 0;
      for await (const v of pool.imap(sq, small)) s += v;
      res.imap_c1.push(nSmall / (msBetween(t0, nowNs()) / 1e3));
      t0 = nowNs();
      let s2 = 0;
      for await (const v of pool.imapUnordered(sq, small)) s2 += v;
      res.imap_unordered_c1.push(nSmall / (msBetween(t0, nowNs()) / 1e3));
      if (s !== s2) throw new Error('imap and imapUnordered disagree');

      t0 = nowNs();
      const ars = Array.from({ length: M }, (_, i) => pool.applyAsync(sq, [i]));
      const t1 = nowNs();
      let total = 0;
      for (const a of ars) total += await a.get();
      const t2 = nowNs();
      res.apply_async_submit.push(M / (msBetween(t0, t1) / 1e3));
      res.apply_async.push(M / (msBetween(t0, t2) / 1e3));
      if (total !== ars.reduce((acc: number, _: unknown, i: number) => acc + i * i, 0)) throw new Error('applyAsync gave a wrong result');

      const lat: number[] = [];
      for (let i = 0; i < size(args, 5000, 500); i++) {
        const a = nowNs();
        await pool.apply(sq, [i]);
        lat.push(msBetween(a, nowNs()) * 1e3);
      }
      res.serial_p50.push(percentile(lat, 50));
      res.serial_p99.push(percentile(lat, 99));
    }
    pool.close();
    await pool.join();
    emitMedian(BENCH, 'map_default_chunksize_items_per_s', impl, res.map_default, 'items/s', { n: N, chunksize: Math.ceil(N / 8) });
    emitMedian(BENCH, 'map_chunksize1_items_per_s', impl, res.map_c1, 'items/s', { n: nSmall });
    emitMedian(BENCH, 'imap_chunksize1_items_per_s', impl, res.imap_c1, 'items/s', { n: nSmall });
    emitMedian(BENCH, 'imap_unordered_chunksize1_items_per_s', impl, res.imap_unordered_c1, 'items/s', { n: nSmall });
    emitMedian(BENCH, 'apply_async_tasks_per_s', impl, res.apply_async, 'tasks/s', { n: M });
    emitMedian(BENCH, 'apply_async_submit_only_tasks_per_s', impl, res.apply_async_submit, 'tasks/s', { n: M });
    emitMedian(BENCH, 'apply_serial_p50_us', impl, res.serial_p50, 'us');
    emitMedian(BENCH, 'apply_serial_p99_us', impl, res.serial_p99, 'us');

    const nMtpc = size(args, 200, 40);
    const rates: number[] = [];
    for (let r = 0; r < R; r++) {
      const p = new ctx.Pool({ processes: 2, maxtasksperchild: 1 });
      await p.apply(sq, [1]);
      const t0 = nowNs();
      const ars = Array.from({ length: nMtpc }, (_, i) => p.applyAsync(sq, [i]));
      for (const a of ars) await a.get();
      rates.push(nMtpc / (msBetween(t0, nowNs()) / 1e3));
      p.close();
      await p.join();
    }
    emitMedian(BENCH, 'maxtasksperchild1_tasks_per_s', impl, rates, 'tasks/s', { n: nMtpc });
    log(`${impl}: map ${Math.round(res.map_default[0])} items/s, map c1 ${Math.round(res.map_c1[0])}/s, serial apply p50 ${res.serial_p50[0].toFixed(1)} µs`);
  }
}

await runIfMain(import.meta.url, main);
