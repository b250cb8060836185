// Manager proxies: every method of list, dict, Namespace, Value and Array,
// errors from the referent, unsendable arguments, nesting, proxies through
// queues and pipes and to children of both kinds, references. Each server
// context ('thread', 'process') runs the whole file.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Manager, Pipe, ProcessError, Queue, RemoteError, _decode, _encode, getContext, releaseProxy, type StartMethod, type SyncManager } from 'multiproc';
import { assertNoChildrenLeftAfter, fixture, methods, runScript } from './helpers.ts';

assertNoChildrenLeftAfter();

for (const method of methods) {
  const other: StartMethod = method === 'thread' ? 'process' : 'thread';
  describe(`a manager whose server is a ${method} child`, () => {
    let m: SyncManager;
    before(async () => {
      m = await Manager({ context: method });
    });
    after(async () => {
      await m.shutdown();
    });

    it('list_proxy_has_every_list_method', async () => {
      const l = await m.list<unknown>([3, 1, 2]);
      await l.append(4);
      await l.extend([5, 6]);
      await l.insert(0, 0);
      await l.insert(-1, 5.5);
      assert.deepEqual(await l.toArray(), [0, 3, 1, 2, 4, 5, 5.5, 6]);
      assert.equal(await l.pop(), 6);
      assert.equal(await l.pop(0), 0);
      await l.remove(5.5);
      assert.equal(await l.index(2), 2);
      assert.equal(await l.count(1), 1);
      await l.sort();
      assert.deepEqual(await l.toArray(), [1, 2, 3, 4, 5]);
      await l.sort({ reverse: true });
      await l.reverse();
      assert.equal(await l.get(-1), 5);
      await l.set(0, 10);
      await l.delete(1);
      assert.deepEqual(await l.slice(0, 2), [10, 3]);
      assert.equal(await l.length(), 4);
      assert.equal(await l.includes(10), true);
      assert.equal(await l.includes({ a: 1 }), false);
      await l.append({ a: 1 });
      assert.equal(await l.includes({ a: 1 }), true, 'values compare as Python == (deep equality)');
      await l.clear();
      assert.equal(await l.length(), 0);
    });

    it('list_errors_come_back_as_range_errors_with_the_server_stack_and_the_list_still_works', async () => {
      const l = await m.list<number>();
      await assert.rejects(l.pop(), (err: Error & { remoteStack?: string }) => {
        assert.ok(err instanceof RangeError);
        assert.equal(err.message, 'pop from empty list');
        assert.match(err.remoteStack ?? '', /ListReferent/);
        return true;
      });
      await assert.rejects(l.get(3), { name: 'RangeError', message: 'list index out of range' });
      await assert.rejects(l.remove(7), RangeError);
      await assert.rejects(l.index(7), RangeError);
      await assert.rejects(l.get(1.5 as number), TypeError);
      await l.append(1);
      assert.deepEqual(await l.toArray(), [1]);
    });

    it('an_unsendable_argument_is_a_type_error_naming_it_and_nothing_is_sent', async () => {
      const l = await m.list<unknown>([1]);
      await assert.rejects(l.append({ f: () => 1 }), { name: 'TypeError', message: /args\[0\]\.f is a function/ });
      assert.throws(() => l.appendSync(Symbol('s')), TypeError);
      await l.append(2);
      assert.deepEqual(await l.toArray(), [1, 2]);
    });

    it('dict_proxy_has_every_dict_method', async () => {
      const d = await m.dict<number>({ a: 1 });
      await d.set('b', 2);
      await d.set(3, 3);
      assert.equal(await d.get('a'), 1);
      assert.equal(await d.get('missing'), undefined, 'a missing key is not an error');
      assert.equal(await d.get('missing', 7), 7);
      assert.equal(await d.has('b'), true);
      assert.deepEqual(await d.keys(), ['a', 'b', 3]);
      assert.deepEqual(await d.values(), [1, 2, 3]);
      assert.deepEqual(await d.items(), [['a', 1], ['b', 2], [3, 3]]);
      await d.update({ c: 4 });
      await d.update([['e', 5]]);
      assert.equal(await d.pop('e'), 5);
      assert.equal(await d.pop('e', 0), 0);
      await assert.rejects(d.pop('e'), { name: 'RangeError', message: "KeyError: 'e'" });
      assert.deepEqual(await d.popitem(), ['c', 4]);
      assert.equal(await d.setdefault('z', 9), 9);
      assert.equal(await d.setdefault('z', 10), 9);
      await d.delete('z');
      await assert.rejects(d.delete('z'), RangeError);
      assert.equal(await d.length(), 3);
      assert.deepEqual(await d.toObject(), { a: 1, b: 2, 3: 3 });
      assert.deepEqual(await d.toMap(), new Map<unknown, number>([['a', 1], ['b', 2], [3, 3]]));
      await assert.rejects(d.set({ k: 1 } as never, 1), { name: 'TypeError', message: /unhashable/ });
      await d.clear();
      assert.equal(await d.length(), 0);
    });

    it('namespace_reads_and_writes_attributes', async () => {
      const ns = await m.Namespace({ a: 1 });
      ns.x = 5; // sent in order with this thread's other calls
      assert.equal(await ns.x, 5);
      assert.equal(await ns.a, 1);
      assert.equal(await ns.missing, undefined);
      await ns.set('y', [1, 2]);
      assert.deepEqual(await ns.get('y'), [1, 2]);
      assert.equal(await ns.has('y'), true);
      await ns.delete('y');
      assert.deepEqual(await ns.toObject(), { a: 1, x: 5 });
      assert.throws(() => (ns.bad = () => 1), TypeError, 'an unsendable attribute value throws at once');
      assert.equal(await ns.x, 5);
    });

    it('a_timeout_longer_than_setTimeouts_limit_still_waits', async () => {
      const q = await m.Queue();
      const ac = new AbortController();
      const get = q.get({ timeout: 30 * 24 * 3600 * 1000, signal: ac.signal });
      const early = await Promise.race([get.then(() => 'settled', () => 'settled'), new Promise((r) => setTimeout(() => r('waiting'), 200))]);
      assert.equal(early, 'waiting');
      ac.abort();
      await assert.rejects(get, { name: 'AbortError' });
    });

    it('value_and_array_proxies_follow_their_typecodes', async () => {
      const v = await m.Value('i', 7);
      assert.equal(await v.get(), 7);
      await v.set(8);
      assert.equal(await v.value, 8);
      v.value = 9;
      assert.equal(await v.get(), 9);
      await assert.rejects(v.set('x' as never), TypeError);
      const a = await m.Array('d', [1.5, 2.5]);
      assert.equal(await a.length(), 2);
      await a.set(1, 4);
      assert.equal(await a.get(-1), 4);
      assert.deepEqual(await a.toArray(), [1.5, 4]);
      await assert.rejects(a.get(2), RangeError);
      const q = await m.Array('q', 2);
      assert.deepEqual(await q.toArray(), [0n, 0n]);
    });

    it('a_dict_holding_a_list_proxy_updates_the_same_list', async () => {
      const d = await m.dict();
      const l = await m.list([1]);
      await d.set('inner', l);
      const inner = await d.get('inner');
      await inner.append(2);
      assert.deepEqual(await l.toArray(), [1, 2]);
      const outer = await m.list([l]);
      await (await outer.get(0)).append(3);
      assert.deepEqual(await l.toArray(), [1, 2, 3]);
    });

    for (const childMethod of [method, other]) {
      it(`proxies_passed_to_a_${childMethod}_child_reach_the_same_objects_async_and_sync`, async () => {
        const l = await m.list<number>();
        const d = await m.dict();
        const ns = await m.Namespace();
        const p = new (getContext(childMethod).Process)({
          target: async (l: any, d: any, ns: any) => {
            await l.append(1);
            l.appendSync(2);
            await d.set('k', 'v');
            d.setSync('n', await l.length());
            ns.who = 'child';
            ns.setSync('sync', d.getSync('k'));
          },
          args: [l, d, ns],
        });
        p.start();
        await p.join();
        assert.equal(p.exitCode, 0);
        assert.deepEqual(await l.toArray(), [1, 2]);
        assert.deepEqual(await d.toObject(), { k: 'v', n: 2 });
        assert.equal(await ns.who, 'child');
        assert.equal(await ns.sync, 'v');
      });
    }

    it('proxies_travel_through_a_queue_and_a_pipe', async () => {
      const l = await m.list<string>();
      const q = new Queue<unknown>();
      const [a, b] = Pipe();
      const p = new (getContext(other).Process)({
        target: async (q: any, conn: any) => {
          const viaQueue = await q.get();
          await viaQueue.append('queue');
          const viaPipe = await conn.recv();
          await viaPipe.append('pipe');
          await conn.send(viaPipe); // and back again
        },
        args: [q, b],
      });
      p.start();
      await q.put(l);
      await a.send({ nested: [l] }.nested[0]);
      const back = await a.recv<any>();
      await back.append('back');
      await p.join();
      assert.deepEqual(await l.toArray(), ['queue', 'pipe', 'back']);
      a.close();
      b.close();
    });

    it('a_proxy_prints_as_its_type_and_id_and_is_not_a_thenable', async () => {
      const l = await m.list();
      const ns = await m.Namespace();
      assert.match(`${l}`, /^ListProxy \{ typeid: 'list', id: \d+ \}$/);
      assert.match(String(ns), /^NamespaceProxy/);
      assert.equal(typeof ns.then, 'undefined');
      assert.equal(await Promise.resolve(l), l);
    });

    it('a_released_proxy_refuses_calls', async () => {
      const l = await m.list<number>();
      releaseProxy(l);
      await assert.rejects(l.append(1), (err: Error) => err instanceof ProcessError && /released/.test(err.message));
      assert.throws(() => l.lengthSync(), /released/);
    });

    it('an_object_is_freed_once_every_reference_is_given_back', async () => {
      const l = await m.list([1]);
      const bytes = _encode(l); // a proxy in flight holds a reference
      const copy = bytes.slice();
      const received = _decode<any>(bytes);
      releaseProxy(l);
      assert.deepEqual(await received.toArray(), [1], 'the received proxy keeps the object alive');
      releaseProxy(received);
      const late = _decode<any>(copy); // the same reference, received twice: it was already taken over
      await assert.rejects(late.toArray(), (err: Error) => err instanceof RemoteError && /no shared object/.test(err.message));
    });
  });
}

