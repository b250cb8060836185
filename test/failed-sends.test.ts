// Sending is all-or-nothing: a message with a value structured clone refuses
// (a WeakMap, a Promise, a WeakRef) fails with a TypeError naming it, and one
// with a shareable that cannot be sent (a closed Connection, a released
// proxy) fails too. Either way the shareables that went into the message
// before the failure are left as they were — a Connection's other end still
// sees EOF once it is closed, a manager proxy's object is still freed once
// the proxy is released — and the channel it was sent on still works.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Full, Manager, Pipe, Queue, getContext, releaseProxy, type Connection, type SyncManager } from 'multiproc';
import { assertNoChildrenLeftAfter, methods } from './helpers.ts';

assertNoChildrenLeftAfter();

/** Values structured clone refuses, made fresh, each with the class its error names. */
const culprits = (): [unknown, string][] => [
  [new WeakMap(), 'WeakMap'],
  [Promise.resolve(), 'Promise'],
  [new WeakRef({}), 'WeakRef'],
  [detachedBuffer(), 'ArrayBuffer'], // (refused only when serializing, after the shareables before it)
];

function detachedBuffer(): ArrayBuffer {
  const buffer = new ArrayBuffer(8);
  structuredClone(buffer, { transfer: [buffer] });
  return buffer;
}

/** A closed Connection: sending it fails while the message is encoded, after what comes before it. */
function closedConnection(): Connection {
  const [a, b] = Pipe();
  a.close();
  b.close();
  return a;
}

/** The TypeError of an unsendable `name` at `path` (a regular expression's source). */
const refused = (path: string, name: string) => ({ name: 'TypeError', message: new RegExp(`^${path} \\(an? ${name}\\) cannot be sent`) });

/**
 * A child's target: takes one message from `channel` (a Queue or a
 * Connection, when given), then reads `conn` until EOF, and puts everything
 * it saw on `out`, ending with 'EOFError' (or 'no EOF' after 20 s).
 */
async function readUntilEof(channel: Queue<unknown> | Connection | null, conn: Connection, out: Queue<unknown[]>): Promise<void> {
  const seen: unknown[] = [];
  if (channel) seen.push(await ('get' in channel ? channel.get() : channel.recv()));
  for (;;) {
    if (!(await conn.poll(20_000))) {
      seen.push('no EOF');
      break;
    }
    try {
      seen.push(await conn.recv());
    } catch (err) {
      seen.push((err as Error).name);
      break;
    }
  }
  await out.put(seen);
}

