import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BufferTooShort, EOFError, Pipe, Queue, getContext, wait, type Connection, type StartMethod } from 'multiproc';
import { assertNoChildrenLeftAfter, methods } from './helpers.ts';

assertNoChildrenLeftAfter();

describe('Pipe in one process', () => {
  it('a duplex pipe carries values both ways', async () => {
    const [a, b] = Pipe();
    await a.send({ x: [1, 2], when: new Date(0) });
    assert.deepEqual(await b.recv(), { x: [1, 2], when: new Date(0) });
    b.sendSync('back');
    assert.equal(a.recvSync(), 'back');
    assert.equal(a.readable && a.writable, true);
  });

  it('a one-way pipe is [readerEnd, writerEnd]', async () => {
    const [r, w] = Pipe(false);
    assert.equal(r.readable, true);
    assert.equal(r.writable, false);
    assert.equal(w.readable, false);
    await w.send(1);
    assert.equal(await r.recv(), 1);
    await assert.rejects(r.send(1), /read-only/);
    await assert.rejects(w.recv(), /write-only/);
  });

  it('sendBytes/recvBytes with offset and size; empty messages pass', async () => {
    const [a, b] = Pipe();
    await a.sendBytes(Buffer.from('hello world'), 6, 5);
    await a.sendBytes(new Uint8Array(0));
    assert.equal(String(await b.recvBytes()), 'world');
    assert.equal((await b.recvBytes()).length, 0);
    assert.throws(() => a.sendBytesSync(Buffer.from('abc'), 2, 5), RangeError);
  });

  it('recvBytesInto writes at a byte offset, and BufferTooShort carries the consumed message', async () => {
    const [a, b] = Pipe();
    const buf = new Int32Array(4);
    await a.sendBytes(new Uint8Array([1, 0, 0, 0]));
    assert.equal(await b.recvBytesInto(buf, 4), 4);
    assert.deepEqual([...buf], [0, 1, 0, 0]);
    await a.sendBytes(new Uint8Array(32).fill(9));
    await assert.rejects(b.recvBytesInto(buf), (err: BufferTooShort) => err instanceof BufferTooShort && err.data?.length === 32);
    await a.send('next');
    assert.equal(await b.recv(), 'next');
  });

  it('recvBytesInto takes large and chunked messages whole, and refuses one that does not fit without losing the next', async () => {
    const [a, b] = Pipe(true, { bufferSize: 64 * 1024 }); // messages over 16 KiB go in chunks
    const buf = new Uint8Array(100_000);
    for (const size of [5000, 16 * 1024, 70_000, 100_000]) {
      const msg = new Uint8Array(size).map((_, i) => (i * 7 + size) % 251);
      const [got] = await Promise.all([b.recvBytesInto(buf), a.sendBytes(msg)]); // (a chunked message needs the reader to make room)
      assert.equal(got, size);
      assert.deepEqual(buf.subarray(0, size), msg, `${size} bytes`);
    }
    const tooBig = a.sendBytes(new Uint8Array(100_001).fill(3));
    await assert.rejects(b.recvBytesInto(buf), (err: BufferTooShort) => err instanceof BufferTooShort && err.data?.length === 100_001 && err.data[100_000] === 3);
    await tooBig;
    buf.fill(0);
    await a.sendBytes(new Uint8Array([4, 5]));
    assert.equal(await b.recvBytesInto(buf, 10), 2);
    assert.deepEqual([...buf.subarray(10, 12)], [4, 5]);
  });

  it('recvBytes(maxlength) refuses a longer message, and the pipe still works', async () => {
    const [a, b] = Pipe();
    await a.sendBytes(Buffer.alloc(10));
    await assert.rejects(b.recvBytes(5), /bad message length/);
    await a.send('ok');
    assert.equal(await b.recv(), 'ok');
  });

  it('poll waits up to its timeout', async () => {
    const [a, b] = Pipe();
    assert.equal(await b.poll(), false);
    assert.equal(await b.poll(20), false);
    assert.equal(b.pollSync(10), false);
    setTimeout(() => void a.send(1), 20);
    assert.equal(await b.poll(5_000), true);
    assert.equal(b.pollSync(), true);
  });

  it('an unsendable value is a TypeError and the pipe still works', async () => {
    const [a, b] = Pipe();
    await assert.rejects(a.send({ f: () => {} }), { name: 'TypeError', message: /obj\.f is a function/ });
    await a.send(2);
    assert.equal(await b.recv(), 2);
  });

  it('EOFError once the other end is closed and drained; a closed handle says so', async () => {
    const [a, b] = Pipe();
    await a.send('last');
    a.close();
    assert.equal(a.closed, true);
    assert.equal(await b.recv(), 'last');
    await assert.rejects(b.recv(), EOFError);
    assert.throws(() => b.recvSync(), EOFError);
    assert.equal(await b.poll(), true); // EOF counts as ready
    await assert.rejects(a.send(1), /closed/);
  });

  it('send on a pipe whose other end is closed fails with EPIPE, and the end can still read what was sent to it', async () => {
    const [a, b] = Pipe();
    await b.send('before');
    b.close();
    await assert.rejects(a.send('x'), { code: 'EPIPE', message: /other end of the pipe is closed/ });
    assert.throws(() => a.sendSync('x'), { code: 'EPIPE' });
    await assert.rejects(a.sendBytes(new Uint8Array(1)), { code: 'EPIPE' });
    assert.equal(await a.recv(), 'before');
    const [r, w] = Pipe(false);
    r.close();
    assert.throws(() => w.sendBytesSync(new Uint8Array(1)), { code: 'EPIPE' });
  });

  it('send to a pipe whose reader is closed fails instead of waiting forever', async () => {
    const [r, w] = Pipe(false, { bufferSize: 4096 });
    r.close();
    await assert.rejects(w.sendBytes(new Uint8Array(64 * 1024)), { code: 'EPIPE' });
  });

  it('wait() returns the ready connections, queues and sentinels', async () => {
    const [r1, w1] = Pipe(false);
    const [r2] = Pipe(false);
    const q = new Queue();
    assert.deepEqual(await wait([r1, r2, q], 20), []);
    await w1.send('x');
    await q.put(1);
    assert.deepEqual(await wait([r1, r2, q], 1000), [r1, q]);
    setTimeout(() => void q.get(), 10);
  });
});