describe('references to shared objects', () => {
  it('an_object_goes_when_its_proxies_are_released_or_collected', async () => {
    const m = await Manager();
    const l = await m.list();
    assert.equal(await m._numberOfObjects(), 1);
    releaseProxy(l);
    await m.list(); // (ordered after the release)
    assert.equal(await m._numberOfObjects(), 1);
    await m.shutdown();
    for (const method of methods) {
      const r = await runScript(fixture('manager-gc.ts'), [method], { execArgv: ['--expose-gc'] });
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.made, out.before + 20);
      assert.equal(out.after, out.before, 'collected proxies gave their references back');
      assert.deepEqual(out.kept, [1]);
    }
  });
});

describe('a manager after shutdown', () => {
  it('fails calls of proxies still held with RemoteError, at once', async () => {
    const m = await Manager();
    const l = await m.list([1]);
    await m.shutdown();
    await assert.rejects(l.append(2), (err: Error) => err instanceof RemoteError && /shut down/.test(err.message));
    assert.throws(() => l.appendSync(2), RemoteError);
    await assert.rejects(m.list(), /shut down/);
    await m.shutdown(); // twice is fine
  });

  it('await using shuts it down at the end of the scope', async () => {
    let l: any;
    {
      await using m = await Manager();
      l = await m.list();
      await l.append(1);
    }
    await assert.rejects(l.append(2), RemoteError);
  });
});
