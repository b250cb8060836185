// (+) Nothing hangs when a child dies: a lock whose holder died is taken over
// by the next acquirer (which is told, through `recovered`), a Condition
// waiter re-takes a lock whose holder died, and a Barrier whose waiting party
// died breaks instead of waiting forever. Semaphores have no owner: units held
// by a dead child stay taken, as in Python.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Barrier, BrokenBarrierError, Condition, Event, Lock, RLock, Semaphore, getContext, type StartMethod } from 'multiproc';
import { assertNoChildrenLeftAfter, methods } from './helpers.ts';

assertNoChildrenLeftAfter();

/** A child target that takes `lock`, says so, and spins forever holding it. */
function holdForever(lock: Lock, held: Event): void {
  lock.acquireSync();
  held.set();
  for (;;);
}

for (const method of [...methods, 'mixed'] as const) {
  // 'mixed': the holder is a process child while the test also uses thread children elsewhere in the file.
  const ctx = (i: number) => getContext(method === 'mixed' ? ((i % 2 ? 'process' : 'thread') as StartMethod) : method);
  describe(`recovery from dead children [${method}]`, () => {
    it('a lock whose holder is killed or terminated is recovered by the next acquirer, which is told', async () => {
      for (const how of ['kill', 'terminate'] as const) {
        const lock = new Lock();
        const held = new Event();
        const p = new (ctx(1).Process)({ target: holdForever, args: [lock, held] });
        p.start();
        assert.equal(await held.wait(20_000), true);
        assert.equal(await lock.acquire({ timeout: 50 }), false);
        assert.equal(lock.recovered, false);
        p[how]();
        await p.join();
        assert.equal(await lock.acquire({ timeout: 10_000 }), true);
        assert.equal(lock.recovered, true);
        lock.release();
        assert.equal(await lock.acquire(), true);
        assert.equal(lock.recovered, false); // only the acquire that took it over is told
        lock.release();
      }
    });

    it('a blocking acquireSync recovers a killed holder\'s lock without the event loop turning', { timeout: 60_000 }, async () => {
      const lock = new Lock();
      const held = new Event();
      const p = new (ctx(1).Process)({ target: holdForever, args: [lock, held] });
      p.start();
      assert.equal(await held.wait(20_000), true);
      p.kill(); // a process child stays a zombie until this event loop reaps it: it must count as dead
      const started = Date.now();
      assert.equal(lock.acquireSync({ timeout: 20_000 }), true);
      assert.equal(lock.recovered, true);
      assert.ok(Date.now() - started < 15_000, 'recovery waited for the timeout');
      lock.release();
      await p.join();
    });

    it('an acquirer already waiting when the holder dies takes the lock over', async () => {
      const lock = new Lock();
      const held = new Event();
      const p = new (ctx(0).Process)({ target: holdForever, args: [lock, held] });
      p.start();
      assert.equal(await held.wait(20_000), true);
      const waiting = lock.acquire({ timeout: 20_000 });
      await new Promise((r) => setTimeout(r, 50));
      p.kill();
      assert.equal(await waiting, true);
      assert.equal(lock.recovered, true);
      lock.release();
      await p.join();
    });

    it('an RLock whose owner ended normally without releasing is recovered at depth 1', async () => {
      const lock = new RLock();
      const p = new (ctx(1).Process)({ target: (lock: RLock) => { lock.acquireSync(); lock.acquireSync(); }, args: [lock] });
      p.start();
      await p.join();
      assert.equal(p.exitCode, 0);
      assert.equal(await lock.acquire({ timeout: 10_000 }), true);
      assert.equal(lock.recovered, true);
      lock.release();
      assert.equal(lock.isMine(), false); // one release frees it: the dead owner's depth is gone
    });

    it("a Condition waiter re-takes the lock when the notifier died holding it", async () => {
      const cond = new Condition();
      const notified = new Event();
      await cond.acquire();
      const p = new (ctx(1).Process)({
        target: (cond: Condition, notified: Event) => {
          cond.acquireSync();
          cond.notify();
          notified.set();
          for (;;); // dies holding the condition's lock
        },
        args: [cond, notified],
      });
      p.start();
      const waiting = cond.wait(20_000);
      assert.equal(await notified.wait(20_000), true);
      p.kill();
      assert.equal(await waiting, true);
      assert.equal(cond._lock.recovered, true);
      cond.release();
      await p.join();
    });

    it('notify() skips a waiter that died inside wait() and wakes a live one', { timeout: 60_000 }, async () => {
      const cond = new Condition();
      const waiting = new Event();
      const p = new (ctx(1).Process)({
        target: async (cond: Condition, waiting: Event) => {
          await cond.acquire();
          waiting.set(); // still holding the lock: once the parent has it, this child is inside wait()
          await cond.wait();
        },
        args: [cond, waiting],
      });
      p.start();
      assert.equal(await waiting.wait(20_000), true);
      await cond.acquire();
      const live = cond.wait(20_000); // arrives after the child: the child is first in line
      p[method === 'process' ? 'kill' : 'terminate']();
      await p.join();
      await cond.withLock(() => cond.notify());
      assert.equal(await live, true);
      cond.release();
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

    it('a Barrier party already waiting when another party dies gets BrokenBarrierError', async () => {
      const barrier = new Barrier(3);
      const p = new (ctx(0).Process)({ target: (b: Barrier) => b.waitSync(), args: [barrier] });
      p.start();
      while (barrier.nWaiting < 1) await new Promise((r) => setTimeout(r, 10));
      const waiting = barrier.wait(20_000);
      await new Promise((r) => setTimeout(r, 50));
      p.terminate();
      await assert.rejects(waiting, BrokenBarrierError);
      await p.join();
    });

    it('units of a Semaphore held by a dead child are not given back (no owner, as Python)', async () => {
      const sem = new Semaphore(1);
      const held = new Event();
      const p = new (ctx(1).Process)({ target: (s: Semaphore, held: Event) => { s.acquireSync(); held.set(); }, args: [sem, held] });
      p.start();
      await p.join();
      assert.equal(held.isSet(), true);
      assert.equal(sem.getValue(), 0);
      assert.equal(await sem.acquire({ timeout: 150 }), false);
    });
  });
}

// Only a process can be stopped between being signalled and taking the signal.
describe('recovery from dead children [process, stopped in the window]', () => {
  it('a signal given to a waiter that dies before taking it wakes a live waiter instead', { timeout: 60_000 }, async () => {
    const cond = new Condition();
    const waiting = new Event();
    const p = new (getContext('process').Process)({
      target: (cond: Condition, waiting: Event) => {
        cond.acquireSync();
        waiting.set();
        cond.waitSync();
      },
      args: [cond, waiting],
    });
    p.start();
    assert.equal(await waiting.wait(20_000), true);
    await cond.acquire();
    const live = cond.wait(20_000);
    process.kill(p.pid!, 'SIGSTOP'); // it cannot take the signal notify() gives it (it is first in line)
    await cond.withLock(() => cond.notify());
    p.kill();
    await p.join();
    assert.equal(await live, true);
    cond.release();
  });
});
