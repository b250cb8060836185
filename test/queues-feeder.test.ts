// What put() buffered (the ring was full) reaches the queue even when the
// producer's thread then blocks in a Sync call, which keeps the feeder (an
// async task of that thread) from running: joinSync() writes the buffered
// items first, getSync() and putSync() write what fits as they go, and any
// other blocking wait of the thread writes them as room appears.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getContext, JoinableQueue, ProcessError, Queue, SimpleQueue } from 'multiproc';
import { assertNoChildrenLeftAfter, methods } from './helpers.ts';

assertNoChildrenLeftAfter();

/** A ring this small holds about 170 small items: the rest of a burst of put()s waits in the producer's buffer. */
const SMALL_RING = { bufferSize: 4096 };
const pause = () => new Promise((resolve) => setImmediate(resolve));

describe('a thread that buffered items and then blocks', () => {
  it('getSync() gets every item it put, in order, then a putSync() item after them', { timeout: 30_000 }, async () => {
    const q = new Queue<number | string>(0, SMALL_RING);
    for (let i = 0; i < 1000; i++) await q.put(i);
    q.putSync('last');
    for (let i = 0; i < 1000; i++) assert.equal(q.getSync({ timeout: 5_000 }), i);
    assert.equal(q.getSync({ timeout: 5_000 }), 'last');
    q.close();
  });

  it('joinSync() refuses while its feeder is writing a large item in chunks, and the queue still works', { timeout: 60_000 }, async () => {
    const q = new JoinableQueue<Uint8Array>(0, SMALL_RING);
    await q.put(new Uint8Array(100_000).fill(7)); // buffered: the feeder writes it in chunks, holding the put mutex
    for (let i = 0; i < 5; i++) await pause();
    assert.throws(() => q.joinSync(), (err: Error) => err instanceof ProcessError && /await join\(\)/.test(err.message));
    const consumer = new (getContext('thread').Process)({
      target: (jq: JoinableQueue<Uint8Array>) => {
        const item = jq.getSync();
        jq.taskDone();
        if (item.length !== 100_000 || item.some((b) => b !== 7)) throw new Error('the large item arrived damaged');
      },
      args: [q],
    });
    consumer.start();
    await q.join();
    await consumer.join();
    assert.equal(consumer.exitCode, 0);
    q.close();
  });
});

for (const method of methods) {
  const ctx = getContext(method);
  describe(`JoinableQueue.joinSync() after buffered put()s [${method}]`, () => {
    it('returns once the workers have done every item, including those the ring could not hold', { timeout: 90_000 }, async () => {
      const N = 3000;
      const q = new JoinableQueue<number | null>(0, SMALL_RING);
      const gate = new SimpleQueue<number>();
      const out = new SimpleQueue<number>();
      const worker = (jq: JoinableQueue<number | null>, g: SimpleQueue<number>) => {
        g.getSync();
        for (;;) {
          const x = jq.getSync();
          jq.taskDone();
          if (x === null) break;
        }
      };
      // The producer is a child: if joinSync() hung, it would block that child, not this test.
      const producer = async (jq: JoinableQueue<number | null>, g: SimpleQueue<number>, o: SimpleQueue<number>, n: number) => {
        for (let i = 0; i < n; i++) await jq.put(i);
        g.putSync(1);
        g.putSync(1);
        jq.joinSync();
        o.putSync(n);
      };
      const workers = [0, 1].map(() => new ctx.Process({ target: worker, args: [q, gate] }));
      const p = new ctx.Process({ target: producer, args: [q, gate, out, N] });
      for (const w of [...workers, p]) w.start();
      try {
        assert.equal(await out.get({ timeout: 60_000 }), N, 'joinSync() returned');
        await p.join();
        for (let i = 0; i < workers.length; i++) await q.put(null);
        for (const w of workers) await w.join();
        for (const w of [...workers, p]) assert.equal(w.exitCode, 0);
      } finally {
        for (const w of [...workers, p]) if (w.isAlive()) w.kill();
      }
    });

    it('a Sync wait on another object still delivers the items its thread buffered', { timeout: 90_000 }, async () => {
      const N = 3000;
      const q = new Queue<number | null>(0, SMALL_RING);
      const gate = new SimpleQueue<number>();
      const done = new SimpleQueue<number>();
      const out = new SimpleQueue<number>();
      const consumer = (cq: Queue<number | null>, g: SimpleQueue<number>, d: SimpleQueue<number>) => {
        g.getSync();
        let n = 0;
        while (cq.getSync() !== null) n++;
        d.putSync(n);
      };
      // Blocks in done.getSync() with most of its items still buffered: a blocked wait writes them meanwhile.
      const producer = async (pq: Queue<number | null>, g: SimpleQueue<number>, d: SimpleQueue<number>, o: SimpleQueue<number>, n: number) => {
        for (let i = 0; i < n; i++) await pq.put(i);
        await pq.put(null);
        g.putSync(1);
        o.putSync(d.getSync());
      };
      const c = new ctx.Process({ target: consumer, args: [q, gate, done] });
      const p = new ctx.Process({ target: producer, args: [q, gate, done, out, N] });
      for (const w of [c, p]) w.start();
      try {
        assert.equal(await out.get({ timeout: 60_000 }), N, 'every item arrived while the producer was blocked');
        for (const w of [c, p]) {
          await w.join();
          assert.equal(w.exitCode, 0);
        }
      } finally {
        for (const w of [c, p]) if (w.isAlive()) w.kill();
      }
    });
  });
}
