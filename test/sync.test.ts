import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Barrier, BoundedSemaphore, BrokenBarrierError, Condition, Event, Lock, ProcessError, RLock, Semaphore, TimeoutError } from 'multiproc';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

  it('a bad timeout is a TypeError: thrown by the Sync forms, a rejection of the async ones', async () => {
    const bad = { timeout: 'x' as never };
    const l = new Lock();
    const r = new RLock();
    const s = new Semaphore();
    const e = new Event();
    const c = new Condition();
    const b = new Barrier(2);
    assert.throws(() => l.acquireSync(bad), TypeError);
    assert.throws(() => s.acquireSync(bad), TypeError);
    assert.throws(() => e.waitSync(bad), TypeError);
    assert.throws(() => b.waitSync(bad), TypeError);
    await assert.rejects(l.acquire(bad), TypeError);
    await assert.rejects(s.acquire(bad), TypeError);
    await assert.rejects(e.wait(bad), TypeError);
    await assert.rejects(b.wait(bad), TypeError);
    await r.acquire();
    await assert.rejects(r.acquire(bad), TypeError); // also when re-entering
    await c.acquire();
    await assert.rejects(c.wait(bad), TypeError);
    await assert.rejects(c.waitFor(() => false, bad), TypeError);
    c.release();
    r.release();
    assert.equal(b.broken, false);
  });

  it('lock() is an async scoped guard; a guard that cannot be had in time is a TimeoutError', async () => {
    const l = new Lock();
    {
      await using _ = await l.lock();
      assert.equal(l.acquireSync({ block: false }), false);
      await assert.rejects(l.lock({ timeout: 10 }), TimeoutError);
      assert.throws(() => l.lockSync({ block: false }), TimeoutError);
    }
    assert.equal(l.acquireSync({ block: false }), true);
    l.release();
    const s = new Semaphore(1);
    {
      using _ = s.lockSync();
      assert.equal(s.getValue(), 0);
    }
    assert.equal(s.getValue(), 1);
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

  it('Condition.wait on an RLock held twice releases both levels and restores them', async () => {
    const c = new Condition();
    await c.acquire();
    await c.acquire();
    assert.equal(await c.wait(20), false);
    assert.equal(c.waitSync(20), false);
    c.release();
    assert.equal(c._lock.isMine(), true);
    c.release();
    assert.equal(c._lock.isMine(), false);
    assert.throws(() => c.release(), ProcessError);
  });

  it('Condition: an aborted waiter rejects with the reason, holds the lock again, and leaves no stale signal', async () => {
    const c = new Condition(new Lock());
    await c.acquire();
    const ac = new AbortController();
    const waiting = c.wait({ signal: ac.signal });
    // The waiter sleeps; notify and abort it before it can run again: it must consume that signal.
    c.acquireSync();
    c.notify();
    ac.abort(new Error('stop waiting'));
    c.release();
    await assert.rejects(waiting, /stop waiting/);
    assert.equal(c._lock.isMine(), true);
    assert.equal(await c.wait(30), false); // nobody notified this one
    c.release();
  });

  it('Condition: an aborted waiter leaves a signal to a waiter that can still take it', async () => {
    const c = new Condition(new Lock());
    const results: (boolean | string)[] = [];
    const ac = new AbortController();
    const a = c.withLock(() => c.wait({ signal: ac.signal })).catch(() => 'aborted');
    const b = c.withLock(() => c.wait(10_000));
    await sleep(30);
    c.acquireSync();
    c.notify();
    ac.abort();
    c.release();
    results.push(await a, await b);
    assert.deepEqual(results, ['aborted', true]);
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

describe('Barrier in one process', () => {
  it('reset() while a party waits gives it BrokenBarrierError and leaves the barrier usable', async () => {
    const b = new Barrier(2);
    const waiting = b.wait();
    await sleep(20);
    assert.equal(b.nWaiting, 1);
    b.reset();
    await assert.rejects(waiting, BrokenBarrierError);
    assert.equal(b.broken, false);
    assert.equal(b.nWaiting, 0);
    assert.deepEqual((await Promise.all([b.wait(5000), b.wait(5000)])).sort(), [0, 1]);
  });

  it("the barrier's default timeout applies to waits that give none", async () => {
    const b = new Barrier(2, { timeout: 20 });
    await assert.rejects(b.wait(), BrokenBarrierError);
    b.reset();
    await assert.rejects(b.wait({ signal: new AbortController().signal }), BrokenBarrierError);
    b.reset();
    assert.throws(() => b.waitSync(), BrokenBarrierError);
  });

  it('an aborted wait rejects with the reason and breaks the barrier, as a timeout does', async () => {
    const b = new Barrier(3);
    const ac = new AbortController();
    const other = b.wait();
    const aborted = b.wait({ signal: ac.signal });
    await sleep(20);
    ac.abort(new Error('no more waiting'));
    await assert.rejects(aborted, /no more waiting/);
    await assert.rejects(other, BrokenBarrierError);
    assert.equal(b.broken, true);
  });

  it('the action runs once per round, in the last party to arrive, before any party is released', async () => {
    const order: string[] = [];
    const b = new Barrier(2, { action: () => order.push('action') });
    for (let round = 1; round <= 3; round++) {
      const first = b.wait().then((i) => order.push(`first ${i}`));
      await sleep(10);
      assert.equal(order.filter((x) => x === 'action').length, round - 1); // not yet: one party is missing
      const second = b.wait().then((i) => order.push(`second ${i}`));
      await Promise.all([first, second]);
      assert.deepEqual(order.slice(-3).sort(), ['action', 'first 0', 'second 1']);
      assert.equal(order.at(-3), 'action');
    }
  });
});
