import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { Empty, Full, JoinableQueue, Queue, SimpleQueue, getContext, type StartMethod } from 'multiproc';
import { assertNoChildrenLeftAfter, methods } from './helpers.ts';

assertNoChildrenLeftAfter();

describe('Queue in one process', () => {
  it('is FIFO and counts its items', async () => {
    const q = new Queue<unknown>();
    assert.equal(q.empty(), true);
    await q.put(1);
    q.putSync('two');
    q.putNowait({ three: [3] });
    assert.equal(q.qsize(), 3);
    assert.equal(await q.get(), 1);
    assert.equal(q.getSync(), 'two');
    assert.deepEqual(q.getNowait(), { three: [3] });
    assert.equal(q.empty(), true);
  });

  it('get on an empty queue: Empty at once with block:false, after the timeout otherwise', async () => {
    const q = new Queue();
    assert.throws(() => q.getNowait(), Empty);
    assert.throws(() => q.getSync({ timeout: 20 }), Empty);
    await assert.rejects(q.get({ block: false }), Empty);
    await assert.rejects(q.get({ timeout: 20 }), Empty);
    await q.put('still works');
    assert.equal(await q.get(), 'still works');
  });

  it('a bounded queue raises Full, and put waits for room', async () => {
    const q = new Queue<number>(2);
    assert.equal(q.maxsize, 2);
    await q.put(1);
    await q.put(2);
    assert.equal(q.full(), true);
    assert.throws(() => q.putNowait(3), Full);
    await assert.rejects(q.put(3, { timeout: 20 }), Full);
    assert.throws(() => q.putSync(3, { timeout: 20 }), Full);
    const waiting = q.put(3);
    assert.equal(await q.get(), 1);
    await waiting;
    assert.deepEqual([await q.get(), await q.get()], [2, 3]);
  });

  it('maxsize <= 0 means unbounded: put never waits', async () => {
    const q = new Queue<number>(-1, { bufferSize: 4096 });
    for (let i = 0; i < 5000; i++) await q.put(i); // far more than the ring holds: buffered
    for (let i = 0; i < 5000; i++) assert.equal(await q.get(), i);
  });

  it('an unsendable item fails put with a TypeError and leaves the queue as it was', async () => {
    const q = new Queue<unknown>();
    await q.put('before');
    await assert.rejects(q.put({ f: () => {} }), { name: 'TypeError', message: /item\.f is a function/ });
    assert.throws(() => q.putSync([Symbol('s')]), { name: 'TypeError', message: /item\[0\] is a symbol/ });
    assert.equal(q.qsize(), 1);
    await q.put('after');
    assert.deepEqual([await q.get(), await q.get()], ['before', 'after']);
  });

  it('an aborted signal rejects get and put with its reason, and the queue still works', async () => {
    const q = new Queue<number>(1);
    const ac = new AbortController();
    const pending = q.get({ signal: ac.signal });
    ac.abort(new Error('stop'));
    await assert.rejects(pending, /stop/);
    await q.put(1);
    await assert.rejects(q.put(2, { signal: AbortSignal.abort(new Error('no')) }), /no/);
    assert.equal(await q.get(), 1);
  });

  it('received items are independent: transferring one item\'s buffer leaves the others and the item intact', async () => {
    const q = new Queue<Uint8Array>();
    for (const v of [1, 2, 3]) await q.put(new Uint8Array(100).fill(v)); // (small items share memory slabs, as Node's Buffer pool)
    const [a, b, c] = [await q.get(), await q.get(), await q.get()];
    const { port1, port2 } = new MessageChannel();
    try {
      port1.postMessage(a, [a.buffer as ArrayBuffer]); // Node 20 ignores an untransferable buffer in the list; later Nodes throw
      const got = await new Promise<Uint8Array>((resolve) => port2.once('message', resolve));
      assert.deepEqual([...got], new Array(100).fill(1));
    } catch (err) {
      assert.match(String(err), /transfer/i);
    } finally {
      port1.close();
    }
    assert.deepEqual([...a], new Array(100).fill(1), 'not detached');
    assert.deepEqual([...b, ...c], [...new Array(100).fill(2), ...new Array(100).fill(3)]);
    await q.put(new Uint8Array(100).fill(4));
    assert.deepEqual([...(await q.get())], new Array(100).fill(4));
  });

  it('items of any size pass through a small ring', async () => {
    const q = new Queue<Uint8Array>(0, { bufferSize: 4096 });
    const big = new Uint8Array(1 << 20).map((_, i) => i % 251);
    const got = q.get();
    await q.put(big);
    assert.deepEqual(await got, big);
  });

  it('bad options are TypeErrors; a negative timeout tries once without waiting', async () => {
    const q = new Queue<number>();
    await assert.rejects(q.get({ timeout: 'soon' as never }), TypeError);
    await assert.rejects(q.get({ timeout: -1 }), Empty);
    assert.throws(() => q.getSync({ timeout: -5 }), Empty);
    await q.put(1, { timeout: -1 });
    assert.equal(await q.get({ timeout: -1 }), 1);
    assert.throws(() => new Queue('big' as never), TypeError);
  });

  it('close() ends async iteration and further use throws "closed"', async () => {
    const q = new Queue<number>();
    await q.put(1);
    await q.put(2);
    const seen: number[] = [];
    const done = (async () => {
      for await (const x of q) {
        seen.push(x);
        if (seen.length === 2) setTimeout(() => q.close(), 20);
      }
    })();
    await done;
    assert.deepEqual(seen, [1, 2]);
    await assert.rejects(q.put(3), /closed/);
    await q.joinThread();
  });

  it('SimpleQueue puts and gets', async () => {
    const q = new SimpleQueue<string>();
    await q.put('a');
    q.putSync('b');
    assert.equal(q.empty(), false);
    assert.equal(await q.get(), 'a');
    assert.equal(q.getSync(), 'b');
  });

  it('JoinableQueue: join waits for taskDone; taskDone too often is a RangeError', async () => {
    const q = new JoinableQueue<number>();
    await q.put(1);
    await q.put(2);
    let joined = false;
    const join = q.join().then(() => (joined = true));
    await q.get();
    q.taskDone();
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(joined, false);
    await q.get();
    q.taskDone();
    await join;
    assert.throws(() => q.taskDone(), RangeError);
    q.joinSync();
  });
});

