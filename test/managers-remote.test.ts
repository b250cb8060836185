// Remote managers: one program serves (getServer().serveForever(), or a
// started manager with an address), others connect over TCP with the authkey
// handshake. Only exposed methods can be called, a wrong key is refused, and
// garbage is answered with an error without hurting the server.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AuthenticationError, BaseManager, Client, ProcessError, RemoteError, SyncManager, getContext, task, type Address } from 'multiproc';
import { decodeResponse, encodeRequest, Kind } from '../src/managers/protocol.ts';
import { assertNoChildrenLeftAfter, fixture, methods } from './helpers.ts';

assertNoChildrenLeftAfter();

const AUTHKEY = 'abracadabra';

class QueueManager extends BaseManager {}
QueueManager.register('getQueue');
QueueManager.register('Counter');
QueueManager.register('OpenCounter');
QueueManager.register('ListedCounter');
const connectTo = async (address: Address, authkey = AUTHKEY): Promise<any> => {
  const m = new QueueManager({ address, authkey });
  await m.connect();
  return m;
};

function lines(child: ChildProcess): AsyncIterator<any> {
  let buffer = '';
  const queue: any[] = [];
  let wake: (() => void) | null = null;
  child.stdout!.on('data', (d) => {
    buffer += d;
    for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
      queue.push(JSON.parse(buffer.slice(0, i)));
      buffer = buffer.slice(i + 1);
      wake?.();
    }
  });
  return {
    async next() {
      while (queue.length === 0) await new Promise<void>((r) => (wake = r));
      return { value: queue.shift(), done: false };
    },
  };
}

describe('a manager served by another program over TCP', () => {
  let server: ChildProcess;
  let out: AsyncIterator<any>;
  let address: Address;
  before(async () => {
    server = spawn(process.execPath, ['--import', 'tsx', fixture('manager-server.ts'), AUTHKEY], { stdio: ['ignore', 'pipe', 'inherit'] });
    out = lines(server);
    ({ address } = (await out.next()).value);
  });
  after(() => {
    server.kill('SIGKILL');
  });

  it('a_client_with_a_wrong_authkey_is_refused_and_the_server_carries_on', async () => {
    await assert.rejects(connectTo(address, 'wrong key'), AuthenticationError);
    const m = await connectTo(address);
    const counter = await m.Counter();
    assert.equal(await counter.increment(2), 2);
  });

  it('one_program_serves_a_queue_and_others_use_it', async () => {
    const m = await connectTo(address);
    const q = await m.getQueue();
    await q.put('hello');
    const p = new (getContext('process').Process)({
      target: async (address: any, authkey: string) => {
        const { BaseManager } = await import('multiproc');
        class QueueManager extends BaseManager {}
        QueueManager.register('getQueue');
        const m = new QueueManager({ address, authkey });
        await m.connect();
        const q = await (m as any).getQueue();
        await q.put(`${await q.get()} back`);
      },
      args: [address, AUTHKEY],
    });
    p.start();
    await p.join();
    assert.equal(p.exitCode, 0);
    assert.equal(await q.get(), 'hello back');
  });

  it('a_remote_proxy_passed_to_a_child_reconnects_there', async () => {
    const m = await connectTo(address);
    const counter = await m.Counter();
    await counter.value(); // the connection is up
    const p = new (getContext('thread').Process)({
      target: async (counter: any) => {
        await counter.increment(5);
      },
      args: [counter],
    });
    p.start();
    await p.join();
    assert.equal(await counter.value(), 5);
  });

  it('only_exposed_methods_can_be_called_and_underscore_names_never', async () => {
    const m = await connectTo(address);
    const counter = await m.Counter();
    assert.equal(counter.secret, undefined, 'not exposed: the proxy has no such method');
    const open = await m.OpenCounter();
    assert.equal(await open.secret(), 'not for clients', 'exposed by default: every public method');
    assert.equal(open._internal, undefined);
    assert.throws(() => counter.valueSync(), ProcessError, 'remote proxies have no Sync calls');

    // The server enforces it too, whatever a client sends.
    const conn = await Client(address, { authkey: AUTHKEY });
    const oid = Number(/id: (\d+)/.exec(String(counter))![1]); // this test's Counter (held by `counter` below, so not collected)
    for (const method of ['secret', '_internal']) {
      await conn.sendBytes(encodeRequest({ kind: Kind.Call, client: 0, call: 7, oid, method, args: [] }));
      const res = decodeResponse(await conn.recvBytes());
      assert.equal(res.kind, Kind.Remote);
      assert.match((res.value as { message: string }).message, /not exposed/);
    }
    conn.close();
    assert.equal(await counter.value(), 0); // (keeps `counter` alive until here)
  });

  it('an_underscore_name_listed_in_exposed_is_exposed_as_in_python', async () => {
    const m = await connectTo(address);
    const listed = await m.ListedCounter();
    assert.equal(await listed._internal(), 'internal');
    assert.equal(await listed.value(), 0);
    assert.equal(listed.increment, undefined, 'unlisted: not exposed');
  });

  it('malformed_messages_are_answered_with_an_error_and_never_crash_the_server', async () => {
    const conn = await Client(address, { authkey: AUTHKEY });
    await conn.sendBytes(Buffer.from('garbage that is no request'));
    assert.equal(decodeResponse(await conn.recvBytes()).kind, Kind.Remote);
    await conn.sendBytes(encodeRequest({ kind: Kind.Call, client: 0, call: 8, oid: 99_999, method: 'value', args: [] }));
    const res = decodeResponse(await conn.recvBytes());
    assert.equal(res.kind, Kind.Remote);
    assert.match((res.value as { message: string }).message, /no shared object/);
    await conn.sendBytes(encodeRequest({ kind: Kind.Create, client: 0, call: 9, typeid: 'NoSuchType', args: [] }));
    assert.match((decodeResponse(await conn.recvBytes()).value as { message: string }).message, /unknown typeid/);
    conn.close();

    // A client cannot give back references it does not hold.
    const owner = await connectTo(address);
    const mine = await owner.Counter();
    await mine.increment();
    const stranger = await Client(address, { authkey: AUTHKEY });
    for (let oid = 1; oid < 50; oid++) await stranger.sendBytes(encodeRequest({ kind: Kind.Decref, client: 0, oid }));
    await stranger.sendBytes(encodeRequest({ kind: Kind.Describe, client: 0, call: 1 })); // (ordered after the Decrefs)
    await stranger.recvBytes();
    stranger.close();
    assert.equal(await mine.value(), 1, 'the object is still there');

    // Junk before the handshake: that connection is dropped, nothing else.
    const raw = net.connect({ host: (address as [string, number])[0], port: (address as [string, number])[1] });
    await new Promise((r) => raw.once('connect', r));
    raw.write(Buffer.from([0xff, 0xff, 0xff, 0xf0, 1, 2, 3]));
    raw.resume(); // (read the challenge, so that 'end' comes)
    await new Promise((r) => raw.once('end', r)); // the server hung up on it
    raw.destroy();

    const m = await connectTo(address);
    const counter = await m.Counter();
    assert.equal(await counter.increment(), 1);
  });

  it('disposing_a_connected_manager_closes_only_its_own_connection', async () => {
    let counter: any;
    {
      await using m = await connectTo(address);
      counter = await m.Counter();
      await counter.increment();
    }
    await assert.rejects(counter.value(), RemoteError, 'its proxies are cut off');
    const again = await connectTo(address); // the server still serves
    assert.equal(await (await again.Counter()).increment(3), 3);
  });

  it('a_connected_manager_can_shut_the_server_down', async () => {
    const m = await connectTo(address);
    const counter = await m.Counter();
    await m.shutdown();
    assert.deepEqual((await out.next()).value, { stopped: true });
    await assert.rejects(counter.value(), RemoteError);
    await new Promise((r) => server.once('exit', r));
  });
});

