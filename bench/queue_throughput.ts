/**
 * queue_throughput: Queue / SimpleQueue producer -> consumer
 * (mirrors ../shared/bench/python/queue_throughput.py).
 *
 * Scenarios, for multiproc's 'thread' and 'process' contexts:
 *   * Queue, 1 producer -> 1 consumer: int, 1 KiB bytes (Uint8Array), 1 MiB bytes
 *   * SimpleQueue, 1 -> 1: the same three payloads
 *   * Queue, 2 producers -> 2 consumers: int, 1 KiB
 * each with the Promise API in the children (`await q.put(x)` / `await q.get()`,
 * metric names as Python's) and with the Sync twins (`q.putSync(x)` /
 * `q.getSync()`, metrics prefixed `sync_`). Plus a raw Node peer for 1 -> 1
 * ('node-postmessage'): two worker_threads joined by a MessageChannel, the
 * producer posting N payloads (structured clone, no transfer) and a null.
 *
 * Timed region (Python uses a Barrier, which multiproc may not have yet):
 * every child first reports 'ready' on a result queue; the consumers then
 * block in get() and the producers block on a separate 'go' queue. Once all
 * are ready the parent puts one 'go' item per producer. Each producer stamps
 * process.hrtime.bigint() (CLOCK_MONOTONIC, system-wide on Linux, so
 * comparable between threads and processes) when it got its 'go', sends N/P
 * payloads and one null sentinel; each consumer stops at the first null and
 * stamps the time. Timed = latest consumer stamp - earliest producer stamp.
 * Process start is therefore excluded, as in Python. MB/s = 10^6 bytes of
 * payload per second (framing not counted).
 * Repetitions: quick 1, normal 3 (median); --reps N.
 */
import { Worker } from 'node:worker_threads';
import {
  type Args, type Compare, emitMedian, loadMultiproc, log, mailbox, median, parseArgs, reps, size, runIfMain, noWarmSpares } from './_common.js';

const BENCH = 'queue_throughput';
const KiB = 1024;
const MiB = 1024 * 1024;

type Kind = 'int' | '1KiB' | '1MiB';
const SCENARIOS: [qkind: 'Queue' | 'SimpleQueue', nprod: number, ncons: number, kinds: Kind[]][] = [
  ['Queue', 1, 1, ['int', '1KiB', '1MiB']],
  ['SimpleQueue', 1, 1, ['int', '1KiB', '1MiB']],
  ['Queue', 2, 2, ['int', '1KiB']],
];
const NBYTES: Record<Kind, number> = { int: 0, '1KiB': KiB, '1MiB': MiB };

/** Our metric -> Python's (the Sync-API variant pairs with the same figure). */
export const compare: Compare = {};
for (const [qkind, np, nc, kinds] of SCENARIOS) {
  for (const kind of kinds) {
    const tag = `${qkind}_${np}p${nc}c_${kind}`;
    for (const what of NBYTES[kind] ? ['msgs_per_s', 'MB_per_s'] : ['msgs_per_s']) {
      compare[`${tag}_${what}`] = [`${tag}_${what}`];
      compare[`sync_${tag}_${what}`] = [`${tag}_${what}`];
    }
  }
}

// ---- children (shipped by source text: no outer variables) -------------------

async function producer(q: any, n: number, payload: unknown, go: any, res: any, sync: boolean): Promise<void> {
  if (sync) {
    res.putSync(['ready']);
    go.getSync();
    const t0 = Number(process.hrtime.bigint());
    for (let i = 0; i < n; i++) q.putSync(payload);
    q.putSync(null);
    res.putSync(['p', t0]);
  } else {
    await res.put(['ready']);
    await go.get();
    const t0 = Number(process.hrtime.bigint());
    for (let i = 0; i < n; i++) await q.put(payload);
    await q.put(null);
    await res.put(['p', t0]);
  }
}

async function consumer(q: any, res: any, sync: boolean): Promise<void> {
  let count = 0;
  if (sync) {
    res.putSync(['ready']);
    while (q.getSync() !== null) count++;
  } else {
    await res.put(['ready']);
    while ((await q.get()) !== null) count++;
  }
  res.putSync(['c', Number(process.hrtime.bigint()), count]);
}

// ---- parent --------------------------------------------------------------------

