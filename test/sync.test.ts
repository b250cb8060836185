import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  Barrier, BoundedSemaphore, BrokenBarrierError, Condition, Event, Lock, ProcessError, Queue, RLock, Semaphore, SharedMemory,
  getContext, type StartMethod,
} from 'multiproc';
import { assertNoChildrenLeftAfter, fixture, methods, runScript } from './helpers.ts';

assertNoChildrenLeftAfter();

describe('Lock in one process', () => {
  it('acquire, block:false, timeout, release', async () => {
    const l = new Lock();
    assert.equal(await l.acquire(), true);
    assert.equal(l.acquireSync({ block: false }), false);
    assert.equal(await l.acquire({ timeout: 20 }), false);
    assert.equal(await l.acquire(10), false); // a bare number is a timeout
    l.release();
    assert.equal(l.acquireSync(), true);
    l.release();
  });

  it('releasing an unlocked lock is a RangeError, and the lock still works', () => {
    const l = new Lock();
    assert.throws(() => l.release(), RangeError);
    assert.equal(l.acquireSync(), true);
    l.release();
  });

  it('withLock releases on throw; lockSync is a scoped guard', async () => {
    const l = new Lock();
    await assert.rejects(l.withLock(() => { throw new Error('inside'); }), /inside/);
    assert.equal(await l.withLock(() => 7), 7);
    {
      using _ = l.lockSync();
      assert.equal(l.acquireSync({ block: false }), false);
    }
    assert.equal(l.acquireSync({ block: false }), true);
    l.release();
  });

  it('an aborted signal rejects with its reason and the lock is still usable', async () => {
    const l = new Lock();
    await l.acquire();
    const ac = new AbortController();
    const waiting = l.acquire({ signal: ac.signal });
    ac.abort(new Error('gave up'));
    await assert.rejects(waiting, /gave up/);
    await assert.rejects(l.acquire({ signal: AbortSignal.abort(new Error('before')) }), /before/);
    l.release();
    assert.equal(await l.acquire({ timeout: 1000 }), true);
    l.release();
  });

  it('a bad timeout is a TypeError', async () => {
    const l = new Lock();
    assert.throws(() => l.acquireSync({ timeout: 'x' as never }), TypeError);
    assert.throws(() => l.acquire({ timeout: 'x' as never }), TypeError);
  });
});

