// Scaling out on Redis: a coordinator and two worker "hosts" share a JoinableQueue of jobs and a results queue (multiproc/redis).
//
// Each role is its own program, as on separate machines that reach one Redis:
//   coordinator:  node --import tsx examples/71-redis-work-queue.ts coordinator
//   each worker:  node --import tsx examples/71-redis-work-queue.ts worker
// Set MULTIPROC_REDIS_URL to point them at another Redis than 127.0.0.1:6379.
// Without arguments (as `npm start` runs it) it starts the coordinator, which
// starts two worker programs itself; without a Redis server it says so.
// The job: a Monte Carlo estimate of pi, 40 jobs of 200,000 darts each.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Empty } from 'multiproc';
import { connect } from 'multiproc/redis';

/** By hand: 'example-71' (or the third argument); started without arguments, a namespace of its own. */
const NAMESPACE = process.argv[3] ?? (process.argv[2] ? 'example-71' : `example-71-${process.pid}`);
const JOBS = 40;
const DARTS = 200_000;

type Job = { seed: number; darts: number } | null; // null: no more jobs for this worker

async function worker(namespace: string): Promise<void> {
  await using cluster = await connect({ namespace });
  const jobs = cluster.JoinableQueue<Job>('jobs');
  const results = cluster.Queue<{ inside: number; darts: number; pid: number }>('results');
  for (;;) {
    const job = await jobs.get();
    if (job === null) {
      await jobs.taskDone();
      return;
    }
    let state = job.seed;
    const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    let inside = 0;
    for (let i = 0; i < job.darts; i++) if (random() ** 2 + random() ** 2 <= 1) inside++;
    await results.put({ inside, darts: job.darts, pid: process.pid });
    await jobs.taskDone();
  }
}

async function coordinator(): Promise<void> {
  let cluster: Awaited<ReturnType<typeof connect>>;
  try {
    cluster = await connect({ namespace: NAMESPACE, connectTimeoutMs: 1000 });
  } catch (err) {
    console.log(`no Redis to scale out on: ${(err as Error).message}`);
    return;
  }
  await using _ = cluster;
  const jobs = cluster.JoinableQueue<Job>('jobs');
  const results = cluster.Queue<{ inside: number; darts: number; pid: number }>('results');
  const self = fileURLToPath(import.meta.url);
  const workers = [1, 2].map(() => spawn(process.execPath, ['--import', 'tsx', self, 'worker', NAMESPACE], { stdio: 'inherit' }));
  for (let seed = 1; seed <= JOBS; seed++) await jobs.put({ seed, darts: DARTS });
  for (const _w of workers) await jobs.put(null);
  await jobs.join(); // every job, on whichever host took it, is done
  let inside = 0;
  let darts = 0;
  const byWorker = new Map<number, number>();
  for (;;) {
    try {
      const r = await results.getNowait();
      inside += r.inside;
      darts += r.darts;
      byWorker.set(r.pid, (byWorker.get(r.pid) ?? 0) + 1);
    } catch (err) {
      if (err instanceof Empty) break;
      throw err;
    }
  }
  await Promise.all(workers.map((w) => new Promise((r) => (w.exitCode !== null ? r(null) : w.once('exit', r)))));
  console.log(`pi ≈ ${((4 * inside) / darts).toFixed(4)} from ${darts.toLocaleString('en')} darts; jobs per worker: ${[...byWorker.values()].join(' + ')}`);
}

if (process.argv[2] === 'worker') await worker(NAMESPACE);
else await coordinator();
