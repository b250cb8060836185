// Synchronization primitives shared between children: thread children,
// process children, and both at once ('mixed': odd-numbered children are
// processes, even-numbered ones threads).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  Barrier, BoundedSemaphore, Condition, Empty, Event, Lock, Queue, RLock, Semaphore, SharedMemory, getContext, type StartMethod,
} from 'multiproc';
import { assertNoChildrenLeftAfter, fixture, methods, runScript } from './helpers.ts';

assertNoChildrenLeftAfter();

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

    it('a Lock held by the parent: a child fails to try or time out on it, and may release it (any process may)', async () => {
      const lock = new Lock();
      await lock.acquire();
      const out = new Queue<unknown>();
      const p = new (ctx(1).Process)({
        target: async (lock: Lock, out: Queue<unknown>) => {
          const tried = lock.acquireSync({ block: false });
          const timed = await lock.acquire({ timeout: 50 });
          lock.release();
          await out.put([tried, timed]);
        },
        args: [lock, out],
      });
      p.start();
      assert.deepEqual(await out.get(), [false, false]);
      await p.join();
      assert.equal(lock.acquireSync({ block: false }), true);
      assert.equal(lock.recovered, false);
      lock.release();
    });

    it('an RLock held twice by a child stays held until the child released both levels', async () => {
      const r = new RLock();
      const once = new Event();
      const check = new Event();
      const p = new (ctx(1).Process)({
        target: async (r: RLock, once: Event, check: Event) => {
          await r.acquire();
          r.acquireSync();
          r.release();
          once.set();
          await check.wait();
          r.release();
        },
        args: [r, once, check],
      });
      p.start();
      assert.equal(await once.wait(20_000), true);
      assert.equal(await r.acquire({ timeout: 50 }), false);
      check.set();
      assert.equal(await r.acquire({ timeout: 20_000 }), true);
      assert.equal(r.recovered, false);
      r.release();
      await p.join();
    });

    it('a Semaphore(2) admits at most two children at once; a BoundedSemaphore over-released in a child is a RangeError', async () => {
      const sem = new Semaphore(2);
      const bounded = new BoundedSemaphore(1);
      const shm = new SharedMemory({ create: true, size: 8 }); // [inside now, most inside at once]
      const out = new Queue<string>();
      const kids = [0, 1, 2, 3].map((i) =>
        new (ctx(i).Process)({
          target: async (sem: Semaphore, bounded: BoundedSemaphore, shm: SharedMemory, out: Queue<string>) => {
            const w = new Int32Array(shm.buf.buffer, shm.buf.byteOffset, 2);
            for (let i = 0; i < 100; i++) {
              sem.acquireSync();
              const inside = Atomics.add(w, 0, 1) + 1;
              for (let m = Atomics.load(w, 1); inside > m && Atomics.compareExchange(w, 1, m, inside) !== m; m = Atomics.load(w, 1));
              for (let j = 0; j < 2000; j++);
              Atomics.sub(w, 0, 1);
              sem.release();
            }
            try {
              bounded.release();
              await out.put('released?!');
            } catch (err) {
              await out.put((err as Error).name);
            }
          },
          args: [sem, bounded, shm, out],
        }),
      );
      for (const k of kids) k.start();
      for (const k of kids) await k.join();
      assert.deepEqual(kids.map((k) => k.exitCode), [0, 0, 0, 0]);
      const w = new Int32Array(shm.buf.buffer, shm.buf.byteOffset, 2);
      assert.ok(w[1] >= 1 && w[1] <= 2, `at most 2 inside at once, saw ${w[1]}`);
      assert.equal(sem.getValue(), 2);
      assert.deepEqual([await out.get(), await out.get(), await out.get(), await out.get()], Array(4).fill('RangeError'));
      shm.close();
      shm.unlink();
    });

    it('Condition.notify(1) wakes exactly one of two waiting children; notifyAll wakes the other', async () => {
      const cond = new Condition();
      const out = new Queue<number>();
      const ready = [new Event(), new Event()];
      const kids = [0, 1].map((i) =>
        new (ctx(i).Process)({
          target: async (cond: Condition, ready: Event, out: Queue<number>, i: number) => {
            await cond.acquire();
            ready.set(); // still holding the lock: once the parent has it, this child is inside wait()
            const notified = await cond.wait(30_000);
            cond.release();
            if (notified) await out.put(i);
          },
          args: [cond, ready[i], out, i],
        }),
      );
      for (const k of kids) k.start();
      for (const e of ready) assert.equal(await e.wait(20_000), true);
      await cond.withLock(() => cond.notify());
      const first = await out.get({ timeout: 20_000 });
      await assert.rejects(out.get({ timeout: 300 }), Empty); // nobody else woke
      await cond.withLock(() => cond.notifyAll());
      const second = await out.get({ timeout: 20_000 });
      assert.deepEqual([first, second].sort(), [0, 1]);
      for (const k of kids) await k.join();
    });

    it('a notify is never taken by the notifier\'s own wait that follows it (CPython test_waitfor, 15 rounds)', { timeout: 120_000 }, async () => {
      for (let round = 0; round < 15; round++) {
        const cond = new Condition();
        const shm = new SharedMemory({ create: true, size: 4 });
        const word = new Int32Array(shm.buf.buffer, shm.buf.byteOffset, 1);
        word[0] = -1;
        const p = new (ctx(round).Process)({
          target: async (cond: Condition, shm: SharedMemory) => {
            const word = new Int32Array(shm.buf.buffer, shm.buf.byteOffset, 1);
            await cond.acquire();
            word[0] = 0;
            cond.notify();
            const ok = await cond.waitFor(() => word[0] === 4, 30_000);
            cond.release();
            if (!ok || word[0] !== 4) process.exit(1);
          },
          args: [cond, shm],
        });
        p.start();
        await cond.acquire();
        assert.equal(await cond.waitFor(() => word[0] === 0, 20_000), true, `round ${round}: the child's notify was lost`);
        cond.release();
        for (let i = 0; i < 4; i++) {
          await new Promise((r) => setTimeout(r, 5));
          await cond.withLock(() => {
            word[0]++;
            cond.notify();
          });
        }
        await p.join();
        assert.equal(p.exitCode, 0, `round ${round}`);
        shm.close();
        shm.unlink();
      }
    });

    it("a Barrier's action runs exactly once, in the last party to arrive, whichever child it is", async () => {
      const g = globalThis as { __barrierActions?: number };
      g.__barrierActions = 0;
      const barrier = new Barrier(3, {
        action: () => {
          const h = globalThis as { __barrierActions?: number };
          h.__barrierActions = (h.__barrierActions ?? 0) + 1;
        },
      });
      const out = new Queue<[number, number]>();
      const kids = [0, 1].map((i) =>
        new (ctx(i).Process)({
          target: async (barrier: Barrier, out: Queue<[number, number]>) => {
            const index = await barrier.wait(20_000);
            await out.put([index, (globalThis as { __barrierActions?: number }).__barrierActions ?? 0]);
          },
          args: [barrier, out],
        }),
      );
      for (const k of kids) k.start();
      const mine: [number, number] = [await barrier.wait(20_000), g.__barrierActions];
      const all = [mine, await out.get(), await out.get()].sort((a, b) => a[0] - b[0]);
      assert.deepEqual(all, [[0, 0], [1, 0], [2, 1]]);
      for (const k of kids) await k.join();
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