describe('RLock, Semaphore, Event, Condition in one process', () => {
  it('an RLock is re-entrant and free after as many releases', async () => {
    const r = new RLock();
    assert.equal(await r.acquire(), true);
    assert.equal(r.acquireSync(), true);
    r.release();
    assert.equal(r.isMine(), true);
    r.release();
    assert.equal(r.isMine(), false);
    assert.throws(() => r.release(), ProcessError);
  });

  it('a Semaphore counts; a BoundedSemaphore refuses to go above its initial value', async () => {
    const s = new Semaphore(2);
    assert.equal(s.getValue(), 2);
    assert.equal(await s.acquire(), true);
    assert.equal(s.acquireSync(), true);
    assert.equal(s.acquireSync({ block: false }), false);
    assert.equal(await s.acquire({ timeout: 10 }), false);
    s.release();
    s.release();
    s.release(); // an unbounded semaphore may grow
    assert.equal(s.getValue(), 3);
    const b = new BoundedSemaphore(1);
    await b.acquire();
    b.release();
    assert.throws(() => b.release(), RangeError);
    assert.equal(b.getValue(), 1);
    assert.throws(() => new Semaphore(-1), RangeError);
  });

  it('Event.wait is true once set, false on timeout', async () => {
    const e = new Event();
    assert.equal(e.isSet(), false);
    assert.equal(await e.wait(10), false);
    assert.equal(e.waitSync(10), false);
    setTimeout(() => e.set(), 10);
    assert.equal(await e.wait(5000), true);
    assert.equal(e.waitSync(), true);
    e.clear();
    assert.equal(e.isSet(), false);
  });

  it('Condition: wait and notify need the lock; waitFor returns the predicate; timeouts return false', async () => {
    const c = new Condition();
    await assert.rejects(c.wait(10), ProcessError);
    assert.throws(() => c.notify(), ProcessError);
    await c.acquire();
    assert.equal(await c.wait(10), false);
    assert.equal(c.waitForSync(() => 0, 10), 0);
    let ready = false;
    setTimeout(() => void c.withLock(() => { ready = true; c.notifyAll(); }), 10);
    assert.equal(await c.waitFor(() => ready, 5000), true);
    c.release();
  });

  it('Condition.notify(1) wakes exactly one of two waiters; notifyAll wakes the rest', async () => {
    const c = new Condition(new Lock());
    const woken: number[] = [];
    const waiter = (i: number) => c.withLock(async () => { if (await c.wait(5000)) woken.push(i); });
    const all = [waiter(1), waiter(2)];
    await new Promise((r) => setTimeout(r, 50));
    await c.withLock(() => c.notify());
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(woken.length, 1);
    await c.withLock(() => c.notifyAll());
    await Promise.all(all);
    assert.deepEqual(woken.sort(), [1, 2]);
  });

  it('a Barrier releases all parties with distinct indexes and runs the action once', async () => {
    let actions = 0;
    const b = new Barrier(3, { action: () => actions++ });
    assert.equal(b.parties, 3);
    const indexes = await Promise.all([b.wait(), b.wait(), b.wait()]);
    assert.deepEqual(indexes.sort(), [0, 1, 2]);
    assert.equal(actions, 1);
    assert.equal(b.nWaiting, 0);
  });

  it('a Barrier breaks on timeout, on abort, and on an action that throws; reset() repairs it', async () => {
    const b = new Barrier(2);
    await assert.rejects(b.wait(20), BrokenBarrierError);
    assert.equal(b.broken, true);
    await assert.rejects(b.wait(), BrokenBarrierError);
    b.reset();
    assert.equal(b.broken, false);
    const waiting = b.wait();
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(b.nWaiting, 1);
    b.abort();
    await assert.rejects(waiting, BrokenBarrierError);
    b.reset();
    const failing = new Barrier(1, { action: () => { throw new Error('action failed'); } });
    await assert.rejects(failing.wait(), /action failed/);
    assert.equal(failing.broken, true);
  });
});

/** Children increment a non-atomic counter in shared memory under the lock. */
function incrementUnderLock(lock: Lock, shm: SharedMemory, n: number): void {
  const counter = new Int32Array(shm.buf.buffer, shm.buf.byteOffset, 1);
  for (let i = 0; i < n; i++) {
    lock.acquireSync();
    const v = counter[0];
    for (let j = 0; j < 50; j++); // widen the race window
    counter[0] = v + 1;
    lock.release();
  }
}

