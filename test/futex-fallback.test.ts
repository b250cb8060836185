// The async-wait backend for kernels without futex_waitv (< 5.16: Ubuntu
// 22.04, RHEL 9, Debian 11), native/futex_fallback.cc, forced on this machine
// with MULTIPROC_FUTEX_FALLBACK=1 (read once per process, so every test runs
// its code in a child that has it in its environment):
//  - existing test files that wait asynchronously, in one process and between
//    'thread' and 'process' children, pass with the fallback forced;
//  - direct tests: many concurrent waits, cancellation, timeouts, a worker
//    terminated with waits pending, an idle program exiting.
// Thread counts come from /proc/self/task: the fallback sleeps one thread per
// pending wait and keeps at most 4 idle ones (kSpares).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixture, passesWithEnv, runScript } from './helpers.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const forced = { MULTIPROC_FUTEX_FALLBACK: '1' };
const SPARES = 4;

// A child's prelude: the built addon as `a` (checked to run the fallback),
// `threads()` (this process's thread count) and `sleep`.
const prelude = `
  const a = (await import('node:module')).createRequire(${JSON.stringify(root + '/')})('node-gyp-build')(${JSON.stringify(root)});
  if (a.futexAsyncMode() !== 'fallback') throw new Error('not the fallback: ' + a.futexAsyncMode());
  const { readdirSync } = await import('node:fs');
  const threads = () => readdirSync('/proc/self/task').length;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const wait = (sab, off, expected, ms) => new Promise((r) => a.futexWaitAsync(sab, off, expected, ms, r));
  // Wakes until a waiter is woken (it may not sleep yet); throws after 10 s.
  const wakeOne = async (sab, off) => {
    const end = Date.now() + 10000;
    while (a.futexWake(sab, off, 1) < 1) {
      if (Date.now() > end) throw new Error('nobody woken on ' + off);
      await sleep(2);
    }
  };
  // Polls until pred() holds; throws with what() after limitMs.
  const until = async (pred, what, limitMs = 10000) => {
    const end = Date.now() + limitMs;
    while (!pred()) {
      if (Date.now() > end) throw new Error('never: ' + what());
      await sleep(10);
    }
  };
`;

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs an ESM script (after `prelude`) in a fresh node with the fallback forced. */
function runForced(script: string, timeoutMs = 30_000): Promise<Result> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', `${prelude}\n${script}`], {
    env: { ...process.env, ...forced },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) =>
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    }),
  );
}

test('the switch reaches the main thread, thread children and process children', { timeout: 60_000 }, async () => {
  const r = await runScript(fixture('futex-mode.ts'), [], { env: forced, timeoutMs: 50_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { main: 'fallback', thread: 'fallback', process: 'fallback' });
});

// Each test file runs in a child of `node --test` that inherits the switch;
// native.test.ts also asserts the mode, so these cannot pass on futex_waitv.
test('native, sync and sync-children tests pass with the fallback forced', { timeout: 170_000 }, async () => {
  await passesWithEnv(['native.test.ts', 'sync.test.ts', 'sync-children.test.ts'], forced, 160_000);
});

test('queue and pool tests pass with the fallback forced', { timeout: 170_000 }, async () => {
  await passesWithEnv(['queues.test.ts', 'pool.test.ts'], forced, 160_000);
});

test('three hundred concurrent waits: one thread each, every result right, the threads then go', { timeout: 40_000 }, async () => {
  const r = await runForced(`
    const base = threads();
    const sab = new SharedArrayBuffer(4 * 300);
    const words = new Int32Array(sab);
    // i % 3 == 0: times out; 1: the word changes, then a wake; 2: a wake only.
    const results = Array.from({ length: 300 }, (_, i) => wait(sab, 4 * i, 0, i % 3 === 0 ? 2000 : -1));
    await until(() => threads() >= base + 300, () => threads() - base + ' threads');
    for (let i = 1; i < 300; i += 3) {
      Atomics.store(words, i, 1);
      a.futexWake(sab, 4 * i, 1);
    }
    for (let i = 2; i < 300; i += 3) await wakeOne(sab, 4 * i);
    const settled = await Promise.all(results);
    settled.forEach((r, i) => {
      const want = i % 3 === 0 ? ['timed-out'] : i % 3 === 1 ? ['ok', 'not-equal'] : ['ok'];
      if (!want.includes(r)) throw new Error(i + ': ' + r);
    });
    await until(() => threads() <= base + ${SPARES}, () => threads() - base + ' threads left');
    console.log('done');
  `);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'done\n');
});