class TallyManager extends BaseManager {}
TallyManager.register('Tally', task(new URL('./fixtures/manager-types.ts', import.meta.url), 'makeTally'), {
  methodToTypeid: { branch: 'Tally' },
});
TallyManager.register('Shipped', () => ({ hello: (who: string) => `hello ${who}`, _hidden: () => 'no' }));
const limit = 3;
TallyManager.register('Captures', () => ({ limit }));

for (const method of methods) {
  describe(`a BaseManager subclass with registered types [${method}]`, () => {
    it('makes_objects_with_module_task_and_shipped_callables_and_returns_method_results_as_proxies', async () => {
      await using m: any = new TallyManager({ context: method });
      await m.start();
      const tally = await m.Tally();
      assert.equal(await tally.add('a', 2), 2);
      const branch = await tally.branch(); // methodToTypeid: a proxy, not a copy
      await branch.add('b');
      assert.equal(await branch.get('b'), 1);
      assert.equal(await tally.get('b'), 0);
      assert.deepEqual(await Promise.all([tally.slowAdd('s', 50), tally.add('s')]), [2, 1], 'a waiting call does not hold up the next');
      await assert.rejects(tally.fail(), { name: 'TypeError', message: 'tally says no' });
      const shipped = await m.Shipped();
      assert.equal(await shipped.hello('you'), 'hello you');
      assert.equal(shipped._hidden, undefined);
      await assert.rejects(m.Captures(), (err: Error) => err instanceof ReferenceError && /limit is not defined in the child/.test(err.message));
    });
  });
}

for (const method of methods) {
  describe(`a started manager with an address [${method}]`, () => {
    it('serves this program through shared memory and another client over TCP', async () => {
      await using m = new SyncManager({ address: ['127.0.0.1', 0], authkey: 'k', context: method });
      await m.start();
      const local = await m.dict();
      await local.set('from', 'local');
      const remote = new SyncManager({ address: m.address!, authkey: 'k' });
      await remote.connect();
      const d = await remote.dict<any>({ a: 1 });
      await d.set('b', local); // a proxy of the local client, stored through the TCP one
      assert.equal(await (await d.get('b')).get('from'), 'local');
      const l = await remote.list([1, 2]);
      await l.append(3);
      assert.deepEqual(await l.toArray(), [1, 2, 3]);
      await assert.rejects(new SyncManager({ address: m.address!, authkey: 'nope' }).connect(), AuthenticationError);
    });
  });
}
