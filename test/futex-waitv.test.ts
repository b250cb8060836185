// The futex_waitv(2) backend of async waits (native/futex_async.cc): what
// kernels from 5.16 to 6.16 run, and where io_uring is disabled or filtered.
// From 6.17 the addon picks io_uring instead (native/futex_uring.cc says why
// not from 6.7, where the op appeared); MULTIPROC_FUTEX_URING=0 (read once
// per process) turns that off, so each test here runs its code in a
// child that has it in its environment. (test/native.test.ts covers waitv's
// own cases — many waits over several threads, cancellation, timeouts,
// workers ending with waits pending — and asserts the mode it runs under.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { fixture, passesWithEnv, runScript } from './helpers.ts';

const off = { MULTIPROC_FUTEX_URING: '0' };
const [major, minor] = os.release().split('.').map(Number);
const expected = major > 5 || (major === 5 && minor >= 16) ? 'waitv' : 'fallback';

test('MULTIPROC_FUTEX_URING=0 reaches the main thread, thread children and process children', { timeout: 60_000 }, async () => {
  const r = await runScript(fixture('futex-mode.ts'), [], { env: off, timeoutMs: 50_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { main: expected, thread: expected, process: expected });
});

test('native and pipe tests pass on futex_waitv', { timeout: 170_000 }, async () => {
  await passesWithEnv(['native.test.ts', 'pipes.test.ts'], off, 160_000);
});
