/**
 * joinable_queue: taskDone()/join() overhead
 * (mirrors ../shared/bench/python/joinable_queue.py).
 *
 * N int items, 2 workers; both workers have reported 'ready' on a result
 * queue before the clock starts. For multiproc's 'thread' and 'process'
 * contexts, with the Promise API everywhere (`await q.put(i)`,
 * `await q.get()`, `await q.join()`: metric names as Python's) and with the
 * Sync twins (putSync / getSync / joinSync: metrics prefixed `sync_`).
 *   * JoinableQueue: the parent puts N items then joins; every worker calls
 *     q.taskDone() after each get. Timed: first put .. join() returns (after
 *     one untimed warm-up item put and joined, as Python).
 *   * Plain Queue baseline: the same workers without taskDone(); the parent
 *     puts N items and one null sentinel per worker and waits for each
 *     worker's 'done' message. Timed: first put .. both 'done' received.
 *   Overhead per item = (t_joinable - t_plain) / N, in microseconds.
 *   * Prefilled (consumer-bound): Python gates the workers with an Event; here
 *     each worker blocks on a 'gate' SimpleQueue (Event-free), the parent puts
 *     all N items, then one gate item per worker; timed from the gate puts to
 *     join() returning (resp. both workers done).
 *   * join_when_already_done_us: an uncontended join() that returns at once
 *     (mean of 100).
 * Repetitions: quick 1, normal 3 (median); --reps N.
 */
import {
  type Args, type Compare, emitMedian, loadMultiproc, log, median, nowNs, parseArgs, reps, size, runIfMain, noWarmSpares } from './_common.js';

const BENCH = 'joinable_queue';
const METRICS = [
  'joinable_put_taskdone_join_total_ms', 'joinable_items_per_s', 'plain_queue_total_ms', 'plain_queue_items_per_s',
  'task_done_join_overhead_us_per_item', 'join_when_already_done_us', 'prefilled_joinable_drain_items_per_s',
  'prefilled_plain_drain_items_per_s', 'prefilled_task_done_overhead_us_per_item',
];

/** Our metric -> Python's (the Sync-API variant pairs with the same figure). */
export const compare: Compare = {};
for (const m of METRICS) {
  compare[m] = [m];
  compare[`sync_${m}`] = [m];
}

// ---- children (shipped by source text: no outer variables) -------------------

async function jqWorker(q: any, readyQ: any, gate: any, sync: boolean): Promise<void> {
  if (sync) {
    readyQ.putSync(1);
    if (gate) gate.getSync();
    for (;;) {
      const x = q.getSync();
      q.taskDone();
      if (x === null) break;
    }
  } else {
    await readyQ.put(1);
    if (gate) await gate.get();
    for (;;) {
      const x = await q.get();
      q.taskDone();
      if (x === null) break;
    }
  }
}

async function plainWorker(q: any, doneQ: any, gate: any, sync: boolean): Promise<void> {
  if (sync) {
    doneQ.putSync('ready');
    if (gate) gate.getSync();
    while (q.getSync() !== null);
    doneQ.putSync(1);
  } else {
    await doneQ.put('ready');
    if (gate) await gate.get();
    while ((await q.get()) !== null);
    await doneQ.put(1);
  }
}

// ---- parent --------------------------------------------------------------------

async function startAll(ws: any[], readyQ: any): Promise<void> {
  for (const w of ws) w.start();
  for (let i = 0; i < ws.length; i++) await readyQ.get();
}

async function joinAll(ws: any[]): Promise<void> {
  for (const w of ws) {
    await w.join();
    if (w.exitCode !== 0) throw new Error(`worker exited with exitCode ${w.exitCode}`);
  }
}

async function runJoinable(mp: any, ctx: any, n: number, nworkers: number, prefill: boolean, sync: boolean): Promise<[number, number]> {
  const q = new mp.JoinableQueue();
  const readyQ = new mp.SimpleQueue();
  const gate = prefill ? new mp.SimpleQueue() : null;
  const ws = Array.from({ length: nworkers }, () => new ctx.Process({ target: jqWorker, args: [q, readyQ, gate, sync] }));
  await startAll(ws, readyQ);
  let t0: bigint;
  if (prefill) {
    for (let i = 0; i < n; i++) await q.put(i);
    t0 = nowNs();
    for (let i = 0; i < nworkers; i++) await gate!.put(1);
  } else if (sync) {
    q.putSync(-1); // warm-up item
    q.joinSync();
    t0 = nowNs();
    for (let i = 0; i < n; i++) q.putSync(i);
  } else {
    await q.put(-1); // warm-up item
    await q.join();
    t0 = nowNs();
    for (let i = 0; i < n; i++) await q.put(i);
  }
  if (sync) q.joinSync();
  else await q.join();
  const dt = Number(nowNs() - t0) / 1e9;
  const t1 = nowNs();
  if (sync) for (let i = 0; i < 100; i++) q.joinSync();
  else for (let i = 0; i < 100; i++) await q.join();
  const emptyJoin = Number(nowNs() - t1) / 1e9 / 100;
  for (let i = 0; i < nworkers; i++) await q.put(null);
  await joinAll(ws);
  return [dt, emptyJoin];
}

