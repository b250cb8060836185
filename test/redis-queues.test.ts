// multiproc/redis queues against a real Redis server (127.0.0.1:6379, or
// $MULTIPROC_REDIS_URL). Under CI=true they must run; elsewhere, without a
// Redis server, they are skipped with one line saying how to run them. Each
// test uses a namespace of its own and deletes its keys.
import { describe, it } from 'node:test';
import net from 'node:net';
import assert from 'node:assert/strict';
import { Empty, Full, Lock, getContext } from 'multiproc';
import { connect } from 'multiproc/redis';
import { createClient } from 'redis';
import { encode } from '../dist/codec/codec.js';
import { assertNoChildrenLeftAfter, methods } from './helpers.ts';
import { URL, cluster, up } from './redis-helpers.ts';

assertNoChildrenLeftAfter();

describe('multiproc/redis queues', { skip: !up }, () => {
  it('a named queue is shared by every host that opens it, FIFO per producer', { timeout: 30_000 }, async () => {
    await using a = await cluster();
    await using b = await connect({ url: URL, namespace: a.namespace }); // another "host"
    const qa = a.Queue<{ n: number; tags: string[] }>('jobs');
    const qb = b.Queue<{ n: number; tags: string[] }>('jobs');
    for (let n = 0; n < 50; n++) await qa.put({ n, tags: ['x'] });
    assert.equal(await qb.qsize(), 50);
    for (let n = 0; n < 50; n++) assert.deepEqual(await qb.get(), { n, tags: ['x'] });
    assert.equal(await qa.empty(), true);
  });

  for (const method of methods) {
    it(`a ${method} child on its own connection gets what the parent put, and answers [${method}]`, { timeout: 60_000 }, async () => {
      await using c = await cluster();
      const q = c.Queue<number>('in');
      for (let i = 1; i <= 10; i++) await q.put(i);
      const p = new (getContext(method).Process)({
        target: async (url: string, namespace: string) => {
          const { connect } = await import('multiproc/redis');
          const c = await connect({ url, namespace }); // (no `await using` here: a target is shipped as source)
          try {
            let sum = 0;
            for (let i = 0; i < 10; i++) sum += await c.Queue<number>('in').get({ timeout: 10_000 });
            await c.Queue<number>('out').put(sum);
          } finally {
            await c.close();
          }
        },
        args: [URL, c.namespace],
      });
      p.start();
      assert.equal(await c.Queue<number>('out').get({ timeout: 30_000 }), 55);
      await p.join();
      assert.equal(p.exitCode, 0);
    });
  }

  it('get() waits for an item, times out with Empty, and an aborted get loses nothing', { timeout: 30_000 }, async () => {
    await using c = await cluster();
    const q = c.Queue<string>('w');
    await assert.rejects(q.get({ timeout: 50 }), Empty);
    await assert.rejects(q.getNowait(), Empty);
    const waiting = q.get({ timeout: 10_000 });
    setTimeout(() => void q.put('late'), 100);
    assert.equal(await waiting, 'late');
    const ac = new AbortController();
    const aborted = q.get({ signal: ac.signal });
    setTimeout(() => ac.abort(new Error('stop')), 50);
    await assert.rejects(aborted, /stop/);
    await q.put('kept');
    assert.equal(await q.get({ timeout: 1000 }), 'kept'); // the queue still works, and nothing was taken by the aborted get
    assert.equal(await q.qsize(), 0);
  });

  it('a bounded queue refuses a put when full (Full), waits for room, and keeps working', { timeout: 30_000 }, async () => {
    await using c = await cluster();
    const q = c.Queue<number>('b', { maxsize: 2 });
    await q.put(1);
    await q.put(2);
    assert.equal(await q.full(), true);
    await assert.rejects(q.putNowait(3), Full);
    await assert.rejects(q.put(3, { timeout: 50 }), Full);
    const waiting = q.put(3, { timeout: 10_000 });
    assert.equal(await q.get(), 1);
    await waiting;
    assert.deepEqual([await q.get(), await q.get()], [2, 3]);
  });

  it('a JoinableQueue counts tasks across hosts; join() resolves once every one is done', { timeout: 30_000 }, async () => {
    await using a = await cluster();
    await using b = await connect({ url: URL, namespace: a.namespace });
    const qa = a.JoinableQueue<number>('tasks');
    const qb = b.JoinableQueue<number>('tasks');
    for (let i = 0; i < 5; i++) await qa.put(i);
    assert.equal(await qa.unfinished(), 5);
    let joined = false;
    const join = qa.join().then(() => (joined = true));
    for (let i = 0; i < 5; i++) {
      await qb.get();
      assert.equal(joined, false);
      await qb.taskDone();
    }
    await join;
    await assert.rejects(qb.taskDone(), RangeError);
    await qa.put(9); // still works
    assert.equal(await qb.get(), 9);
    await qb.taskDone();
  });

  it('an unsendable item or a local shareable is a TypeError, and nothing is sent', { timeout: 30_000 }, async () => {
    await using c = await cluster();
    const q = c.SimpleQueue<unknown>('s');
    await assert.rejects(q.put({ f: () => 1 }), { name: 'TypeError', message: /item\.f is a function/ });
    await assert.rejects(q.put({ lock: new Lock() }), { name: 'TypeError', message: /item\.lock is a Lock.*cannot travel through Redis/ });
    assert.equal(await q.qsize(), 0);
    await q.put(new Map([[1, 'a']]));
    assert.deepEqual(await q.get(), new Map([[1, 'a']]));
  });

  it('an item carrying a local handle, written into Redis by someone else, is refused by get(), and the queue goes on', { timeout: 30_000 }, async () => {
    await using c = await cluster();
    const q = c.Queue<unknown>('forged');
    const admin = createClient({ url: URL });
    await admin.connect();
    // What a local Queue's put() would carry for a Lock: a handle naming this machine's memory.
    await admin.rPush(`${c.namespace}:queue:forged`, Buffer.from(encode({ lock: new Lock() })));
    await admin.close();
    await assert.rejects(q.get({ timeout: 1000 }), { name: 'TypeError', message: /multiproc\.Lock handle.*refused/ });
    await q.put('next');
    assert.equal(await q.get(), 'next');
  });

  it('namespaces are isolated', { timeout: 30_000 }, async () => {
    await using a = await cluster();
    await using b = await cluster();
    await a.Queue('same').put('a');
    assert.equal(await b.Queue('same').qsize(), 0);
    assert.equal(await a.Queue('same').get(), 'a');
  });

  it('an unreachable server or a wrong password fails connect() with a clear error, in bounded time', { timeout: 30_000 }, async () => {
    const free = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as net.AddressInfo;
        srv.close(() => resolve(port));
      });
    });
    const t0 = Date.now();
    await assert.rejects(connect({ url: `redis://127.0.0.1:${free}`, connectTimeoutMs: 500 }), /cannot connect to Redis at redis:\/\/127\.0\.0\.1:\d+\/?: .*ECONNREFUSED/);
    assert.ok(Date.now() - t0 < 10_000);
    await assert.rejects(connect({ url: URL.replace('redis://', 'redis://nobody:wrong@') }), /cannot connect to Redis at redis:\/\/nobody:\*\*\*@.*WRONGPASS.*check the user and password/);
    await assert.rejects(connect({ url: 'http://x' }), TypeError);
    await assert.rejects(connect({ namespace: 'has space' }), TypeError);
    await using c = await cluster(); // a good connection still works afterwards
    await c.Queue('ok').put(1);
    assert.equal(await c.Queue('ok').get(), 1);
  });

  it('a closed cluster queue object refuses further use; the queue lives on for other hosts', { timeout: 30_000 }, async () => {
    await using c = await cluster();
    const q = c.Queue<number>('c');
    await q.put(1);
    q.close();
    await assert.rejects(async () => q.put(2), /closed/);
    assert.equal(await c.Queue<number>('c').get(), 1);
  });
});