for (const method of [...methods, 'mixed'] as const) {
  const ctx = (i: number) => getContext(method === 'mixed' ? ((i % 2 ? 'process' : 'thread') as StartMethod) : method);
  describe(`Pipe between processes [${method}]`, () => {
    it('send fails with EPIPE once the child holding the other end closed it, or was killed', { timeout: 60_000 }, async () => {
      for (const how of ['close', 'kill'] as const) {
        const [mine, theirs] = Pipe();
        const ready = new (getContext('thread').Event)();
        const p = new (getContext(method === 'mixed' ? 'process' : method).Process)({
          target: async (conn: Connection, ev: { set(): void }, close: boolean) => {
            if (close) conn.close();
            ev.set();
            await new Promise((r) => setTimeout(r, 60_000));
          },
          args: [theirs, ready, how === 'close'],
        });
        p.start();
        theirs.close();
        assert.equal(await ready.wait(20_000), true);
        if (how === 'kill') {
          p.kill();
          await p.join();
        }
        let err: unknown = null;
        const deadline = Date.now() + 10_000;
        while (!err && Date.now() < deadline) {
          err = await mine.send('x').then(() => null, (e: unknown) => e);
          if (!err) await new Promise((r) => setTimeout(r, 20));
        }
        assert.equal((err as { code?: string } | null)?.code, 'EPIPE', String(err));
        if (how === 'close') {
          p.kill();
          await p.join();
        }
      }
    });

    it('sender and receiver children, as the seed example', async () => {
      const [parentConn, childConn] = Pipe();
      const sender = new (ctx(0).Process)({
        target: async (conn: Connection) => {
          await conn.send('Hello from sender');
          conn.close();
        },
        args: [parentConn],
      });
      const results = new Queue<string>();
      const receiver = new (ctx(1).Process)({
        target: async (conn: Connection, results: Queue<string>) => {
          await results.put(await conn.recv());
          conn.close();
        },
        args: [childConn, results],
      });
      sender.start();
      receiver.start();
      assert.equal(await results.get(), 'Hello from sender');
      await sender.join();
      await receiver.join();
    });

    it('the parent sees EOF when the child, the last holder of the other end, ends', async () => {
      const [a, b] = Pipe();
      const p = new (ctx(1).Process)({ target: async (conn: Connection) => { await conn.send({ data: [1, 2, 3] }); }, args: [b] });
      p.start();
      b.close(); // the parent's copy; the child still holds its own
      assert.deepEqual(await a.recv(), { data: [1, 2, 3] });
      await assert.rejects(a.recv(), EOFError);
      await p.join();
    });

    it('a 4 MiB message and a ping-pong of 1000 round trips (sync in the child)', async () => {
      const [a, b] = Pipe();
      const p = new (ctx(1).Process)({
        target: (conn: Connection) => {
          for (;;) {
            const x = conn.recvSync();
            if (x === null) return;
            conn.sendSync(x);
          }
        },
        args: [b],
      });
      p.start();
      const big = new Float64Array(512 * 1024).map((_, i) => i);
      await a.send(big);
      assert.deepEqual(await a.recv(), big);
      for (let i = 0; i < 1000; i++) {
        await a.send(i);
        assert.equal(await a.recv(), i);
      }
      await a.send(null);
      await p.join();
      assert.equal(p.exitCode, 0);
    });

    it('every chunked message arrives whole: 300 × 64 KiB through a 64 KiB ring', async () => {
      const [r, w] = Pipe(false, { bufferSize: 64 * 1024 });
      const [ackR, ackW] = Pipe(false);
      const p = new (ctx(1).Process)({
        target: (r: Connection, ack: Connection, n: number) => {
          const buf = new Uint8Array(64 * 1024);
          let whole = 0;
          for (let i = 0; i < n; i++) {
            const len = r.recvBytesIntoSync(buf);
            if (len === buf.length && buf[0] === i % 251 && buf[len - 1] === i % 251) whole++;
          }
          ack.sendSync(whole);
        },
        args: [r, ackW, 300],
      });
      p.start();
      for (let i = 0; i < 300; i++) await w.sendBytes(new Uint8Array(64 * 1024).fill(i % 251));
      assert.equal(await ackR.recv(), 300);
      await p.join();
    });

    it('a child killed mid-send leaves the pipe usable', async () => {
      const [a, b] = Pipe(true, { bufferSize: 4096 });
      const p = new (ctx(1).Process)({
        target: (conn: Connection) => {
          for (let i = 1; ; i++) conn.sendBytesSync(new Uint8Array(50_000).fill(i % 250));
        },
        args: [b],
      });
      p.start();
      const first = await a.recvBytes();
      assert.ok(first.every((x) => x === first[0]));
      p.kill();
      await p.join();
      // Whatever is left is whole, then EOF (the only other holder of b, the parent, closes it).
      b.close();
      for (;;) {
        try {
          const m = await a.recvBytes();
          assert.ok(m.length === 50_000 && m.every((x) => x === m[0]), 'half a message was delivered');
        } catch (err) {
          assert.ok(err instanceof EOFError);
          break;
        }
      }
    });
  });
}
