/**
 * manager_ops: SyncManager proxy operation latency
 * (mirrors ../shared/bench/python/manager_ops.py).
 *
 * For the 'thread' and 'process' contexts (the manager's server runs in a
 * child of that kind, and so do the children below):
 *   * manager_start_ms / manager_shutdown_ms: `await Manager({ context })`
 *     (server child up, this thread's client connected: usable) and
 *     `await m.shutdown()` (server stopped and joined). Median of 5 (quick 2),
 *     as Python. Pairing: one row against both of Python's methods, ratio of
 *     best vs best (ours: thread; Python: fork). Both of our contexts start a
 *     fresh runtime that loads its modules, which is what Python's spawn
 *     does; fork (a copy of a warm interpreter) has no Node counterpart.
 *     Warm spares are off (MULTIPROC_WARM_SPARES=0): cold starts, and no
 *     background boot overlapping the timed loops on 2 cores.
 *   * manager_start_warm_ms: the same start when a warm spare is ready
 *     (spares on for that step only; see warmStart).
 *   * From a child holding proxies (fresh dict, list, Namespace, Lock and
 *     child per repetition), microseconds per op, metric names as Python's:
 *       dict set `await d.set(i, i)`, dict get `await d.get(i)`,
 *       list append `await lst.append(i)`,
 *       Namespace set `await ns.set('x', i)` (`ns.x = i` posts the write
 *         without waiting for it; that form is child_namespace_setattr_posted:
 *         n posted writes then one `await ns.x` that comes after them),
 *       Namespace get `await ns.x`,
 *       Lock pair `await lock.acquire(); await lock.release()`;
 *     `sync_` rows: the same with the Sync twins (d.setSync(i, i), ...) in a
 *     second child. The child sends its times back on a SimpleQueue; the
 *     parent then checks len(lst) = n, ns.x = n-1, len(d) = max(n, STEADY_WARM).
 *   * parent_dict_set / get (and sync_): the same from the parent.
 *   * tcp_dict_set / get: a SyncManager started with address
 *     ['127.0.0.1', 0] and a second SyncManager that connect()s to it from
 *     the parent, whose proxies go over TCP (async only: remote proxies have
 *     no Sync twins). Paired with Python's *local* child dict set / get.
 *     With the 'thread' context, client and server are two threads of one
 *     process; with 'process', two processes.
 *   * tcp_pingpong_rtt_us ('node-net'): raw Node TCP round trip of 8 bytes
 *     between this process and a `node -e` echo server (net, noDelay), the
 *     floor under any socket-based op on this machine.
 * Every op first runs min(n, 500) times untimed, all of them before any is
 * timed (JIT warm-up: the first few hundred calls in a fresh isolate take
 * several times longer; Python has nothing to warm up). That is too short
 * for a fresh child's JIT to settle (its first 10,000 gets average 40-60 µs,
 * then ~6 µs), so the `_steady` child rows time the same n ops again once
 * every op has run another STEADY_WARM times: what a long-running child pays. Latencies swing
 * widely on the 2-vCPU VM (client and server spin briefly, then sleep; when
 * they share one CPU, spinning only delays the other side).
 * n = 3000 (quick 500), 5 repetitions (quick 1; --reps N): medians.
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import {
  type Args, type Compare, deadline, emitMedian, loadMultiproc, log, median, nowNs, parseArgs, reps, size, runIfMain, noWarmSpares } from './_common.js';

const BENCH = 'manager_ops';
const OPS = ['dict_set', 'dict_get', 'list_append', 'namespace_setattr', 'namespace_getattr', 'lock_acquire_release_pair'];
const CHILD_MS = 120_000;
/** Untimed runs of every op before the `_steady` rows (see above). */
const STEADY_WARM = 5000;
const WARM_SPARE_PAUSE_MS = 1000;

/** Our metric -> Python's comparable metric(s). */
export const compare: Compare = {
  manager_start_ms: ['manager_start_ms_fork', 'manager_start_ms_spawn'],
  manager_shutdown_ms: ['manager_shutdown_ms_fork', 'manager_shutdown_ms_spawn'],
  manager_start_warm_ms: ['manager_start_ms_fork', 'manager_start_ms_spawn'],
  tcp_dict_set_us_per_op: ['child_dict_set_us_per_op'],
  tcp_dict_get_us_per_op: ['child_dict_get_us_per_op'],
};
for (const op of OPS) {
  for (const tag of ['', '_steady']) {
    compare[`child_${op}${tag}_us_per_op`] = [`child_${op}_us_per_op`];
    compare[`sync_child_${op}${tag}_us_per_op`] = [`child_${op}_us_per_op`];
  }
}
for (const op of ['dict_set', 'dict_get']) {
  compare[`parent_${op}_us_per_op`] = [`parent_${op}_us_per_op`];
  compare[`sync_parent_${op}_us_per_op`] = [`parent_${op}_us_per_op`];
}

