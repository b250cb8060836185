// The generic waits of src/shm/wait.ts: what a pool worker relies on to know
// whether its event loop still has multiproc waits to serve (pool/worker.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { asyncWaitsPending, waitAsync, wake } from '../dist/shm/wait.js';

const bounded = { timeout: 30_000 };

/** A waitable word (and its sleepers counter) in shared memory. */
const word = (): Int32Array => new Int32Array(new SharedArrayBuffer(8));

test('a thread counts its pending async waits until each is woken, times out or is aborted', bounded, async () => {
  assert.equal(asyncWaitsPending(), false);
  const [woken, timing, aborting] = [word(), word(), word()];
  const ac = new AbortController();
  const waits = [waitAsync(woken, 0, 0), waitAsync(timing, 0, 0, 20), waitAsync(aborting, 0, 0, undefined, ac.signal).catch((e: unknown) => e)];
  assert.equal(asyncWaitsPending(), true);

  Atomics.store(woken, 0, 1);
  wake(woken, 0);
  assert.equal(await waits[0], true);
  assert.equal(await waits[1], false, 'the timed wait was not reported as timed out');
  assert.equal(asyncWaitsPending(), true, 'the aborting wait still pends');
  ac.abort(new Error('stop'));
  assert.equal(((await waits[2]) as Error).message, 'stop');
  assert.equal(asyncWaitsPending(), false);
});

test('a wait that finds its word already changed is not counted as pending', bounded, async () => {
  const w = word();
  Atomics.store(w, 0, 5);
  const p = waitAsync(w, 0, 0);
  assert.equal(asyncWaitsPending(), false);
  assert.equal(await p, true);
});

test('a wait the addon refuses rejects and leaves nothing counted, with or without a signal', bounded, async (t) => {
  // Memory the addon cannot wait on (not shared): it throws, as it would when
  // out of threads or file descriptors.
  const { native } = await import('../dist/native.js');
  if (!native()) return t.skip('without the addon, waits are Atomics.waitAsync');
  for (const signal of [undefined, new AbortController().signal]) {
    const plain = new Int32Array(new ArrayBuffer(8));
    await assert.rejects(waitAsync(plain, 0, 0, 1000, signal), TypeError);
    assert.equal(plain[1], 0, 'the sleepers count was left raised');
    assert.equal(asyncWaitsPending(), false);
  }
  // And waits work on afterwards.
  const w = word();
  const p = waitAsync(w, 0, 0);
  Atomics.store(w, 0, 1);
  wake(w, 0);
  assert.equal(await p, true);
});