/** Producer: puts [id, seq] for seq < n. */
async function producer(q: Queue<[number, number]>, id: number, n: number): Promise<void> {
  for (let seq = 0; seq < n; seq++) await q.put([id, seq]);
}

/** Consumer: gets until the null sentinel, then reports what it got. */
async function consumer(q: Queue<[number, number] | null>, results: Queue<[number, number][]>): Promise<void> {
  const got: [number, number][] = [];
  for (;;) {
    const item = q.getSync();
    if (item === null) break;
    got.push(item);
  }
  await results.put(got);
}

/** Producer of byte items through a small ring: item seq (< 65536) of producer id is [id, seq (2 bytes)] and then up to 1.5 KiB of `(id + seq) & 255`. */
function byteProducer(q: Queue<Uint8Array>, id: number, n: number, sync: boolean): Promise<void> | void {
  const item = (seq: number) => {
    const size = (seq * 37 + id * 11) % 1500; // up to past a quarter of a 4 KiB ring: some go in chunks
    const bytes = new Uint8Array(3 + size).fill((id + seq) & 255);
    bytes[0] = id;
    bytes[1] = seq & 255;
    bytes[2] = seq >> 8;
    return bytes;
  };
  if (sync) for (let seq = 0; seq < n; seq++) q.putSync(item(seq));
  else return (async () => { for (let seq = 0; seq < n; seq++) await q.put(item(seq)); })();
}

/** Consumer of byteProducer's items until an empty item: reports [id, seq, intact] for each. */
async function byteConsumer(q: Queue<Uint8Array>, results: Queue<[number, number, boolean][]>): Promise<void> {
  const got: [number, number, boolean][] = [];
  for (;;) {
    const item = await q.get();
    if (item.length === 0) break;
    const seq = item[1] | (item[2] << 8);
    let intact = true;
    for (let i = 3; i < item.length; i++) if (item[i] !== ((item[0] + seq) & 255)) intact = false;
    got.push([item[0], seq, intact]);
  }
  await results.put(got);
}