// ---- the timed operations (a child's target: shipped by source, no outer variables) ----

/**
 * Runs the ops named in `which` n times each (after `warm` untimed runs) and
 * returns seconds per op name; with `steady` > 0, runs each `steady` times
 * more and times n again (as `<op>_steady`). Puts the result on `resQ` too
 * when given.
 */
async function ops(
  d: any, lst: any, ns: any, lock: any, n: number, warm: number, sync: boolean, which: string[], resQ: any, steady = 0,
): Promise<Record<string, number>> {
  const loops: Record<string, (k: number) => unknown> = sync ? {
    dict_set: (k) => { for (let i = 0; i < k; i++) d.setSync(i, i); },
    dict_get: (k) => { for (let i = 0; i < k; i++) d.getSync(i); },
    list_append: (k) => { for (let i = 0; i < k; i++) lst.appendSync(i); },
    namespace_setattr: (k) => { for (let i = 0; i < k; i++) ns.setSync('x', i); },
    namespace_getattr: (k) => { for (let i = 0; i < k; i++) ns.getSync('x'); },
    lock_acquire_release_pair: (k) => { for (let i = 0; i < k; i++) { lock.acquireSync(); lock.releaseSync(); } },
  } : {
    dict_set: async (k) => { for (let i = 0; i < k; i++) await d.set(i, i); },
    dict_get: async (k) => { for (let i = 0; i < k; i++) await d.get(i); },
    list_append: async (k) => { for (let i = 0; i < k; i++) await lst.append(i); },
    namespace_setattr: async (k) => { for (let i = 0; i < k; i++) await ns.set('x', i); },
    namespace_setattr_posted: async (k) => { for (let i = 0; i < k; i++) ns.x = i; await ns.x; },
    namespace_getattr: async (k) => { for (let i = 0; i < k; i++) await ns.x; },
    lock_acquire_release_pair: async (k) => { for (let i = 0; i < k; i++) { await lock.acquire(); await lock.release(); } },
  };
  for (const name of which) await loops[name](warm); // every op warmed up before any is timed
  if (which.includes('list_append')) {
    if (sync) lst.clearSync();
    else await lst.clear();
  }
  const t: Record<string, number> = {};
  for (const tag of steady > 0 ? ['', '_steady'] : ['']) {
    if (tag) for (const name of which) await loops[name](steady);
    for (const name of which) {
      if (tag && name === 'list_append') {
        if (sync) lst.clearSync(); // (the parent checks len(lst) = n)
        else await lst.clear();
      }
      const t0 = process.hrtime.bigint();
      await loops[name](n);
      t[name + tag] = Number(process.hrtime.bigint() - t0) / 1e9;
    }
  }
  if (resQ) await resQ.put(t);
  return t;
}

// ---- parent ------------------------------------------------------------------

/** Adds `t` (seconds per op name) to `acc` as microseconds per op. */
function collect(acc: Record<string, number[]>, t: Record<string, number>, n: number, prefix: string): void {
  for (const [k, v] of Object.entries(t)) (acc[prefix + k] ??= []).push((v / n) * 1e6);
}

async function startStop(mp: any, method: string, impl: string, times: number): Promise<void> {
  const starts: number[] = [];
  const stops: number[] = [];
  for (let r = 0; r < times; r++) {
    const t0 = nowNs();
    const m = await mp.Manager({ context: method });
    const t1 = nowNs();
    await m.shutdown();
    const t2 = nowNs();
    starts.push(Number(t1 - t0) / 1e6);
    stops.push(Number(t2 - t1) / 1e6);
  }
  emitMedian(BENCH, 'manager_start_ms', impl, starts, 'ms');
  emitMedian(BENCH, 'manager_shutdown_ms', impl, stops, 'ms');
  log(`${impl}: Manager() start ${median(starts).toFixed(1)} ms, shutdown ${median(stops).toFixed(1)} ms`);
}

/**
 * manager_start_warm_ms: `await Manager({ context })` when a warm spare is
 * ready (spares on for this step only). One untimed start teaches the spares
 * to preload the server's modules; before each timed start the spare gets
 * WARM_SPARE_PAUSE_MS to boot, as a program that starts a manager some time
 * after its first child would find it.
 */
