/**
 * pipe_roundtrip: Pipe() latency and byte throughput
 * (mirrors ../shared/bench/python/pipe_roundtrip.py).
 *
 * Latency: parent <-> child ping-pong over a duplex Pipe(); the child echoes
 * every message. Per round trip in microseconds: median, p99 and mean, for
 * send()/recv() of a small object ['ping', 42] and for sendBytes()/recvBytes()
 * of 8 raw bytes; 500 untimed warm-up round trips first (as Python). Two API
 * variants, for the 'thread' and 'process' contexts:
 *   - plain names: both sides use the Promise API (`await a.send(m); await a.recv()`
 *     in the parent, the same in the child's echo loop);
 *   - `sync_` names: both sides use the Sync twins (sendSync/recvSync, the
 *     parent blocking its main thread). Goal: sync median <= 2 us.
 * Raw Node peer ('node-postmessage', in the plain rows): two worker_threads
 * joined by a MessageChannel, one echoing, the other timing
 * `port.postMessage(m)` + awaiting the 'message' event.
 * `_same_cpu` rows: the same, with the whole benchmark process (and so its
 * threads and child processes) pinned to one CPU with `taskset -c` (Node has
 * no sched_setaffinity); Python pins parent and child with sched_setaffinity.
 *
 * Throughput: the parent streams N payloads of 64 KiB and 16 MiB with
 * `await w.sendBytes(p)` (or `w.sendBytesSync(p)`: `sync_` rows, duplex only);
 * the child consumes them with recvBytesSync() (or recvBytesIntoSync() into a
 * preallocated Uint8Array) and acknowledges once at the end with the byte
 * total. For Pipe(true) (duplex) and Pipe(false) (simplex). Unlike Python's
 * fork (a child running ~1 ms after start), our children take tens of ms to
 * start, so the child first sends 'ready' on the ack pipe and the clock starts
 * when the parent has it. MB/s = 10^6 bytes / s.
 * Repetitions: quick 1, normal 3 (median); --reps N.
 */
import { Worker } from 'node:worker_threads';
import {
  type Args, type Compare, deadline, emitMedian, loadMultiproc, log, mailbox, median, nowNs, parseArgs,
  percentile, reps, sameCpuRun, size, runIfMain, noWarmSpares } from './_common.js';

const BENCH = 'pipe_roundtrip';
const KiB = 1024;
const MiB = 1024 * 1024;
const WARM = 500;
/** How long the parent waits for the sink's acknowledgement once everything is sent. */
const WATCHDOG_MS = 20_000;

const MODES = [['obj', 'send_recv_small_obj'], ['bytes', 'send_bytes_8B']] as const;
const CASES = [['64KiB', 64 * KiB], ['16MiB', 16 * MiB]] as const;
const VARIANTS = [
  // name, duplex, recvBytesInto, sync sender
  ['duplex', true, false, false],
  ['simplex', false, false, false],
  ['duplex_recv_bytes_into', true, true, false],
  ['duplex', true, false, true],
] as const;

/** Our metric -> Python's. */
export const compare: Compare = {};
for (const [, tag] of MODES) {
  for (const cpu of ['', '_same_cpu']) {
    for (const stat of ['median', 'p99', 'mean']) {
      const py = [`rtt_${tag}${cpu}_${stat}`];
      compare[`rtt_${tag}${cpu}_${stat}`] = py;
      compare[`sync_rtt_${tag}${cpu}_${stat}`] = py;
    }
  }
}
for (const [label] of CASES) {
  for (const [vname, , , sync] of VARIANTS) {
    for (const what of ['MB_per_s', 'msgs_per_s']) {
      compare[`${sync ? 'sync_' : ''}send_bytes_${label}_${vname}_${what}`] = [`send_bytes_${label}_${vname}_${what}`];
    }
  }
}

// ---- children (shipped by source text: no outer variables) -------------------

async function echo(conn: any, mode: string, sync: boolean): Promise<void> {
  if (mode === 'obj') {
    if (sync) for (let o: unknown; (o = conn.recvSync()) !== null;) conn.sendSync(o);
    else for (let o: unknown; (o = await conn.recv()) !== null;) await conn.send(o);
  } else {
    if (sync) for (let b: Uint8Array; (b = conn.recvBytesSync()).length !== 0;) conn.sendBytesSync(b);
    else for (let b: Uint8Array; (b = await conn.recvBytes()).length !== 0;) await conn.sendBytes(b);
  }
}

async function sink(r: any, ack: any, n: number, into: boolean, nbytes: number): Promise<void> {
  ack.sendSync('ready');
  let total = 0;
  if (into) {
    const buf = new Uint8Array(nbytes);
    for (let i = 0; i < n; i++) total += r.recvBytesIntoSync(buf);
  } else {
    for (let i = 0; i < n; i++) total += r.recvBytesSync().length;
  }
  ack.sendSync(total);
}

