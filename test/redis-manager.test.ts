// The Manager's types in Redis (multiproc/redis) against a real Redis server,
// as test/redis-queues.test.ts: required under CI=true, skipped with one line
// elsewhere; a namespace per test, keys deleted after.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Lock, getContext } from 'multiproc';
import { connect } from 'multiproc/redis';
import { createClient } from 'redis';
import { assertNoChildrenLeftAfter, methods } from './helpers.ts';
import { URL, cluster, up } from './redis-helpers.ts';

assertNoChildrenLeftAfter();

describe('multiproc/redis Manager', { skip: !up }, () => {
  it('a named dict is shared across hosts, with Python\'s dict methods and KeyError as RangeError', { timeout: 30_000 }, async () => {
    await using a = await cluster();
    await using b = await connect({ url: URL, namespace: a.namespace });
    await using ma = await a.Manager();
    await using mb = await b.Manager();
    const da = await ma.dict('config', { x: 1 });
    const db = await mb.dict('config');
    await db.set(2, ['two']);
    await db.update(new Map([['y', { deep: true }]]));
    assert.equal(await da.get('x'), 1);
    assert.deepEqual(await da.get(2), ['two']);
    assert.equal(await da.get('2', 'none'), 'none'); // the key 2 and the key '2' differ, as in Python
    assert.equal(await da.length(), 3);
    assert.deepEqual(new Set(await da.keys()), new Set(['x', 2, 'y']));
    assert.deepEqual((await da.toMap()).get('y'), { deep: true });
    assert.equal(await da.pop('x'), 1);
    assert.equal(await da.pop('x', 'gone'), 'gone');
    await assert.rejects(da.pop('x'), RangeError);
    await assert.rejects(da.delete('nope'), /KeyError/);
    await assert.rejects(da.set({} as never, 1), TypeError);
    await assert.rejects(da.set('lock', new Lock()), /cannot travel through Redis/);
    assert.equal(await da.setdefault('z', 5), 5);
    assert.equal(await db.setdefault('z', 6), 5);
    assert.equal(await db.has('z'), true);
    await db.clear();
    assert.equal(await da.length(), 0);
  });

  it('a named list is shared across hosts, with Python\'s list methods and IndexError as RangeError', { timeout: 30_000 }, async () => {
    await using c = await cluster();
    await using m = await c.Manager();
    const l = await m.list('seen', [1, 2]);
    await l.append({ three: 3 });
    await l.extend([4, 5]);
    assert.equal(await l.length(), 5);
    assert.deepEqual(await l.get(-1), 5);
    await l.set(0, 'one');
    assert.deepEqual(await l.toArray(), ['one', 2, { three: 3 }, 4, 5]);
    assert.deepEqual(await l.slice(1, 3), [2, { three: 3 }]);
    assert.equal(await l.pop(), 5);
    assert.equal(await l.pop(1), 2);
    assert.equal(await l.includes(4), true);
    assert.equal(await l.index(4), 2);
    await assert.rejects(l.get(10), RangeError);
    await assert.rejects(l.set(10, 0), RangeError);
    await assert.rejects(l.pop(10), RangeError);
    await assert.rejects(l.index('absent'), RangeError);
    assert.deepEqual(await (await m.list('seen')).toArray(), ['one', { three: 3 }, 4]);
  });

  for (const method of methods) {
    it(`a Value's add() is exact with children of two hosts adding at once [${method}]`, { timeout: 60_000 }, async () => {
      await using c = await cluster();
      await using m = await c.Manager();
      const hits = await m.Value('i', 0, 'hits');
      const ctx = getContext(method);
      const children = [0, 1].map(
        () =>
          new ctx.Process({
            target: async (url: string, namespace: string) => {
              const { connect } = await import('multiproc/redis');
              const c = await connect({ url, namespace });
              try {
                const v = await (await c.Manager()).Value('i', 0, 'hits'); // (exists: init not applied)
                for (let i = 0; i < 200; i++) await v.add(1);
              } finally {
                await c.close();
              }
            },
            args: [URL, c.namespace],
          }),
      );
      for (const p of children) p.start();
      for (let i = 0; i < 200; i++) await hits.add(1);
      for (const p of children) await p.join();
      assert.deepEqual(children.map((p) => p.exitCode), [0, 0]);
      assert.equal(await hits.get(), 600);
      const d = await m.Value('d', 0.5);
      assert.equal(await d.add(0.25), 0.75);
      await assert.rejects(m.Value('c' as never, 0), TypeError);
      await assert.rejects(hits.set(1.5), TypeError);
      assert.equal(await hits.get(), 600);
    });
  }

  it('a Lock is held by one holder at a time, with growing fencing numbers, and a dead holder\'s lease runs out', { timeout: 30_000 }, async () => {
    await using c = await cluster({ leaseMs: 300 });
    await using m = await c.Manager();
    const a = await m.Lock('leader');
    const b = await m.Lock('leader');
    assert.equal(await a.acquire(), true);
    const fenceA = a.fence;
    assert.equal(await b.acquire({ block: false }), false);
    assert.equal(await b.acquire({ timeout: 600 }), false); // a renews its lease while it holds the lock
    await a.release();
    await assert.rejects(a.release(), /release unlocked lock/);
    assert.equal(await b.withLock(() => b.fence > fenceA), true);
    // A holder that dies (here: a connection closed without releasing) frees the lock after its lease.
    const other = await connect({ url: URL, namespace: c.namespace, leaseMs: 300 });
    const dead = await (await other.Manager()).Lock('leader');
    assert.equal(await dead.acquire(), true);
    const deadFence = dead.fence;
    await other.close(); // (its renewals now fail; nothing releases the lock)
    const t0 = Date.now();
    assert.equal(await a.acquire({ timeout: 5000 }), true);
    assert.ok(Date.now() - t0 >= 100, 'taken only once the lease ran out');
    assert.ok(a.fence > deadFence);
    await a.release();
  });

  it('a Semaphore admits its limit across hosts, and a dead holder\'s place comes back after its lease', { timeout: 30_000 }, async () => {
    await using a = await cluster({ leaseMs: 300 });
    await using b = await connect({ url: URL, namespace: a.namespace, leaseMs: 300 });
    const sa = await (await a.Manager()).Semaphore(2, 'slots');
    const sb = await (await b.Manager()).Semaphore(5, 'slots'); // the first opener's limit holds
    assert.equal(await sa.acquire(), true);
    assert.equal(await sb.acquire(), true);
    assert.equal(await sb.getValue(), 0);
    assert.equal(await sa.acquire({ timeout: 600 }), false); // both holders renew their leases
    await sb.release();
    assert.equal(await sa.acquire({ timeout: 1000 }), true);
    await assert.rejects(sb.release(), RangeError);
    await b.close(); // nothing held there now
    const dying = await connect({ url: URL, namespace: a.namespace, leaseMs: 300 });
    const sd = await (await dying.Manager()).Semaphore(2, 'slots');
    await sa.release();
    assert.equal(await sd.acquire(), true);
    await dying.close(); // (its renewals stop; it never releases)
    assert.equal(await sa.acquire({ timeout: 5000 }), true); // the dead holder's lease ran out
    await assert.rejects(sa.withLock(() => 'inside', { timeout: 50 }), { name: 'TimeoutError' }); // full: sa holds both
    await sa.release();
    assert.equal(await sa.withLock(() => 'inside'), 'inside');
    await sa.release();
    assert.equal(await sa.getValue(), 2);
    await assert.rejects((await a.Manager()).Semaphore(-1), RangeError);
  });

  it('a Namespace reads with await ns.x and writes with ns.x = v, across hosts', { timeout: 30_000 }, async () => {
    await using a = await cluster();
    await using b = await connect({ url: URL, namespace: a.namespace });
    const na = await (await a.Manager()).Namespace('run', { phase: 'init' });
    const nb = await (await b.Manager()).Namespace('run');
    assert.equal(await nb.phase, 'init');
    nb.phase = 'work';
    nb.count = 3;
    assert.equal(await nb.count, 3); // (sent in order with this host's later calls)
    assert.equal(await na.phase, 'work');
    assert.equal(await na.absent, undefined);
    assert.throws(() => {
      na.bad = { f: () => 1 };
    }, /ns\.bad\.f is a function/);
    delete na.count;
    assert.equal(await na.phase, 'work');
    assert.equal(await nb.count, undefined);
  });

  it('an Event set on one host wakes a waiter on another; unnamed objects are deleted when their manager closes', { timeout: 30_000 }, async () => {
    await using a = await cluster();
    await using b = await connect({ url: URL, namespace: a.namespace });
    const ev = await (await a.Manager()).Event('ready');
    const evB = await (await b.Manager()).Event('ready');
    assert.equal(await ev.wait(50), false);
    setTimeout(() => void evB.set(), 100);
    assert.equal(await ev.wait(5000), true);
    await ev.clear();
    assert.equal(await evB.isSet(), false);

    const admin = createClient({ url: URL });
    await admin.connect();
    const m = await a.Manager();
    const scratch = await m.dict();
    await scratch.set('k', 1);
    assert.equal((await admin.keys(`${a.namespace}:manager:dict:unnamed:*`)).length, 1);
    await m.close();
    assert.equal((await admin.keys(`${a.namespace}:manager:dict:unnamed:*`)).length, 0);
    await admin.close();
  });
});
