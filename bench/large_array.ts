/**
 * large_array: moving 64 MiB to a child
 * (mirrors ../shared/bench/python/large_array.py).
 *
 * Payloads: a 64 MiB Uint8Array ('bytes') and a Float64Array of 8 Mi doubles
 * ('array_d', also 64 MiB). A long-lived child (one per context) waits for
 * commands on a control Pipe, looping with the Sync API, so process start is
 * not timed. For multiproc's 'thread' and 'process' contexts:
 *   * Queue: parent `await q.put(obj)` -> child q.getSync() -> ack on the
 *     control pipe. Timed from before put() to the ack (encode + ring + decode).
 *     `sync_` rows: the parent uses q.putSync() and ctl.recvSync().
 *     Goal: 64 MiB through a Queue <= 30 ms.
 *   * Pipe: `await w.sendBytes(bytes)` / child recvBytesSync() (Python's
 *     reference); also the Float64Array sent with sendBytes (child views the
 *     received bytes as a Float64Array): pipe_send_bytes_array_d_*, paired with
 *     Python's bytes figure.
 *   * SharedMemory: parent `new SharedMemory({ create: true, size })` -> copy
 *     the payload into shm.buf -> send the name -> child attaches with
 *     `new SharedMemory({ name })` and copies out (buf.slice() / a new
 *     Float64Array) -> ack. Reported: create_ms, copy_in_ms, child attach_ms
 *     and read_ms, handoff_e2e (create .. ack) and close+unlink. A fresh
 *     segment per repetition (first-touch page faults included, as Python).
 *   * SharedMemory zero-copy peek: the child attaches and reads 2 doubles
 *     through a Float64Array view.
 * One tiny segment is created and unlinked first, so that the tracker helper
 * is running before anything is timed (Python: resource_tracker.ensure_running()).
 * Repetitions: quick 2, normal 5 (median); --reps N.
 */
import {
  type Args, type Compare, deadline, emitMedian, loadMultiproc, log, median, nowNs, parseArgs, reps, runIfMain, noWarmSpares } from './_common.js';

const BENCH = 'large_array';
const NBYTES = 64 * 1024 * 1024;
const SHM_PARTS = ['create_ms', 'copy_in_ms', 'child_attach_ms', 'child_read_ms', 'handoff_e2e_ms', 'close_unlink_ms'];
const SHM_KINDS = [['bytes', 'bytes'], ['array_d', 'array'], ['zero_copy_peek', 'peek']] as const;
const RATE_KEYS = ['queue_bytes_64MiB_ms', 'queue_array_d_64MiB_ms', 'pipe_send_bytes_64MiB_ms',
  'shm_bytes_handoff_e2e_ms', 'shm_array_d_handoff_e2e_ms'];

/** Our metric -> Python's. */
export const compare: Compare = {};
for (const k of ['queue_bytes_64MiB', 'queue_array_d_64MiB']) {
  for (const u of ['_ms', '_MB_per_s']) {
    compare[k + u] = [k + u];
    compare[`sync_${k}${u}`] = [k + u];
  }
}
for (const u of ['_ms', '_MB_per_s']) {
  compare[`pipe_send_bytes_64MiB${u}`] = [`pipe_send_bytes_64MiB${u}`];
  compare[`pipe_send_bytes_array_d_64MiB${u}`] = [`pipe_send_bytes_64MiB${u}`];
}
for (const [label] of SHM_KINDS) for (const part of SHM_PARTS) compare[`shm_${label}_${part}`] = [`shm_${label}_${part}`];
for (const k of RATE_KEYS.filter((k) => k.startsWith('shm'))) compare[k.slice(0, -3) + '_MB_per_s'] = [k.slice(0, -3) + '_MB_per_s'];

// ---- child (shipped by source text: no outer variables) ------------------------

async function server(ctl: any, q: any, dataR: any): Promise<void> {
  const { SharedMemory } = await import('multiproc');
  for (;;) {
    const cmd = ctl.recvSync();
    if (cmd === null) break;
    const op = cmd[0];
    if (op === 'queue') {
      const obj = q.getSync();
      ctl.sendSync(['ok', obj.byteLength]);
    } else if (op === 'pipe') {
      const b = dataR.recvBytesSync();
      ctl.sendSync(['ok', b.length]);
    } else if (op === 'pipe_array') {
      const b = dataR.recvBytesSync();
      const arr = b.byteOffset % 8 === 0
        ? new Float64Array(b.buffer, b.byteOffset, b.length / 8)
        : new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
      ctl.sendSync(['ok', arr.length * 8]);
    } else if (op === 'shm') {
      const [, name, nbytes, kind] = cmd;
      const t0 = process.hrtime.bigint();
      const shm = new SharedMemory({ name });
      const t1 = process.hrtime.bigint();
      let n: number;
      if (kind === 'bytes') {
        n = shm.buf.slice(0, nbytes).length;
      } else if (kind === 'array') {
        const out = new Float64Array(nbytes / 8);
        out.set(new Float64Array(shm.buf.buffer, shm.buf.byteOffset, nbytes / 8));
        n = out.length * 8;
      } else {
        const view = new Float64Array(shm.buf.buffer, shm.buf.byteOffset, Math.floor(shm.buf.byteLength / 8));
        const out = [view[0], view[view.length - 1]];
        n = out.length ? nbytes : 0;
      }
      const t2 = process.hrtime.bigint();
      shm.close();
      ctl.sendSync(['ok', n, Number(t1 - t0) / 1e9, Number(t2 - t1) / 1e9]);
    }
  }
}