// ---- latency -------------------------------------------------------------------

type Stats = [median: number, p99: number, mean: number];
const stats = (lat: number[]): Stats => [median(lat), percentile(lat, 99), lat.reduce((a, b) => a + b, 0) / lat.length];

async function latency(ctx: any, n: number, mode: 'obj' | 'bytes', sync: boolean): Promise<Stats> {
  const [a, b] = ctx.Pipe();
  const child = new ctx.Process({ target: echo, args: [b, mode, sync] });
  child.start();
  b.close();
  const [msg, stop] = mode === 'obj' ? [['ping', 42], null] : [new Uint8Array([112, 105, 110, 103, 112, 111, 110, 103]), new Uint8Array(0)];
  const lat = new Array<number>(n);
  if (mode === 'obj') {
    // One async round trip first: the child is up before the parent may block its thread.
    await a.send(msg);
    await a.recv();
    if (sync) {
      for (let i = 0; i < WARM; i++) { a.sendSync(msg); a.recvSync(); }
      for (let i = 0; i < n; i++) {
        const t0 = nowNs();
        a.sendSync(msg);
        a.recvSync();
        lat[i] = Number(nowNs() - t0) / 1e3;
      }
    } else {
      for (let i = 0; i < WARM; i++) { await a.send(msg); await a.recv(); }
      for (let i = 0; i < n; i++) {
        const t0 = nowNs();
        await a.send(msg);
        await a.recv();
        lat[i] = Number(nowNs() - t0) / 1e3;
      }
    }
    await a.send(stop);
  } else {
    await a.sendBytes(msg);
    await a.recvBytes();
    if (sync) {
      for (let i = 0; i < WARM; i++) { a.sendBytesSync(msg); a.recvBytesSync(); }
      for (let i = 0; i < n; i++) {
        const t0 = nowNs();
        a.sendBytesSync(msg);
        a.recvBytesSync();
        lat[i] = Number(nowNs() - t0) / 1e3;
      }
    } else {
      for (let i = 0; i < WARM; i++) { await a.sendBytes(msg); await a.recvBytes(); }
      for (let i = 0; i < n; i++) {
        const t0 = nowNs();
        await a.sendBytes(msg);
        await a.recvBytes();
        lat[i] = Number(nowNs() - t0) / 1e3;
      }
    }
    await a.sendBytes(stop);
  }
  await child.join();
  if (child.exitCode !== 0) throw new Error(`echo child exited with exitCode ${child.exitCode}`);
  a.close();
  return stats(lat);
}

// Raw Node peer: a pinger worker and an echo worker joined by a MessageChannel.
const PEER_ECHO = `
const { workerData } = require('node:worker_threads');
const { port } = workerData;
port.on('message', (m) => {
  if (m === null) return port.close();
  port.postMessage(m);
});
`;
const PEER_PING = `
const { workerData, parentPort } = require('node:worker_threads');
const { port, n, warm, mode } = workerData;
const msg = mode === 'obj' ? ['ping', 42] : new Uint8Array(8);
let resolve = null;
port.on('message', () => resolve());
const rt = () => new Promise((r) => { resolve = r; port.postMessage(msg); });
(async () => {
  for (let i = 0; i < warm; i++) await rt();
  const lat = new Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await rt();
    lat[i] = Number(process.hrtime.bigint() - t0) / 1e3;
  }
  port.postMessage(null);
  port.close();
  parentPort.postMessage(lat);
})();
`;

async function peerLatency(n: number, mode: string): Promise<Stats> {
  const { port1, port2 } = new MessageChannel();
  const echoW = new Worker(PEER_ECHO, { eval: true, workerData: { port: port2 }, transferList: [port2 as any] });
  const ping = new Worker(PEER_PING, { eval: true, workerData: { port: port1, n, warm: WARM, mode }, transferList: [port1 as any] });
  const lat: number[] = await mailbox(ping)();
  await Promise.all([ping.terminate(), echoW.terminate()]);
  return stats(lat);
}