for (const method of methods) {
  const Process = getContext(method).Process;

  describe(`a Connection sent beside an unsendable value [${method}]`, () => {
    it('Queue.put throws a TypeError naming the value; the queue still works and the Connection still reaches EOF', { timeout: 60_000 }, async () => {
      const q = new Queue<unknown>();
      const out = new Queue<unknown[]>();
      const [mine, theirs] = Pipe();
      for (const [culprit, name] of culprits()) {
        await assert.rejects(q.put([mine, culprit]), refused('item\\[1\\]', name));
        assert.throws(() => q.putSync({ conn: mine, culprit }), refused('item\\.culprit', name));
      }
      await assert.rejects(q.put([mine, closedConnection()]), /cannot send a closed connection/);
      const p = new Process({ target: readUntilEof, args: [q, theirs, out] });
      p.start();
      await q.put('through the queue');
      await mine.send('through the pipe');
      mine.close();
      assert.deepEqual(await out.get(), ['through the queue', 'through the pipe', 'EOFError']);
      await p.join();
      assert.equal(p.exitCode, 0);
      theirs.close();
    });

    it('a put a full bounded queue refuses (at once, after a timeout, or when its wait is aborted) leaves a Connection in it as it was', { timeout: 60_000 }, async () => {
      const q = new Queue<unknown>(1);
      const out = new Queue<unknown[]>();
      const [mine, theirs] = Pipe();
      await q.put('filled the queue');
      assert.throws(() => q.putNowait([mine]), Full);
      assert.throws(() => q.putSync([mine], { timeout: 20 }), Full);
      await assert.rejects(q.put([mine], { timeout: 20 }), Full);
      const aborted = new AbortController();
      const waiting = q.put([mine], { signal: aborted.signal });
      aborted.abort(new Error('gave up'));
      await assert.rejects(waiting, /gave up/);
      const p = new Process({ target: readUntilEof, args: [q, theirs, out] });
      p.start();
      await mine.send('through the pipe');
      mine.close();
      assert.deepEqual(await out.get(), ['filled the queue', 'through the pipe', 'EOFError']);
      await p.join();
      assert.equal(p.exitCode, 0);
      theirs.close();
    });

    it('Connection.send throws a TypeError naming the value; the pipe still works and the Connection still reaches EOF', { timeout: 60_000 }, async () => {
      const [carrier, carried] = Pipe();
      const out = new Queue<unknown[]>();
      const [mine, theirs] = Pipe();
      for (const [culprit, name] of culprits()) {
        await assert.rejects(carrier.send([mine, culprit]), refused('obj\\[1\\]', name));
        assert.throws(() => carrier.sendSync({ conn: mine, culprit }), refused('obj\\.culprit', name));
      }
      await assert.rejects(carrier.send([mine, closedConnection()]), /cannot send a closed connection/);
      const p = new Process({ target: readUntilEof, args: [carried, theirs, out] });
      p.start();
      await carrier.send('through the carrier');
      await mine.send('through the pipe');
      mine.close();
      assert.deepEqual(await out.get(), ['through the carrier', 'through the pipe', 'EOFError']);
      await p.join();
      assert.equal(p.exitCode, 0);
      for (const c of [carrier, carried, theirs]) c.close();
    });

    it('Process.start with it and the value in args (or the value in kwargs) throws a TypeError naming the value; the Connection still reaches EOF', { timeout: 60_000 }, async () => {
      const out = new Queue<unknown[]>();
      const [mine, theirs] = Pipe();
      const noop = () => {};
      for (const [culprit, name] of culprits()) {
        assert.throws(() => new Process({ target: noop, args: [mine, culprit] }).start(), refused('args\\[1\\]', name));
        assert.throws(() => new Process({ target: noop, args: [mine], kwargs: { culprit } }).start(), refused('kwargs\\.culprit', name));
      }
      assert.throws(() => new Process({ target: noop, args: [mine, closedConnection()] }).start(), /cannot send a closed connection/);
      const p = new Process({ target: readUntilEof, args: [null, theirs, out] });
      p.start();
      await mine.send('through the pipe');
      mine.close();
      assert.deepEqual(await out.get(), ['through the pipe', 'EOFError']);
      await p.join();
      assert.equal(p.exitCode, 0);
      theirs.close();
    });
  });

  describe(`a manager proxy sent beside an unsendable value [${method}]`, () => {
    let m: SyncManager;
    before(async () => {
      m = await Manager({ context: method });
    });
    after(async () => {
      await m.shutdown();
    });

    it('every failed send leaves no reference behind: the object is freed once its proxy is released', { timeout: 60_000 }, async () => {
      const list = await m.list<unknown>();
      const objects = await m._numberOfObjects();
      const dict = await m.dict<number>();
      const q = new Queue<unknown>();
      const [a, b] = Pipe();
      for (const [culprit, name] of culprits()) {
        await assert.rejects(q.put([dict, culprit]), refused('item\\[1\\]', name));
        await assert.rejects(a.send([dict, culprit]), refused('obj\\[1\\]', name));
        assert.throws(() => new Process({ target: () => {}, args: [dict, culprit] }).start(), refused('args\\[1\\]', name));
        await assert.rejects(list.append([dict, culprit]), refused('args\\[0\\]\\[1\\]', name));
        // The proxy goes as the first argument of a call whose second one cannot be sent.
        await assert.rejects(list.index(dict, culprit as number), refused('args\\[1\\]', name));
      }
      // A released proxy fails while the message is encoded, after the proxy before it.
      const released = await m.dict();
      releaseProxy(released);
      await assert.rejects(q.put([dict, released]), /proxy was released/);
      await assert.rejects(list.append([dict, released]), /proxy was released/);
      await dict.set('k', 1);
      assert.equal(await dict.get('k'), 1, 'the proxy still works');
      assert.equal(await m._numberOfObjects(), objects + 1);
      releaseProxy(dict);
      assert.equal(await m._numberOfObjects(), objects, 'the dict was freed');
      releaseProxy(list);
      a.close();
      b.close();
    });
  });
}