test('cancelled waits say cancelled at once and their sleeping threads are woken and end', { timeout: 40_000 }, async () => {
  const r = await runForced(`
    const base = threads();
    const sab = new SharedArrayBuffer(4 * 200);
    const got = [];
    // Never woken, no timeout: only a cancel ends them. One word each: the
    // interrupt of a cancel wakes every waiter on its word (see the next test).
    const tokens = Array.from({ length: 200 }, (_, i) => a.futexWaitAsync(sab, 4 * i, 0, -1, (r) => got.push(r)));
    await until(() => threads() >= base + 200, () => threads() - base + ' threads');
    await sleep(200); // all asleep by now, in all likelihood (an interrupt can miss a thread not yet asleep)
    for (const t of tokens) if (a.futexWaitAsyncCancel(t) !== true) throw new Error('not pending: ' + t);
    for (const t of tokens) if (a.futexWaitAsyncCancel(t) !== false) throw new Error('cancelled twice: ' + t);
    await until(() => got.length === 200, () => got.length + ' results');
    if (got.some((r) => r !== 'cancelled')) throw new Error(got.join());
    // The interrupts reached the sleepers: well under the 1 s recheck.
    const t0 = Date.now();
    await until(() => threads() <= base + ${SPARES}, () => threads() - base + ' threads left');
    console.log('ended in under a second:', Date.now() - t0 < 1000);
  `);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'ended in under a second: true\n');
});

test('cancelling one of two waits on a word leaves the other one working', { timeout: 30_000 }, async () => {
  const r = await runForced(`
    const sab = new SharedArrayBuffer(8);
    const words = new Int32Array(sab);
    const other = wait(sab, 0, 0, -1);
    let mine;
    const t = a.futexWaitAsync(sab, 0, 0, -1, (r) => (mine = r));
    await sleep(50);
    a.futexWaitAsyncCancel(t);
    await until(() => mine !== undefined, () => 'no result');
    // The cancel's interrupt wakes every waiter on the word, so 'other' may
    // already be settled 'ok' (spuriously: callers re-check); else this does.
    Atomics.store(words, 0, 1);
    a.futexWake(sab, 0, 1);
    console.log(mine, await other);
  `);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'cancelled ok\n');
});

test('timeouts: short ones time out, and one longer than the 1 s recheck is not cut short', { timeout: 30_000 }, async () => {
  const r = await runForced(`
    const sab = new SharedArrayBuffer(8);
    const short = await Promise.all([0, 1, 30, 60].map((ms) => wait(sab, 0, 0, ms)));
    const t0 = performance.now();
    const long = await wait(sab, 4, 0, 1300);
    const took = performance.now() - t0;
    console.log(short.join(), long, took >= 1290 ? 'on time' : 'early: ' + took);
  `);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'timed-out,timed-out,timed-out,timed-out timed-out on time\n');
});

test('a worker terminated with waits pending: no crash, no callback, its threads all end', { timeout: 40_000 }, async () => {
  const r = await runForced(`
    const { Worker } = await import('node:worker_threads');
    const start = (n) => {
      const w = new Worker(\`(async () => {
        const a = (await import('node:module')).createRequire(${JSON.stringify(root + '/')})('node-gyp-build')(${JSON.stringify(root)});
        const { parentPort } = await import('node:worker_threads');
        const sab = new SharedArrayBuffer(4 * 200);
        for (let i = 0; i < \${n}; i++) a.futexWaitAsync(sab, 4 * i, 0, i % 2 ? -1 : 60000, () => { throw new Error('must not run'); });
        parentPort.postMessage(a.futexAsyncMode());
      })();\`, { eval: true });
      return { w, mode: new Promise((r) => w.once('message', r)), exited: new Promise((r) => w.once('exit', r)) };
    };
    // A first worker without waits: its start-up threads settle the baseline.
    const first = start(0);
    await first.mode;
    await first.w.terminate();
    const base = threads();
    const { w, mode, exited } = start(200);
    if ((await mode) !== 'fallback') throw new Error('worker mode ' + (await mode));
    await until(() => threads() >= base + 200, () => threads() - base + ' threads');
    await w.terminate();
    await exited;
    await until(() => threads() <= base, () => threads() - base + ' threads left');
    console.log('done');
  `);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'done\n');
});

test('an idle program exits by itself, idle spare threads and all', { timeout: 30_000 }, async () => {
  const r = await runForced(`
    const sab = new SharedArrayBuffer(4 * 20);
    for (let i = 0; i < 20; i++) {
      const t = a.futexWaitAsync(sab, 4 * i, 0, i % 2 ? 20 : -1, (r) => console.log(r));
      if (i % 2 === 0) a.futexWaitAsyncCancel(t);
    }
  `);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.filter((l) => l === 'cancelled').length, 10);
  assert.equal(lines.filter((l) => l === 'timed-out').length, 10);
});
