/**
 * redis: the cluster Pool (multiproc/redis) on the local Redis, with two
 * worker hosts (`multiproc worker --processes 4`, thread children) started
 * as separate programs, against BullMQ with two worker programs of
 * concurrency 4, in one run on the same Redis. No Python twin.
 *   tiny_tasks_per_s        - N one-call tasks (chunksize 1) submitted at once, until every result is back
 *                             (BullMQ: addBulk of no-op jobs until every job completed)
 *   redis_cpu_per_task      - Redis's own CPU time (INFO cpu) per task of those runs: the share of the
 *                             one server that every host uses, which bounds how far a namespace scales out
 *   map_items_per_s         - map of 1,000,000 trivial items, default chunking; also the local Pool(8) for the overhead
 *   lease_recovery_ms       - a worker host SIGKILLed mid-task (leaseMs 1000): kill to result from the other host
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { type Compare, emitMedian, log, msBetween, nowNs, parseArgs, reps, runIfMain, size } from './_common.js';

const BENCH = 'redis';
export const compare: Compare = {};

const URL_ = process.env.MULTIPROC_REDIS_URL ?? 'redis://127.0.0.1:6379';
const taskFile = new URL('./pool_task.js', import.meta.url);
const cli = fileURLToPath(new URL('./cli/multiproc.js', import.meta.resolve('multiproc')));

/** Starts a program and resolves once it printed `ready` on stdout or `multiproc worker` on stderr. */
function startHost(args: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    const onData = (b: Buffer) => {
      if (/ready|multiproc worker/.test(String(b))) resolve(child);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
  });
}

async function stop(hosts: ChildProcess[]): Promise<void> {
  await Promise.all(hosts.map((h) => (h.exitCode !== null || h.signalCode !== null ? null : new Promise((r) => { h.on('exit', r); h.kill('SIGTERM'); }))));
}

async function ours(args: ReturnType<typeof parseArgs>, mp: any, redis: any): Promise<void> {
  const R = reps(args, 3, 1);
  const ns = `bench-${process.pid}`;
  const hosts = await Promise.all([0, 1].map(() => startHost([cli, 'worker', '--redis', URL_, '--namespace', ns, '--processes', '4'])));
  const cluster = await redis.connect({ url: URL_, namespace: ns, leaseMs: 1000 });
  try {
    const pool = new cluster.Pool();
    const add = mp.task(taskFile, 'default');
    const square = mp.task(taskFile, 'square');
    const n = size(args, 20_000, 2000);
    await Promise.all(Array.from({ length: 2000 }, (_, i) => pool.apply(add, [{ a: i, b: 1 }]))); // warm
    const rates: number[] = [];
    const redisCpu: number[] = [];
    const info = async () => String(await cluster._link.send(['INFO', 'cpu']));
    for (let r = 0; r < R; r++) {
      const cpu0 = redisCpuUs(await info());
      const t0 = nowNs();
      const results = await Promise.all(Array.from({ length: n }, (_, i) => pool.apply(add, [{ a: i, b: 1 }])));
      rates.push(n / (msBetween(t0, nowNs()) / 1e3));
      redisCpu.push((redisCpuUs(await info()) - cpu0) / n);
      if (results[n - 1] !== n) throw new Error('wrong result');
    }
    emitMedian(BENCH, 'tiny_tasks_per_s', 'multiproc-cluster', rates, 'tasks/s', { n });
    emitMedian(BENCH, 'redis_cpu_per_task', 'multiproc-cluster', redisCpu, 'us', { n });

    const items = Array.from({ length: size(args, 1_000_000, 100_000) }, (_, i) => i);
    const local = new mp.Pool({ processes: 8 });
    for (const [impl, p] of [['multiproc-cluster', pool], ['multiproc-local-pool8', local]] as const) {
      const m: number[] = [];
      await p.map(square, items.slice(0, 10_000));
      for (let r = 0; r < R; r++) {
        const t0 = nowNs();
        const out = await p.map(square, items);
        m.push(items.length / (msBetween(t0, nowNs()) / 1e3));
        if (out[3] !== 9) throw new Error('wrong result');
      }
      emitMedian(BENCH, 'map_items_per_s', impl, m, 'items/s', { n: items.length });
    }
    local.close();
    await local.join();
    pool.close();
    await pool.join();

    // Lease expiry: one long task; the host that took it is killed; the other runs it again.
    const recover: number[] = [];
    const sleepy = (ms: number) => new Promise((r) => setTimeout(() => r(ms), ms));
    const hostPids = hosts.map((h) => h.pid);
    for (let r = 0; r < R; r++) {
      const p2 = new cluster.Pool();
      const result = p2.apply(mp.task(taskFile, 'sleep'), [400]);
      await sleepy(150); // it is running on one of the hosts now
      const holder = await whoHolds(cluster, ns);
      const victim = hosts.find((h) => holder.startsWith(`${hostname()}:${h.pid}:`));
      if (!victim) throw new Error(`no host holds the task (holder ${holder}; hosts ${hostPids})`);
      const t0 = nowNs();
      victim.kill('SIGKILL');
      await result;
      recover.push(msBetween(t0, nowNs()));
      hosts[hosts.indexOf(victim)] = await startHost([cli, 'worker', '--redis', URL_, '--namespace', ns, '--processes', '4']);
      p2.close();
      await p2.join();
    }
    emitMedian(BENCH, 'lease_recovery_ms', 'multiproc-cluster', recover, 'ms', { leaseMs: 1000 });
  } finally {
    await stop(hosts);
    await cluster._link.send(['DEL', `${ns}:pool:tasks`, `${ns}:pool:workers`]);
    await cluster.close();
  }
}