async function latencySection(mp: any, args: Args, R: number, cpuTag: string): Promise<void> {
  const n = size(args, 20_000, 2_000);
  const runs: [string, string, (mode: 'obj' | 'bytes') => Promise<Stats>][] = [];
  if (mp) {
    for (const method of ['thread', 'process']) {
      const ctx = mp.getContext(method);
      runs.push([`multiproc-${method}`, '', (m) => latency(ctx, n, m, false)]);
      runs.push([`multiproc-${method}`, 'sync_', (m) => latency(ctx, n, m, true)]);
    }
  }
  runs.push(['node-postmessage', '', (m) => peerLatency(n, m)]);
  for (const [impl, prefix, run] of runs) {
    for (const [mode, tag] of MODES) {
      const name = `${prefix}rtt_${tag}${cpuTag}`;
      try {
        const all: Stats[] = [];
        for (let r = 0; r < R; r++) all.push(await run(mode));
        ['median', 'p99', 'mean'].forEach((stat, j) => {
          emitMedian(BENCH, `${name}_${stat}`, impl, all.map((s) => s[j]), 'us', { n });
        });
        log(`${impl} ${name}: median ${median(all.map((s) => s[0])).toFixed(2)} us, p99 ${median(all.map((s) => s[1])).toFixed(1)} us`);
      } catch (e) {
        log(`# ${impl} ${name}: FAILED: ${(e as Error)?.stack ?? e}`);
        process.exitCode = 1;
      }
    }
  }
}

// ---- throughput ----------------------------------------------------------------

async function throughput(ctx: any, nbytes: number, n: number, duplex: boolean, into: boolean, sync: boolean): Promise<[number, number]> {
  const [r, w] = ctx.Pipe(duplex);
  const [ackR, ackW] = ctx.Pipe(false);
  const child = new ctx.Process({ target: sink, args: [r, ackW, n, into, nbytes] });
  child.start();
  r.close();
  ackW.close();
  const payload = new Uint8Array(nbytes).fill(0x5a);
  if ((await ackR.recv()) !== 'ready') throw new Error('sink did not say ready');
  const t0 = nowNs();
  let total: number;
  const what = `sink child (${nbytes} B x ${n}, ${duplex ? 'duplex' : 'simplex'}${into ? ', recvBytesInto' : ''})`;
  if (sync) {
    for (let i = 0; i < n; i++) w.sendBytesSync(payload);
    total = ackR.pollSync(WATCHDOG_MS) ? ackR.recvSync() : -1;
  } else {
    for (let i = 0; i < n; i++) await w.sendBytes(payload);
    total = await deadline<number>(ackR.recv(), WATCHDOG_MS, what).catch(() => -1);
  }
  const dt = Number(nowNs() - t0) / 1e9;
  if (total === -1) {
    // Every message was sent, but the child is still waiting for one: a message was lost.
    child.kill();
    await child.join();
    throw new Error(`${what}: all messages sent, no acknowledgement within ${WATCHDOG_MS / 1000} s (a message was lost?)`);
  }
  await child.join();
  if (child.exitCode !== 0) throw new Error(`sink child exited with exitCode ${child.exitCode}`);
  if (total !== n * nbytes) throw new Error(`sink got ${total} bytes, expected ${n * nbytes}`);
  w.close();
  ackR.close();
  return [(n * nbytes) / dt / 1e6, n / dt];
}

async function throughputSection(mp: any, args: Args, R: number): Promise<void> {
  for (const method of ['thread', 'process']) {
    const ctx = mp.getContext(method);
    const impl = `multiproc-${method}`;
    for (const [label, nbytes] of CASES) {
      const n = label === '64KiB' ? size(args, 10_000, 1_000) : size(args, 40, 6);
      for (const [vname, duplex, into, sync] of VARIANTS) {
        const name = `${sync ? 'sync_' : ''}send_bytes_${label}_${vname}`;
        try {
          const mbs: number[] = [];
          const rates: number[] = [];
          for (let r = 0; r < R; r++) {
            const [mb, rate] = await throughput(ctx, nbytes, n, duplex, into, sync);
            mbs.push(mb);
            rates.push(rate);
          }
          emitMedian(BENCH, `${name}_MB_per_s`, impl, mbs, 'MB/s', { n });
          emitMedian(BENCH, `${name}_msgs_per_s`, impl, rates, 'msg/s', { n });
          log(`${impl} ${name}: ${median(mbs).toFixed(0)} MB/s`);
        } catch (e) {
          log(`# ${impl} ${name}: FAILED: ${(e as Error)?.stack ?? e}`);
          process.exitCode = 1;
        }
      }
    }
  }
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  const sameCpu = argv.includes('--same-cpu');
  const rest = argv.filter((a) => a !== '--same-cpu');
  const args = parseArgs(rest);
  noWarmSpares();
  const mp = await loadMultiproc();
  if (mp && typeof mp.parentProcess === 'function' && mp.parentProcess() !== null) return;
  const R = reps(args, 3, 1);
  if (sameCpu) return latencySection(mp, args, R, '_same_cpu');
  await latencySection(mp, args, R, '');
  sameCpuRun(import.meta.url, rest);
  if (mp) await throughputSection(mp, args, R);
}

await runIfMain(import.meta.url, () => main());