for (const method of [...methods, 'mixed'] as const) {
  const ctx = (i: number) => getContext(method === 'mixed' ? ((i % 2 ? 'process' : 'thread') as StartMethod) : method);
  describe(`synchronization between children [${method}]`, () => {
    it('a Lock gives mutual exclusion: 4 children × 2000 increments are exact', async () => {
      const lock = new Lock();
      const shm = new SharedMemory({ create: true, size: 8 });
      const kids = [0, 1, 2, 3].map((i) => new (ctx(i).Process)({ target: incrementUnderLock, args: [lock, shm, 2000] }));
      for (const k of kids) k.start();
      for (const k of kids) await k.join();
      assert.deepEqual(kids.map((k) => k.exitCode), [0, 0, 0, 0]);
      assert.equal(new Int32Array(shm.buf.buffer, shm.buf.byteOffset, 1)[0], 8000);
      shm.close();
      shm.unlink();
    });

    it('an RLock released by a child that does not own it throws ProcessError there', async () => {
      const r = new RLock();
      await r.acquire();
      const out = new Queue<string>();
      const p = new (ctx(1).Process)({
        target: async (r: RLock, out: Queue<string>) => {
          try {
            r.release();
            await out.put('released?!');
          } catch (err) {
            await out.put((err as Error).name);
          }
        },
        args: [r, out],
      });
      p.start();
      assert.equal(await out.get(), 'ProcessError');
      await p.join();
      r.release();
    });

    it('Event, Semaphore, Condition and Barrier work across children', async () => {
      const go = new Event();
      const sem = new Semaphore(0);
      const cond = new Condition();
      const barrier = new Barrier(3);
      const out = new Queue<string>();
      const kids = [0, 1].map((i) =>
        new (ctx(i).Process)({
          target: async (go: Event, sem: Semaphore, cond: Condition, barrier: Barrier, out: Queue<string>, i: number) => {
            await go.wait();
            sem.release();
            await cond.acquire();
            await cond.wait(10_000);
            cond.release();
            const index = await barrier.wait(10_000);
            await out.put(`child ${i} index ${index}`);
          },
          args: [go, sem, cond, barrier, out, i],
        }),
      );
      for (const k of kids) k.start();
      go.set();
      assert.equal(await sem.acquire({ timeout: 10_000 }), true);
      assert.equal(await sem.acquire({ timeout: 10_000 }), true);
      // Both are (or will soon be) waiting on the condition: notify until both reached the barrier.
      while (barrier.nWaiting < 2) {
        await cond.withLock(() => cond.notifyAll());
        await new Promise((r) => setTimeout(r, 20));
      }
      const index = await barrier.wait(10_000);
      const lines = [await out.get(), await out.get()];
      for (const k of kids) await k.join();
      const indexes = [index, ...lines.map((l) => Number(l.split(' ').pop()))];
      assert.deepEqual(indexes.sort(), [0, 1, 2]);
    });

    it('a lock whose holder is killed is recovered by the next acquirer, which is told', async () => {
      for (const how of ['kill', 'terminate'] as const) {
        const lock = new Lock();
        const held = new Event();
        const p = new (ctx(1).Process)({
          target: (lock: Lock, held: Event) => {
            lock.acquireSync();
            held.set();
            for (;;);
          },
          args: [lock, held],
        });
        p.start();
        assert.equal(await held.wait(20_000), true);
        assert.equal(await lock.acquire({ timeout: 50 }), false);
        p[how]();
        await p.join();
        assert.equal(await lock.acquire({ timeout: 10_000 }), true);
        assert.equal(lock.recovered, true);
        lock.release();
        assert.equal(await lock.acquire(), true);
        assert.equal(lock.recovered, false);
        lock.release();
      }
    });

    it('a lock whose holder ended normally without releasing is recovered', async () => {
      const lock = new RLock();
      const p = new (ctx(1).Process)({ target: (lock: RLock) => { lock.acquireSync(); }, args: [lock] });
      p.start();
      await p.join();
      assert.equal(await lock.acquire({ timeout: 10_000 }), true);
      assert.equal(lock.recovered, true);
      lock.release();
    });

    it('a Barrier with a party killed while waiting breaks for the others', async () => {
      const barrier = new Barrier(3);
      const p = new (ctx(1).Process)({ target: (b: Barrier) => b.waitSync(), args: [barrier] });
      p.start();
      while (barrier.nWaiting < 1) await new Promise((r) => setTimeout(r, 10));
      p.kill();
      await p.join();
      await assert.rejects(barrier.wait(10_000), BrokenBarrierError);
      barrier.reset();
      assert.equal(barrier.broken, false);
      assert.equal(barrier.nWaiting, 0);
    });
  });
}

describe('without the native addon', () => {
  it('Lock, Event and Queue work between the main thread and a thread child', async () => {
    const r = await runScript(fixture('sync-no-addon.ts'), [], { env: { MULTIPROC_NO_ADDON: '1' } });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { message: 'child got the lock' });
  });
});