async function warmStart(mp: any, method: string, impl: string, times: number): Promise<void> {
  const before = process.env.MULTIPROC_WARM_SPARES;
  process.env.MULTIPROC_WARM_SPARES = '1';
  try {
    await (await mp.Manager({ context: method })).shutdown();
    const starts: number[] = [];
    for (let r = 0; r < times; r++) {
      await new Promise((resolve) => setTimeout(resolve, WARM_SPARE_PAUSE_MS));
      const t0 = nowNs();
      const m = await mp.Manager({ context: method });
      starts.push(Number(nowNs() - t0) / 1e6);
      await m.shutdown();
    }
    emitMedian(BENCH, 'manager_start_warm_ms', impl, starts, 'ms');
    log(`${impl}: Manager() start with a warm spare ${median(starts).toFixed(1)} ms`);
  } finally {
    if (before === undefined) delete process.env.MULTIPROC_WARM_SPARES;
    else process.env.MULTIPROC_WARM_SPARES = before;
  }
}

/** One child doing every op on fresh proxies; checks the final state as Python asserts. */
async function childRun(mp: any, m: any, ctx: any, n: number, warm: number, sync: boolean): Promise<Record<string, number>> {
  const [d, lst, ns, lock] = [await m.dict(), await m.list(), await m.Namespace(), await m.Lock()];
  const resQ = new mp.SimpleQueue();
  const which = sync ? OPS : [...OPS.slice(0, 4), 'namespace_setattr_posted', ...OPS.slice(4)];
  const p = new ctx.Process({ target: ops, args: [d, lst, ns, lock, n, warm, sync, which, resQ, STEADY_WARM] });
  p.start();
  let t: Record<string, number>;
  try {
    t = await deadline(resQ.get(), CHILD_MS, 'manager_ops child', () => p.kill());
  } finally {
    await p.join();
  }
  if (p.exitCode !== 0) throw new Error(`child exited with exitCode ${p.exitCode}`);
  p.close?.();
  resQ.close?.();
  const [dl, ll, x] = [await d.length(), await lst.length(), await ns.x];
  const keys = Math.max(n, STEADY_WARM); // (d.set(i, i) for i < n, and < STEADY_WARM while warming up)
  if (dl !== keys || ll !== n || x !== n - 1) throw new Error(`final state wrong: len(d)=${dl} len(lst)=${ll} ns.x=${x} (n=${n})`);
  for (const proxy of [d, lst, ns, lock]) proxy[Symbol.dispose]();
  return t;
}

async function proxyOps(mp: any, method: string, impl: string, n: number, warm: number, R: number): Promise<void> {
  const ctx = mp.getContext(method);
  const child: Record<string, number[]> = {};
  const parent: Record<string, number[]> = {};
  const m = await mp.Manager({ context: method });
  try {
    for (let r = 0; r < R; r++) {
      for (const sync of [false, true]) {
        const prefix = sync ? 'sync_' : '';
        collect(child, await childRun(mp, m, ctx, n, warm, sync), n, prefix);
        const d = await m.dict();
        collect(parent, await ops(d, null, null, null, n, warm, sync, ['dict_set', 'dict_get'], null), n, prefix);
        if ((await d.length()) !== n) throw new Error('parent dict has the wrong length');
        d[Symbol.dispose]();
      }
    }
  } finally {
    await m.shutdown();
  }
  const note = (k: string) => (k.includes('namespace_setattr_posted') ? { note: '`ns.x = i` n times, then one `await ns.x`' }
    : k.endsWith('namespace_setattr') ? { note: "`await ns.set('x', i)`" } : {});
  for (const [k, v] of Object.entries(child)) {
    const name = k.startsWith('sync_') ? `sync_child_${k.slice(5)}` : `child_${k}`;
    emitMedian(BENCH, `${name}_us_per_op`, impl, v, 'us', { n, ...note(k) });
  }
  for (const [k, v] of Object.entries(parent)) {
    const name = k.startsWith('sync_') ? `sync_parent_${k.slice(5)}` : `parent_${k}`;
    emitMedian(BENCH, `${name}_us_per_op`, impl, v, 'us', { n });
  }
  const show = (acc: Record<string, number[]>) => Object.entries(acc).map(([k, v]) => `${k} ${median(v).toFixed(1)}`).join(', ');
  log(`${impl}: child (us/op): ${show(child)}`);
  log(`${impl}: parent (us/op): ${show(parent)}`);
}

