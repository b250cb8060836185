// A manager's queues and synchronization types, used by children of both
// kinds: Python's semantics (RLock owners per client, timeouts, Barrier
// indices and breaking), with waits that never block the server.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BrokenBarrierError, Empty, Full, Manager, getContext, type SyncManager } from 'multiproc';
import { assertNoChildrenLeftAfter, methods } from './helpers.ts';

assertNoChildrenLeftAfter();

for (const method of methods) {
  const ctx = getContext(method);
  describe(`manager queues and locks used by ${method} children`, () => {
    let m: SyncManager;
    before(async () => {
      m = await Manager({ context: method });
    });
    after(async () => {
      await m.shutdown();
    });

    it('a_queue_carries_items_from_a_producer_child_to_a_consumer_child', async () => {
      const q = await m.Queue<number | null>();
      const results = await m.list<number>();
      const producer = new ctx.Process({
        target: async (q: any) => {
          for (let i = 0; i < 20; i++) await q.put(i);
          q.putSync(null);
        },
        args: [q],
      });
      const consumer = new ctx.Process({
        target: async (q: any, results: any) => {
          for (let item = await q.get(); item !== null; item = q.getSync()) await results.append(item * item);
        },
        args: [q, results],
      });
      consumer.start(); // it waits in get() first: the server keeps serving meanwhile
      producer.start();
      await Promise.all([producer.join(), consumer.join()]);
      assert.deepEqual(await results.toArray(), Array.from({ length: 20 }, (_, i) => i * i));
    });

    it('queue_timeouts_raise_empty_and_full_and_the_queue_still_works', async () => {
      const q = await m.Queue<number>(1);
      await assert.rejects(q.get({ timeout: 20 }), Empty);
      await assert.rejects(q.getNowait(), Empty);
      await q.put(1);
      assert.equal(await q.full(), true);
      await assert.rejects(q.put(2, { timeout: 20 }), Full);
      assert.throws(() => q.putSync(2, { block: false }), Full);
      assert.equal(await q.qsize(), 1);
      assert.equal(await q.get(), 1);
      assert.equal(await q.empty(), true);
    });

    it('a_joinable_queue_joins_once_every_item_is_done', async () => {
      const q = await m.JoinableQueue<number>();
      for (let i = 0; i < 5; i++) await q.put(i);
      const worker = new ctx.Process({
        target: async (q: any) => {
          for (let i = 0; i < 5; i++) {
            await q.get();
            await q.taskDone();
          }
        },
        args: [q],
      });
      worker.start();
      await q.join();
      await worker.join();
      await assert.rejects(q.taskDone(), { name: 'RangeError', message: /too many times/ });
    });

    it('a_lock_gives_mutual_exclusion_to_children', async () => {
      const lock = await m.Lock();
      const counter = await m.Value('i', 0);
      const workers = Array.from(
        { length: 3 },
        () =>
          new ctx.Process({
            target: async (lock: any, counter: any) => {
              for (let i = 0; i < 20; i++) {
                await lock.withLock(async () => {
                  const v = await counter.get();
                  await counter.set(v + 1); // a read-modify-write: exact only under the lock
                });
              }
            },
            args: [lock, counter],
          }),
      );
      for (const w of workers) w.start();
      for (const w of workers) await w.join();
      assert.equal(await counter.get(), 60);
      assert.equal(await lock.locked(), false);
    });

    it('lock_acquire_times_out_and_release_of_an_unlocked_lock_is_a_range_error', async () => {
      const lock = await m.Lock();
      assert.equal(await lock.acquire(), true);
      assert.equal(await lock.acquire({ timeout: 20 }), false);
      assert.equal(lock.acquireSync({ block: false }), false);
      await lock.release();
      await assert.rejects(lock.release(), RangeError);
      assert.equal(await lock.acquire({ block: false }), true);
      await lock.release();
    });

    it('an_rlock_belongs_to_the_client_that_took_it', async () => {
      const rlock = await m.RLock();
      const results = await m.list();
      assert.equal(await rlock.acquire(), true);
      assert.equal(await rlock.acquire(), true, 'the owner takes it again');
      const other = new ctx.Process({
        target: async (rlock: any, results: any) => {
          await results.append(await rlock.acquire({ timeout: 50 })); // not the owner: waits and times out
          await results.append(await rlock.release().then(() => 'released', (e: Error) => e.name));
        },
        args: [rlock, results],
      });
      other.start();
      await other.join();
      assert.deepEqual(await results.toArray(), [false, 'RangeError']);
      await rlock.release();
      assert.equal(await rlock.locked(), true, 'held once more');
      await rlock.release();
      await assert.rejects(rlock.release(), RangeError);
    });

    it('semaphores_count_and_a_bounded_one_refuses_extra_releases', async () => {
      const sem = await m.Semaphore(2);
      assert.equal(await sem.acquire(), true);
      assert.equal(await sem.acquire(), true);
      assert.equal(await sem.acquire({ timeout: 20 }), false);
      assert.equal(await sem.getValue(), 0);
      await sem.release(2);
      assert.equal(await sem.getValue(), 2);
      const bounded = await m.BoundedSemaphore(1);
      await assert.rejects(bounded.release(), { name: 'RangeError', message: /too many times/ });
      assert.equal(bounded.acquireSync(), true);
      await bounded.release();
    });

    it('a_condition_wakes_a_waiting_child_and_wait_for_checks_a_predicate', async () => {
      const cond = await m.Condition();
      const ready = await m.Value('i', 0);
      const waiter = new ctx.Process({
        target: async (cond: any, ready: any) => {
          await cond.acquire();
          const ok = await cond.waitFor(async () => (await ready.get()) === 1, 20_000);
          await ready.set(ok ? 2 : -1);
          await cond.release();
        },
        args: [cond, ready],
      });
      waiter.start();
      await new Promise((r) => setTimeout(r, 100));
      await cond.withLock(async () => {
        await ready.set(1);
        await cond.notifyAll();
      });
      await waiter.join();
      assert.equal(await ready.get(), 2);
      await assert.rejects(cond.notify(), RangeError, 'notify without holding the lock');
      await cond.acquire();
      assert.equal(await cond.wait(20), false, 'a wait times out');
      await cond.release();
    });

    it('a_condition_over_a_manager_lock_shares_it', async () => {
      const lock = await m.Lock();
      const cond = await m.Condition(lock);
      await cond.acquire();
      assert.equal(await lock.locked(), true);
      await cond.release();
      assert.equal(await lock.locked(), false);
    });

    it('an_event_releases_children_waiting_on_it', async () => {
      const ev = await m.Event();
      const seen = await m.list<boolean>();
      const workers = Array.from(
        { length: 2 },
        () =>
          new ctx.Process({
            target: async (ev: any, seen: any) => {
              await seen.append(await ev.wait(20_000));
            },
            args: [ev, seen],
          }),
      );
      for (const w of workers) w.start();
      assert.equal(await ev.wait(20), false);
      await ev.set();
      for (const w of workers) await w.join();
      assert.deepEqual(await seen.toArray(), [true, true]);
      assert.equal(await ev.isSet(), true);
      await ev.clear();
      assert.equal(ev.isSetSync(), false);
    });

    it('an_aborted_signal_cancels_a_waiting_call_and_nothing_it_waited_for_is_lost', async () => {
      const lock = await m.Lock();
      await lock.acquire();
      const ac = new AbortController();
      const waiting = lock.acquire({ signal: ac.signal });
      setTimeout(() => ac.abort(), 50);
      await assert.rejects(waiting, { name: 'AbortError' });
      await lock.release();
      assert.equal(await lock.acquire({ block: false }), true, 'the cancelled acquire did not take the lock');
      await lock.release();

      const q = await m.Queue<string>();
      const ac2 = new AbortController();
      const get = q.get({ signal: ac2.signal });
      ac2.abort(new Error('changed my mind'));
      await assert.rejects(get, { message: 'changed my mind' });
      await q.put('kept');
      assert.equal(await q.get({ timeout: 5000 }), 'kept', 'the cancelled get took nothing');
      await assert.rejects(q.get({ signal: AbortSignal.abort() }), { name: 'AbortError' }, 'an aborted signal sends nothing');

      const ev = await m.Event();
      const ac3 = new AbortController();
      const w = ev.wait({ signal: ac3.signal });
      ac3.abort();
      await assert.rejects(w, { name: 'AbortError' });
      await ev.set();
      assert.equal(await ev.wait({ signal: new AbortController().signal }), true, 'a signal that never fires changes nothing');

      const barrier = await m.Barrier(2);
      const ac4 = new AbortController();
      const bw = barrier.wait({ signal: ac4.signal });
      ac4.abort();
      await assert.rejects(bw, { name: 'AbortError' });
      assert.equal(await barrier.broken(), true, 'a cancelled barrier wait breaks the barrier, as a timeout does');
    });

    it('a_barrier_gives_each_party_an_index_and_breaks_on_timeout', async () => {
      const barrier = await m.Barrier(3);
      const indices = await m.list<number>();
      const workers = Array.from(
        { length: 2 },
        () =>
          new ctx.Process({
            target: async (barrier: any, indices: any) => {
              await indices.append(await barrier.wait());
            },
            args: [barrier, indices],
          }),
      );
      for (const w of workers) w.start();
      await indices.append(await barrier.wait());
      for (const w of workers) await w.join();
      assert.deepEqual((await indices.toArray()).sort(), [0, 1, 2]);
      assert.equal(await barrier.parties(), 3);
      assert.equal(await barrier.nWaiting(), 0);
      await assert.rejects(barrier.wait(20), BrokenBarrierError);
      assert.equal(await barrier.broken(), true);
      await barrier.reset();
      assert.equal(await barrier.broken(), false);
    });
  });
}