// ---- parent --------------------------------------------------------------------

async function measure(mp: any, ctx: any, R: number, payloadBytes: Uint8Array, payloadArr: Float64Array): Promise<Record<string, number[]>> {
  const [ctl, ctlChild] = ctx.Pipe();
  const q = new mp.Queue();
  const [dataR, dataW] = ctx.Pipe(false);
  const child = new ctx.Process({ target: server, args: [ctlChild, q, dataR] });
  child.start();
  // Only the child holds these ends now: if it dies, ctl.recv() fails with EOFError instead of waiting.
  ctlChild.close();
  dataR.close();
  const res: Record<string, number[]> = {};
  const add = (k: string, v: number) => (res[k] ??= []).push(v);
  const ms = (a: bigint, b: bigint) => Number(b - a) / 1e6;
  const WATCHDOG_MS = 30_000;
  const reply = (what: string): Promise<any> => deadline(ctl.recv(), WATCHDOG_MS, `${what}: the child`, () => child.kill());
  const check = (n: number) => {
    if (n !== NBYTES) throw new Error(`child got ${n} bytes, expected ${NBYTES}`);
  };
  for (let r = 0; r < R; r++) {
    for (const [label, obj] of [['bytes', payloadBytes], ['array_d', payloadArr]] as const) {
      await ctl.send(['queue']);
      let t0 = nowNs();
      await q.put(obj);
      let [, n] = await reply(`queue ${label}`);
      add(`queue_${label}_64MiB_ms`, ms(t0, nowNs()));
      check(n);

      await ctl.send(['queue']);
      t0 = nowNs();
      q.putSync(obj);
      if (!ctl.pollSync(WATCHDOG_MS)) {
        child.kill();
        throw new Error(`sync queue ${label}: no answer from the child within ${WATCHDOG_MS / 1000} s`);
      }
      [, n] = ctl.recvSync();
      add(`sync_queue_${label}_64MiB_ms`, ms(t0, nowNs()));
      check(n);
    }
    for (const [label, obj, op] of [['', payloadBytes, 'pipe'], ['array_d_', payloadArr, 'pipe_array']] as const) {
      await ctl.send([op]);
      const t0 = nowNs();
      await dataW.sendBytes(obj);
      const [, n] = await reply(`pipe ${label}`);
      add(`pipe_send_bytes_${label}64MiB_ms`, ms(t0, nowNs()));
      check(n);
    }
    for (const [label, kind] of SHM_KINDS) {
      const src = kind === 'array' ? new Uint8Array(payloadArr.buffer) : payloadBytes;
      const t0 = nowNs();
      const shm = new mp.SharedMemory({ create: true, size: NBYTES });
      const t1 = nowNs();
      shm.buf.set(src);
      const t2 = nowNs();
      await ctl.send(['shm', shm.name, NBYTES, kind]);
      const [, n, attachS, readS] = await reply(`shm ${label}`);
      const t3 = nowNs();
      shm.close();
      shm.unlink();
      const t4 = nowNs();
      check(n);
      add(`shm_${label}_create_ms`, ms(t0, t1));
      add(`shm_${label}_copy_in_ms`, ms(t1, t2));
      add(`shm_${label}_child_attach_ms`, attachS * 1e3);
      add(`shm_${label}_child_read_ms`, readS * 1e3);
      add(`shm_${label}_handoff_e2e_ms`, ms(t0, t3));
      add(`shm_${label}_close_unlink_ms`, ms(t3, t4));
    }
  }
  await ctl.send(null);
  await child.join();
  if (child.exitCode !== 0) throw new Error(`server child exited with exitCode ${child.exitCode}`);
  q.close();
  await q.joinThread();
  return res;
}

export async function main(args: Args = parseArgs()): Promise<void> {
  noWarmSpares();
  const mp = await loadMultiproc();
  if (!mp) return;
  if (typeof mp.parentProcess === 'function' && mp.parentProcess() !== null) return;
  const R = reps(args, 5, 2);
  const payloadBytes = new Uint8Array(NBYTES);
  for (let i = 0; i < NBYTES; i++) payloadBytes[i] = i & 255;
  const payloadArr = new Float64Array(NBYTES / 8).fill(1.25);
  // Start the shared-memory tracker helper before anything is timed.
  const warm = new mp.SharedMemory({ create: true, size: 4096 });
  warm.close();
  warm.unlink();
  for (const method of ['thread', 'process']) {
    const impl = `multiproc-${method}`;
    try {
      const res = await measure(mp, mp.getContext(method), R, payloadBytes, payloadArr);
      for (const [k, v] of Object.entries(res)) emitMedian(BENCH, k, impl, v, 'ms', { nbytes: NBYTES });
      for (const k of [...RATE_KEYS, 'sync_queue_bytes_64MiB_ms', 'sync_queue_array_d_64MiB_ms', 'pipe_send_bytes_array_d_64MiB_ms']) {
        if (res[k]) emitMedian(BENCH, k.slice(0, -3) + '_MB_per_s', impl, res[k].map((x) => NBYTES / (x / 1e3) / 1e6), 'MB/s', { nbytes: NBYTES });
      }
      log(`${impl}: ` + Object.entries(res).map(([k, v]) => `${k} ${median(v).toFixed(2)}`).join(', '));
    } catch (e) {
      log(`# ${impl}: FAILED: ${(e as Error)?.stack ?? e}`);
      process.exitCode = 1;
    }
  }
}

await runIfMain(import.meta.url, () => main());