/** dict set/get over TCP: a started SyncManager with an address, and a second one connected to it. */
async function tcpOps(mp: any, method: string, impl: string, n: number, warm: number, R: number): Promise<void> {
  const server = new mp.SyncManager({ address: ['127.0.0.1', 0], authkey: 'manager_ops', context: method });
  await server.start();
  const remote = new mp.SyncManager({ address: server.address, authkey: 'manager_ops' });
  const acc: Record<string, number[]> = {};
  try {
    await remote.connect();
    for (let r = 0; r < R; r++) {
      const d = await remote.dict();
      collect(acc, await ops(d, null, null, null, n, warm, false, ['dict_set', 'dict_get'], null), n, '');
      if ((await d.length()) !== n) throw new Error('remote dict has the wrong length');
      d[Symbol.dispose]();
    }
  } finally {
    await server.shutdown(); // stops the server: the connected manager's socket closes
    await remote.shutdown(); // (only closes its client now)
  }
  for (const [k, v] of Object.entries(acc)) {
    emitMedian(BENCH, `tcp_${k}_us_per_op`, impl, v, 'us', { n, note: `over TCP 127.0.0.1 to a server in a ${method} child` });
  }
  log(`${impl}: TCP (us/op): ${Object.entries(acc).map(([k, v]) => `${k} ${median(v).toFixed(1)}`).join(', ')}`);
}

// A raw echo server: its port on stdout; ends when its stdin closes.
const ECHO = "const s = require('node:net').createServer((c) => { c.setNoDelay(true); c.on('data', (b) => c.write(b)); });" +
  "s.listen(0, '127.0.0.1', () => process.stdout.write(s.address().port + '\\n'));" +
  "process.stdin.on('end', () => process.exit(0)); process.stdin.resume();";

/** Raw Node TCP ping-pong (8 bytes) with an echo server in another node process: mean us per round trip, per rep. */
async function tcpPingPong(n: number, R: number): Promise<void> {
  const child = spawn(process.execPath, ['-e', ECHO], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise((res) => child.once('exit', res));
  try {
    const port = await deadline(new Promise<number>((res, rej) => {
      child.once('error', rej);
      child.stdout!.once('data', (b) => res(Number(String(b).trim())));
    }), 30_000, 'TCP echo server');
    const sock = connect(port, '127.0.0.1');
    sock.setNoDelay(true);
    await new Promise((res, rej) => sock.once('connect', res).once('error', rej));
    let wake: () => void = () => {};
    sock.on('data', () => wake()); // 8 bytes: one chunk on loopback
    const msg = Buffer.alloc(8);
    const roundTrip = () => new Promise<void>((res) => { wake = res; sock.write(msg); });
    for (let i = 0; i < 500; i++) await roundTrip();
    const rtts: number[] = [];
    for (let r = 0; r < R; r++) {
      const t0 = nowNs();
      for (let i = 0; i < n; i++) await roundTrip();
      rtts.push(Number(nowNs() - t0) / 1e3 / n);
    }
    sock.destroy();
    emitMedian(BENCH, 'tcp_pingpong_rtt_us', 'node-net', rtts, 'us', { n, note: 'raw net.Socket 8 B echo, two node processes' });
    log(`node-net: raw TCP round trip ${median(rtts).toFixed(1)} us`);
  } finally {
    child.stdin!.end();
    await exited;
  }
}

export async function main(args: Args = parseArgs()): Promise<void> {
  noWarmSpares(); // (see the top)
  const mp = await loadMultiproc();
  if (!mp || typeof mp.Manager !== 'function') {
    log('# manager_ops: multiproc (with Manager) is not available; nothing to measure');
    process.exitCode = 1;
    return;
  }
  if (mp.parentProcess() !== null) return;
  const R = reps(args, 5, 1);
  const n = size(args, 3000, 500);
  const warm = Math.min(n, 500);
  const steps: [string, (method: string, impl: string) => Promise<void>][] = [
    ['start/shutdown', (method, impl) => startStop(mp, method, impl, size(args, 5, 2))],
    ['warm start', (method, impl) => warmStart(mp, method, impl, size(args, 5, 2))],
    ['proxy ops', (method, impl) => proxyOps(mp, method, impl, n, warm, R)],
    ['TCP ops', (method, impl) => tcpOps(mp, method, impl, n, warm, R)],
  ];
  for (const [what, step] of steps) {
    for (const method of ['thread', 'process']) {
      const impl = `multiproc-${method}`;
      try {
        await step(method, impl);
      } catch (e) {
        log(`# ${impl} ${what}: FAILED: ${(e as Error)?.stack ?? e}`);
        process.exitCode = 1;
      }
    }
  }
  try {
    await tcpPingPong(n, R);
  } catch (e) {
    log(`# node-net TCP ping-pong: FAILED: ${(e as Error)?.stack ?? e}`);
    process.exitCode = 1;
  }
}

await runIfMain(import.meta.url, () => main());