/** Redis's CPU time so far, user + system, in µs, from an `INFO cpu` reply. */
function redisCpuUs(info: string): number {
  const field = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1e6;
}

/** The consumer (host name) holding the namespace's one pending task. */
async function whoHolds(cluster: any, ns: string): Promise<string> {
  for (;;) {
    const summary = (await cluster._link.send(['XPENDING', `${ns}:pool:tasks`, 'workers'])) as [number, unknown, unknown, [Buffer, Buffer][] | null];
    if (summary[0] > 0 && summary[3]) return summary[3][0][0].toString();
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function bullmq(args: ReturnType<typeof parseArgs>, redis: any): Promise<void> {
  const R = reps(args, 3, 1);
  const { Queue } = await import('bullmq');
  const name = `bench-bullmq-${process.pid}`;
  const connection = { host: new URL(URL_).hostname, port: Number(new URL(URL_).port || 6379) };
  const worker = fileURLToPath(new URL('./redis_bullmq_worker.js', import.meta.url));
  const hosts = await Promise.all([0, 1].map(() => startHost([worker, name, '4'])));
  const queue = new Queue(name, { connection });
  const probe = await redis.connect({ url: URL_, namespace: name }); // (for INFO cpu)
  const n = size(args, 20_000, 2000);
  const drain = async () => {
    for (;;) {
      const c = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized');
      if (c.wait + c.active + c.delayed + c.prioritized === 0) return;
      await new Promise((r) => setTimeout(r, 2));
    }
  };
  try {
    const jobs = (k: number) => Array.from({ length: k }, (_, i) => ({ name: 'add', data: { a: i, b: 1 }, opts: { removeOnComplete: true } }));
    await queue.addBulk(jobs(2000));
    await drain();
    const rates: number[] = [];
    const redisCpu: number[] = [];
    const info = async () => String(await probe._link.send(['INFO', 'cpu']));
    for (let r = 0; r < R; r++) {
      const cpu0 = redisCpuUs(await info());
      const t0 = nowNs();
      await queue.addBulk(jobs(n));
      await drain();
      rates.push(n / (msBetween(t0, nowNs()) / 1e3));
      redisCpu.push((redisCpuUs(await info()) - cpu0) / n);
    }
    emitMedian(BENCH, 'tiny_tasks_per_s', 'bullmq', rates, 'tasks/s', { n });
    emitMedian(BENCH, 'redis_cpu_per_task', 'bullmq', redisCpu, 'us', { n, note: 'includes the drain polls (getJobCounts every 2 ms)' });
  } finally {
    await stop(hosts);
    await queue.obliterate({ force: true });
    await queue.close();
    await probe.close();
  }
}

async function main(): Promise<void> {
  const args = parseArgs();
  let redis: any;
  let mp: any;
  try {
    mp = await import('multiproc');
    redis = await import('multiproc/redis');
    const probe = await redis.connect({ url: URL_, connectTimeoutMs: 1000, retryMs: 1000, namespace: 'bench-probe' });
    await probe.close();
  } catch (err) {
    log(`# note: redis benchmark skipped: ${(err as Error).message}`);
    return;
  }
  await ours(args, mp, redis);
  await bullmq(args, redis);
}

await runIfMain(import.meta.url, main);
