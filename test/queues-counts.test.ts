// A Queue's counts stay exact when children die at any point: qsize(), the
// room of a bounded queue and a JoinableQueue's join() never count an item
// that died with its producer (in its local buffer, or half-written) or inside
// a consumer's get(), and never count a delivered item twice. Kills land at
// random points of tight put/get loops, many rounds each (queues/accounting.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Empty, Event, Full, JoinableQueue, Queue, getContext } from 'multiproc';
import { assertNoChildrenLeftAfter, methods } from './helpers.ts';

assertNoChildrenLeftAfter();

const ROUNDS = 8;
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Gets (and marks done) every item there is; returns how many. */
async function drain<T>(q: Queue<T>): Promise<number> {
  let n = 0;
  for (;;) {
    try {
      await q.get({ timeout: 200 });
    } catch (err) {
      if (err instanceof Empty) return n;
      throw err;
    }
    if (q instanceof JoinableQueue) q.taskDone();
    n++;
  }
}

for (const method of methods) {
  const ctx = getContext(method);
  describe(`queue counts when children die [${method}]`, () => {
    it('join() returns after a producer dies with items still in its local buffer', { timeout: 120_000 }, async () => {
      for (const maxsize of [0, 100]) {
        const q = new JoinableQueue<Uint8Array>(maxsize, { bufferSize: 64 * 1024 });
        const buffered = new Event();
        const p = new ctx.Process({
          target: async (q: JoinableQueue<Uint8Array>, buffered: Event) => {
            // put() does not wait for room: most of these wait in this child's buffer.
            for (let i = 0; i < (q.maxsize || 2000); i++) void q.put(new Uint8Array(4096).fill(i % 250));
            buffered.set();
            await new Promise(() => setInterval(() => {}, 1000)); // until killed
          },
          args: [q, buffered],
        });
        p.start();
        assert.equal(await buffered.wait(20_000), true);
        p.kill();
        await p.join();
        const got = await drain(q);
        assert.ok(got > 0 && got < (maxsize || 2000), `got ${got}`);
        await q.join(); // the buffered items died with their producer
        assert.equal(q.qsize(), 0);
        if (maxsize) for (let i = 0; i < maxsize; i++) q.putNowait(new Uint8Array(1)); // all the room is back
        assert.equal(q.full(), maxsize > 0);
      }
    });

    it('a consumer killed at any point of get() leaves qsize() exact, bounded room whole', { timeout: 120_000 }, async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const maxsize = round % 2 ? 50_000 : 0;
        const q = new Queue<number>(maxsize);
        for (let i = 0; i < 20_000; i++) q.putSync(i);
        const p = new ctx.Process({
          target: (q: Queue<number>) => {
            for (;;) q.getSync();
          },
          args: [q],
        });
        p.start();
        while (q.qsize() > 19_000) await pause(5);
        await pause(round * 3);
        p.kill();
        await p.join();
        const left = q.qsize();
        assert.equal(await drain(q), left, `round ${round}: qsize() said ${left}`);
        assert.equal(q.qsize(), 0, `round ${round}`);
        assert.equal(q.full(), false);
      }
    });

    it('a producer killed at any point of put() leaves an unbounded queue\'s qsize() exact', { timeout: 120_000 }, async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const q = new Queue<number[]>(0, { bufferSize: 1 << 22 });
        const p = new ctx.Process({
          target: (q: Queue<number[]>) => {
            for (let i = 0; ; i++) q.putSync([i, i, i]);
          },
          args: [q],
        });
        p.start();
        while (q.qsize() < 1000) await pause(5);
        await pause(round * 3);
        p.kill();
        await p.join();
        const counted = q.qsize();
        assert.equal(await drain(q), counted, `round ${round}: qsize() said ${counted}`);
        assert.equal(q.qsize(), 0);
      }
    });

    it('a producer killed at any point of put() leaves a JoinableQueue\'s qsize(), room and join() exact', { timeout: 120_000 }, async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const maxsize = round % 2 ? 50_000 : 0;
        const q = new JoinableQueue<number[]>(maxsize, { bufferSize: 1 << 22 });
        const p = new ctx.Process({
          target: (q: JoinableQueue<number[]>) => {
            for (let i = 0; ; i++) q.putSync([i, i, i]);
          },
          args: [q],
        });
        p.start();
        while (q.qsize() < 1000) await pause(5);
        await pause(round * 3);
        p.kill();
        await p.join();
        const counted = q.qsize();
        assert.equal(await drain(q), counted, `round ${round}: qsize() said ${counted}`);
        await q.join(); // every item that came was marked done; none that did not come still counts
        assert.equal(q.qsize(), 0);
        if (maxsize) {
          for (let i = 0; i < maxsize; i++) q.putNowait([i]); // all the room is back
          assert.equal(q.full(), true, `round ${round}`);
          assert.throws(() => q.putNowait([0]), Full);
        }
      }
    });
  });
}
