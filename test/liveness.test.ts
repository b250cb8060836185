// Liveness tokens are never handed to a new thread while a lock word may
// still hold them: when the allocation counter wraps, a live holder's slot is
// skipped, and a dead holder's slot comes back with a new token, so a lock the
// dead holder left is recovered rather than mistaken for the new thread's own.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Event, getContext, Lock, RawValue, RLock, type SharedValue } from 'multiproc';
// The same module instance the package uses ('multiproc' resolves to dist/).
import { livenessSegment, token } from '../dist/shm/liveness.js';
import { assertNoChildrenLeftAfter, methods } from './helpers.ts';

assertNoChildrenLeftAfter();

const SLOTS = 1 << 15;
const slotOf = (t: number) => t & (SLOTS - 1);
/** Makes the next token allocation (in any thread or process of this program) look at `slot` first. */
function wrapCounterTo(slot: number): void {
  Atomics.store(new Int32Array(livenessSegment().sab), 0, slot - 1);
}
/** The token the slot holds now. */
function tokenIn(slot: number): number {
  return Atomics.load(new Int32Array(livenessSegment().sab), 16 + slot * 4 + 3);
}

/** Child: tries the RLock briefly and reports whether it got it. */
async function tryRLock(rlock: RLock, got: SharedValue<number>): Promise<void> {
  got.value = (await rlock.acquire({ timeout: 300 })) ? 1 : 0;
}

/** Child: takes the lock, says so, and holds it until killed. */
function holdForever(lock: Lock, held: Event): void {
  lock.acquireSync();
  held.set();
  for (;;);
}

/** Child: takes the lock (recovering it) and reports whether it was told it recovered it. */
async function takeOver(lock: Lock, recovered: SharedValue<number>): Promise<void> {
  const ok = await lock.acquire({ timeout: 20_000 });
  recovered.value = ok ? (lock.recovered ? 2 : 1) : 0;
  if (ok) lock.release();
}

for (const method of methods) {
  const ctx = getContext(method);
  describe(`liveness tokens after the counter wraps [${method}]`, () => {
    it('a new child never gets the token of a live holder: it does not enter an RLock the parent holds', { timeout: 60_000 }, async () => {
      const rlock = new RLock();
      assert.equal(await rlock.acquire(), true);
      wrapCounterTo(slotOf(token())); // the child's allocation lands on this (live) thread's slot
      const got = RawValue('i', -1);
      const p = new ctx.Process({ target: tryRLock, args: [rlock, got] });
      p.start();
      await p.join();
      assert.equal(p.exitCode, 0);
      assert.equal(got.value, 0, 'the child entered an RLock it never took');
      assert.equal(tokenIn(slotOf(token())), token(), 'the parent kept its slot');
      rlock.release();
    });

    it('a dead holder\'s slot is reused with a new token, and its lock is recovered by the new holder', { timeout: 60_000 }, async () => {
      const lock = new Lock();
      const held = new Event();
      const before = new Int32Array(livenessSegment().sab)[0]!;
      const holder = new ctx.Process({ target: holdForever, args: [lock, held] });
      holder.start();
      assert.equal(await held.wait(20_000), true);
      // The holder's token came from the counter's value `before` (this test starts no one else meanwhile).
      const deadSlot = ((before >>> 0) % (SLOTS - 1)) + 1;
      const deadToken = tokenIn(deadSlot);
      assert.ok(deadToken > 0);
      method === 'process' ? holder.kill() : holder.terminate();
      await holder.join();
      wrapCounterTo(deadSlot);
      const recovered = RawValue('i', -1);
      const next = new ctx.Process({ target: takeOver, args: [lock, recovered] });
      next.start();
      await next.join();
      assert.equal(next.exitCode, 0);
      assert.equal(recovered.value, 2, 'the new holder did not recover the dead holder\'s lock');
      assert.notEqual(tokenIn(deadSlot), deadToken, 'the slot was reused with the same token');
      assert.equal(slotOf(tokenIn(deadSlot)), deadSlot);
    });
  });
}