async function runPlain(mp: any, ctx: any, n: number, nworkers: number, prefill: boolean, sync: boolean): Promise<number> {
  const q = new mp.Queue();
  const doneQ = new mp.SimpleQueue();
  const gate = prefill ? new mp.SimpleQueue() : null;
  const ws = Array.from({ length: nworkers }, () => new ctx.Process({ target: plainWorker, args: [q, doneQ, gate, sync] }));
  await startAll(ws, doneQ);
  let t0: bigint;
  if (prefill) {
    for (let i = 0; i < n; i++) await q.put(i);
    for (let i = 0; i < nworkers; i++) await q.put(null);
    t0 = nowNs();
    for (let i = 0; i < nworkers; i++) await gate!.put(1);
  } else if (sync) {
    t0 = nowNs();
    for (let i = 0; i < n; i++) q.putSync(i);
    for (let i = 0; i < nworkers; i++) q.putSync(null);
  } else {
    t0 = nowNs();
    for (let i = 0; i < n; i++) await q.put(i);
    for (let i = 0; i < nworkers; i++) await q.put(null);
  }
  for (let i = 0; i < nworkers; i++) {
    if (sync) doneQ.getSync();
    else await doneQ.get();
  }
  const dt = Number(nowNs() - t0) / 1e9;
  await joinAll(ws);
  return dt;
}

export async function main(args: Args = parseArgs()): Promise<void> {
  noWarmSpares();
  const mp = await loadMultiproc();
  if (!mp) return;
  if (typeof mp.parentProcess === 'function' && mp.parentProcess() !== null) return;
  const R = reps(args, 3, 1);
  const n = size(args, 100_000, 10_000);
  const W = 2;
  for (const method of ['thread', 'process']) {
    const ctx = mp.getContext(method);
    const impl = `multiproc-${method}`;
    for (const sync of [false, true]) {
      const p = sync ? 'sync_' : '';
      try {
        const jq: number[] = [], plain: number[] = [], ej: number[] = [], jqPre: number[] = [], plainPre: number[] = [];
        for (let r = 0; r < R; r++) {
          const [dt, e] = await runJoinable(mp, ctx, n, W, false, sync);
          jq.push(dt);
          ej.push(e * 1e6);
          plain.push(await runPlain(mp, ctx, n, W, false, sync));
          jqPre.push((await runJoinable(mp, ctx, n, W, true, sync))[0]);
          plainPre.push(await runPlain(mp, ctx, n, W, true, sync));
        }
        const ex = { n, workers: W };
        emitMedian(BENCH, `${p}joinable_put_taskdone_join_total_ms`, impl, jq.map((x) => x * 1e3), 'ms', ex);
        emitMedian(BENCH, `${p}joinable_items_per_s`, impl, jq.map((x) => n / x), 'items/s', ex);
        emitMedian(BENCH, `${p}plain_queue_total_ms`, impl, plain.map((x) => x * 1e3), 'ms', ex);
        emitMedian(BENCH, `${p}plain_queue_items_per_s`, impl, plain.map((x) => n / x), 'items/s', ex);
        const over = jq.map((a, i) => ((a - plain[i]) / n) * 1e6);
        emitMedian(BENCH, `${p}task_done_join_overhead_us_per_item`, impl, over, 'us', ex);
        emitMedian(BENCH, `${p}join_when_already_done_us`, impl, ej, 'us');
        emitMedian(BENCH, `${p}prefilled_joinable_drain_items_per_s`, impl, jqPre.map((x) => n / x), 'items/s', ex);
        emitMedian(BENCH, `${p}prefilled_plain_drain_items_per_s`, impl, plainPre.map((x) => n / x), 'items/s', ex);
        const overPre = jqPre.map((a, i) => ((a - plainPre[i]) / n) * 1e6);
        emitMedian(BENCH, `${p}prefilled_task_done_overhead_us_per_item`, impl, overPre, 'us', ex);
        log(`${impl} ${sync ? 'sync' : 'async'}: joinable ${median(jq.map((x) => n / x)).toFixed(0)} items/s, plain ` +
          `${median(plain.map((x) => n / x)).toFixed(0)} items/s, overhead ${median(over).toFixed(2)} us/item; ` +
          `prefilled overhead ${median(overPre).toFixed(2)} us/item`);
      } catch (e) {
        log(`# ${impl} ${sync ? 'sync' : 'async'}: FAILED: ${(e as Error)?.stack ?? e}`);
        process.exitCode = 1;
      }
    }
  }
}

await runIfMain(import.meta.url, () => main());