export async function runOnce(
  mp: any, ctx: any, qkind: string, nprod: number, ncons: number, nTotal: number, payload: unknown, sync: boolean,
): Promise<[number, number]> {
  const q = qkind === 'Queue' ? new mp.Queue() : new mp.SimpleQueue();
  const res = new mp.SimpleQueue();
  const go = new mp.SimpleQueue();
  const per = Math.floor(nTotal / nprod);
  const procs = [
    ...Array.from({ length: ncons }, () => new ctx.Process({ target: consumer, args: [q, res, sync] })),
    ...Array.from({ length: nprod }, () => new ctx.Process({ target: producer, args: [q, per, payload, go, res, sync] })),
  ];
  for (const p of procs) p.start();
  for (let i = 0; i < procs.length; i++) {
    const r = await res.get();
    if (r[0] !== 'ready') throw new Error(`unexpected ${JSON.stringify(r)}`);
  }
  for (let i = 0; i < nprod; i++) await go.put(1);
  const starts: number[] = [];
  const ends: number[] = [];
  let count = 0;
  for (let i = 0; i < procs.length; i++) {
    const r = await res.get();
    if (r[0] === 'p') starts.push(r[1]);
    else {
      ends.push(r[1]);
      count += r[2];
    }
  }
  for (const p of procs) {
    await p.join();
    if (p.exitCode !== 0) throw new Error(`child exited with exitCode ${p.exitCode}`);
  }
  if (count !== per * nprod) throw new Error(`received ${count} items, expected ${per * nprod}`);
  return [(Math.max(...ends) - Math.min(...starts)) / 1e9, count];
}

// Raw Node peer: producer and consumer workers joined by a MessageChannel.
const PEER_PRODUCER = `
const { workerData, parentPort } = require('node:worker_threads');
const { port, n, payload } = workerData;
parentPort.once('message', () => {
  const t0 = Number(process.hrtime.bigint());
  for (let i = 0; i < n; i++) port.postMessage(payload);
  port.postMessage(null);
  parentPort.postMessage(['p', t0]);
  port.close();
});
parentPort.postMessage(['ready']);
`;
const PEER_CONSUMER = `
const { workerData, parentPort } = require('node:worker_threads');
const { port } = workerData;
let count = 0;
port.on('message', (m) => {
  if (m !== null) { count++; return; }
  parentPort.postMessage(['c', Number(process.hrtime.bigint()), count]);
  port.close();
});
parentPort.postMessage(['ready']);
`;

async function peerOnce(n: number, payload: unknown): Promise<[number, number]> {
  const { port1, port2 } = new MessageChannel();
  const cons = new Worker(PEER_CONSUMER, { eval: true, workerData: { port: port2 }, transferList: [port2 as any] });
  const prod = new Worker(PEER_PRODUCER, { eval: true, workerData: { port: port1, n, payload }, transferList: [port1 as any] });
  const fromCons = mailbox(cons);
  const fromProd = mailbox(prod);
  await Promise.all([fromCons(), fromProd()]); // both 'ready'
  prod.postMessage('go');
  const [[, t0], [, t1, count]] = await Promise.all([fromProd(), fromCons()]);
  await Promise.all([prod.terminate(), cons.terminate()]);
  if (count !== n) throw new Error(`received ${count} messages, expected ${n}`);
  return [(t1 - t0) / 1e9, count];
}

export async function main(args: Args = parseArgs()): Promise<void> {
  noWarmSpares();
  const mp = await loadMultiproc();
  if (mp && typeof mp.parentProcess === 'function' && mp.parentProcess() !== null) return;
  const R = reps(args, 3, 1);
  const payloads: Record<Kind, [unknown, number, number]> = {
    int: [12345, 0, size(args, 200_000, 10_000)],
    '1KiB': [new Uint8Array(KiB).fill(0x78), KiB, size(args, 100_000, 10_000)],
    '1MiB': [new Uint8Array(MiB).fill(0x78), MiB, size(args, 500, 40)],
  };

  const record = (impl: string, tag: string, nbytes: number, n: number, rs: [number, number][]) => {
    const rates = rs.map(([dt, c]) => c / dt);
    emitMedian(BENCH, `${tag}_msgs_per_s`, impl, rates, 'msg/s', { n });
    if (nbytes) emitMedian(BENCH, `${tag}_MB_per_s`, impl, rs.map(([dt, c]) => (c * nbytes) / dt / 1e6), 'MB/s', { n });
    log(`${impl} ${tag}: ${median(rates).toFixed(0)} msg/s`);
  };

  if (mp) {
    for (const method of ['thread', 'process']) {
      const ctx = mp.getContext(method);
      const impl = `multiproc-${method}`;
      for (const [qkind, np, nc, kinds] of SCENARIOS) {
        for (const kind of kinds) {
          const [payload, nbytes, n] = payloads[kind];
          for (const sync of [false, true]) {
            const tag = `${sync ? 'sync_' : ''}${qkind}_${np}p${nc}c_${kind}`;
            try {
              const rs: [number, number][] = [];
              for (let r = 0; r < R; r++) rs.push(await runOnce(mp, ctx, qkind, np, nc, n, payload, sync));
              record(impl, tag, nbytes, n, rs);
            } catch (e) {
              log(`# ${impl} ${tag}: FAILED: ${(e as Error)?.stack ?? e}`);
              process.exitCode = 1;
            }
          }
        }
      }
    }
  }
  for (const kind of ['int', '1KiB', '1MiB'] as Kind[]) {
    const [payload, nbytes, n] = payloads[kind];
    const rs: [number, number][] = [];
    for (let r = 0; r < R; r++) rs.push(await peerOnce(n, payload));
    record('node-postmessage', `Queue_1p1c_${kind}`, nbytes, n, rs);
  }
}

await runIfMain(import.meta.url, () => main());