for (const method of [...methods, 'mixed'] as const) {
  const kindOf = (i: number): StartMethod => (method === 'mixed' ? (i % 2 ? 'process' : 'thread') : method);
  describe(`Queue between children [${method}]`, () => {
    it('4 producers × 4 consumers deliver every item exactly once, in order per producer', async () => {
      const q = new Queue<[number, number] | null>(64);
      const results = new Queue<[number, number][]>();
      const N = 2000;
      const consumers = [0, 1, 2, 3].map((i) => new (getContext(kindOf(i)).Process)({ target: consumer, args: [q, results] }));
      const producers = [0, 1, 2, 3].map((i) => new (getContext(kindOf(i + 1)).Process)({ target: producer, args: [q, i, N] }));
      for (const p of [...consumers, ...producers]) p.start();
      for (const p of producers) await p.join();
      for (let i = 0; i < 4; i++) await q.put(null);
      const all: [number, number][][] = [];
      for (let i = 0; i < 4; i++) all.push(await results.get());
      for (const p of consumers) await p.join();
      for (const p of [...consumers, ...producers]) assert.equal(p.exitCode, 0);
      const counts = new Map<string, number>();
      for (const got of all) {
        const last = new Map<number, number>();
        for (const [id, seq] of got) {
          assert.ok((last.get(id) ?? -1) < seq, `producer ${id} out of order in one consumer`);
          last.set(id, seq);
          counts.set(`${id}:${seq}`, (counts.get(`${id}:${seq}`) ?? 0) + 1);
        }
      }
      assert.equal(counts.size, 4 * N);
      assert.ok([...counts.values()].every((c) => c === 1), 'an item was duplicated');
    });

    for (const [title, startAt] of [['', 0], [', across the wrap of its positions at 2^32', -2048]] as const) {
      it(`producers and consumers sharing a 4 KiB ring pass every item whole, in order per producer${title}`, { timeout: 120_000 }, async () => {
        // The ring stays full: writers wait for room, each sees the others' frames
        // between its own (its view of the reader's position goes stale), and
        // frames wrap around the ring's end.
        const q = new Queue<Uint8Array>(0, { bufferSize: 4096 });
        // White box: start the empty ring's byte positions (tail, head) just
        // below 2^32, so they wrap around during the test.
        const header = (q as unknown as { ring: { header: Int32Array } }).ring.header;
        Atomics.store(header, 0, startAt);
        Atomics.store(header, 16, startAt);
        const results = new Queue<[number, number, boolean][]>();
        const N = 1500;
        const consumers = [0, 1].map((i) => new (getContext(kindOf(i)).Process)({ target: byteConsumer, args: [q, results] }));
        const producers = [0, 1, 2].map((i) => new (getContext(kindOf(i + 1)).Process)({ target: byteProducer, args: [q, i, N, i % 2 === 0] }));
        for (const p of [...consumers, ...producers]) p.start();
        for (const p of producers) await p.join();
        for (let i = 0; i < 2; i++) await q.put(new Uint8Array(0));
        const all = [await results.get(), await results.get()];
        for (const p of consumers) await p.join();
        for (const p of [...consumers, ...producers]) assert.equal(p.exitCode, 0);
        const seen = new Set<string>();
        for (const got of all) {
          const last = new Map<number, number>();
          for (const [id, seq, intact] of got) {
            assert.ok(intact, `producer ${id}'s item ${seq} arrived damaged`);
            assert.ok((last.get(id) ?? -1) < seq, `producer ${id} out of order in one consumer`);
            last.set(id, seq);
            seen.add(`${id}:${seq}`);
          }
        }
        assert.equal(all[0].length + all[1].length, 3 * N);
        assert.equal(seen.size, 3 * N, 'an item was duplicated or lost');
        assert.equal(q.qsize(), 0);
        if (startAt < 0) assert.ok(Atomics.load(header, 0) > 0 && Atomics.load(header, 16) > 0, 'tail and head wrapped past 2^32');
      });
    }

    it('a 16 MiB item goes through a 64 KiB queue', async () => {
      const q = new Queue<Uint8Array>(0, { bufferSize: 64 * 1024 });
      const back = new Queue<string>();
      const p2 = new (getContext(kindOf(1)).Process)({
        target: async (q: Queue<Uint8Array>, back: Queue<string>) => {
          const big = await q.get();
          let sum = 0;
          for (let i = 0; i < big.length; i += 4096) sum += big[i];
          await back.put(`${big.length}:${sum}`);
        },
        args: [q, back],
      });
      p2.start();
      const big = new Uint8Array(16 << 20).fill(3);
      await q.put(big);
      assert.equal(await back.get(), `${16 << 20}:${(16 << 20) / 4096 * 3}`);
      await p2.join();
      assert.equal(p2.exitCode, 0);
    });

    it('a JoinableQueue is joined across children', async () => {
      const q = new JoinableQueue<number>();
      const workers = [0, 1].map((i) =>
        new (getContext(kindOf(i)).Process)({
          daemon: true,
          target: async (q: JoinableQueue<number>) => {
            for (;;) {
              await q.get();
              q.taskDone();
            }
          },
          args: [q],
        }),
      );
      for (const w of workers) w.start();
      for (let i = 0; i < 200; i++) await q.put(i);
      await q.join();
      assert.equal(q.qsize(), 0);
      for (const w of workers) w.kill();
      for (const w of workers) await w.join();
    });

    it('a queue sent through a queue arrives attached to the same queue', async () => {
      const carrier = new Queue<Queue<string>>();
      const inner = new Queue<string>();
      const p = new (getContext(kindOf(1)).Process)({
        target: async (carrier: Queue<Queue<string>>) => {
          const q = await carrier.get();
          await q.put('through the carrier');
        },
        args: [carrier],
      });
      p.start();
      await carrier.put(inner);
      assert.equal(await inner.get(), 'through the carrier');
      await p.join();
    });
  });
}
