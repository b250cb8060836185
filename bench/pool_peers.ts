/**
 * pool_peers: multiproc's Pool against the Node pools piscina and tinypool,
 * each with 2 workers running the same task module (pool_task.ts: a tiny
 * ({ a, b }) => a + b). No Python twin: the ratio is against the best peer.
 *   in_flight_64_tasks_per_s - 64 callers, each awaiting one task at a time
 *   serial_roundtrip_p50_us / p99 - one task awaited at a time
 *   start_to_first_result_ms - constructor to the first result (median of 5)
 * Ours runs the task through apply() with task(url, 'default').
 */
import { type Compare, emitMedian, loadMultiproc, log, msBetween, nowNs, parseArgs, percentile, reps, runIfMain, size } from './_common.js';

const BENCH = 'pool_peers';
export const compare: Compare = {};

const taskFile = new URL('./pool_task.js', import.meta.url);

interface Runner {
  run(args: { a: number; b: number }): Promise<number>;
  close(): Promise<void>;
}

async function makeRunners(mp: any): Promise<Record<string, () => Promise<Runner>>> {
  const { Piscina } = await import('piscina');
  const { Tinypool } = await import('tinypool');
  const runners: Record<string, () => Promise<Runner>> = {};
  for (const method of ['thread', 'process']) {
    runners[`multiproc-${method}`] = async () => {
      const pool = new mp.Pool({ processes: 2, context: method });
      const fn = mp.task(taskFile, 'default');
      return { run: (args) => pool.apply(fn, [args]), close: async () => { pool.close(); await pool.join(); } };
    };
  }
  runners.piscina = async () => {
    const pool = new Piscina({ filename: taskFile.href, minThreads: 2, maxThreads: 2 });
    return { run: (args) => pool.run(args), close: () => pool.destroy() };
  };
  runners.tinypool = async () => {
    const pool = new Tinypool({ filename: taskFile.href, minThreads: 2, maxThreads: 2 });
    return { run: (args) => pool.run(args), close: () => pool.destroy() };
  };
  return runners;
}

async function main(): Promise<void> {
  const args = parseArgs();
  const mp = await loadMultiproc();
  if (!mp) return;
  const R = reps(args, 3, 1);
  const total = size(args, 100_000, 10_000);
  const serial = size(args, 5000, 500);
  const runners = await makeRunners(mp);
  for (const [impl, make] of Object.entries(runners)) {
    const starts: number[] = [];
    for (let i = 0; i < size(args, 5, 2); i++) {
      const t0 = nowNs();
      const r = await make();
      if ((await r.run({ a: 1, b: 2 })) !== 3) throw new Error(`${impl}: wrong result`);
      starts.push(msBetween(t0, nowNs()));
      await r.close();
    }
    emitMedian(BENCH, 'start_to_first_result_ms', impl, starts, 'ms');

    const r = await make();
    for (let i = 0; i < size(args, 20_000, 2000); i++) await r.run({ a: i, b: 1 }); // warm: the JIT settles (every pool alike)
    const rates: number[] = [];
    const p50: number[] = [];
    const p99: number[] = [];
    for (let rep = 0; rep < R; rep++) {
      let next = 0;
      const t0 = nowNs();
      await Promise.all(Array.from({ length: 64 }, async () => {
        while (next < total) {
          const i = next++;
          if ((await r.run({ a: i, b: 1 })) !== i + 1) throw new Error(`${impl}: wrong result`);
        }
      }));
      rates.push(total / (msBetween(t0, nowNs()) / 1e3));
      const lat: number[] = [];
      for (let i = 0; i < serial; i++) {
        const a = nowNs();
        await r.run({ a: i, b: 2 });
        lat.push(msBetween(a, nowNs()) * 1e3);
      }
      p50.push(percentile(lat, 50));
      p99.push(percentile(lat, 99));
    }
    await r.close();
    emitMedian(BENCH, 'in_flight_64_tasks_per_s', impl, rates, 'tasks/s', { n: total });
    emitMedian(BENCH, 'serial_roundtrip_p50_us', impl, p50, 'us', { n: serial });
    emitMedian(BENCH, 'serial_roundtrip_p99_us', impl, p99, 'us', { n: serial });
    log(`${impl}: ${Math.round(rates[0])} tasks/s with 64 in flight, serial p50 ${p50[0].toFixed(1)} µs`);
  }
}

await runIfMain(import.meta.url, main);
