import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { AuthenticationError, Client, EOFError, Listener, ProcessError, getContext, type SocketConnection } from 'multiproc';
import { assertNoChildrenLeftAfter, methods, tmpdir } from './helpers.ts';

assertNoChildrenLeftAfter();

/** Runs python3 code; resolves with its stdout once it exits 0. */
function python(code: string, onLine?: (line: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const py = spawn('python3', ['-c', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    py.stdout.on('data', (d) => {
      out += d;
      for (const line of String(d).split('\n').filter(Boolean)) onLine?.(line);
    });
    py.stderr.on('data', (d) => (err += d));
    py.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`python exited ${code}: ${err}`))));
  });
}

async function pair(authkey?: string): Promise<[Listener, SocketConnection, SocketConnection]> {
  const l = new Listener({ address: ['127.0.0.1', 0], authkey });
  await l.ready;
  const [server, client] = await Promise.all([l.accept(), Client(l.address, { authkey })]);
  return [l, server, client];
}

describe('Listener and Client', () => {
  it('binds port 0 to a real port and carries values and bytes both ways', async () => {
    const [l, server, client] = await pair('secret');
    assert.notEqual((l.address as [string, number])[1], 0);
    await client.send({ n: 1, big: 2n ** 65n, m: new Map([[1, 'a']]) });
    assert.deepEqual(await server.recv(), { n: 1, big: 2n ** 65n, m: new Map([[1, 'a']]) });
    await server.sendBytes(Buffer.from('raw'));
    assert.equal(String(await client.recvBytes()), 'raw');
    const into = new Uint8Array(8);
    await server.sendBytes(Buffer.from('abc'));
    assert.equal(await client.recvBytesInto(into, 2), 3);
    client.close();
    await assert.rejects(server.recv(), EOFError);
    server.close();
    l.close();
  });

  it('a wrong authkey fails on both sides and no data passes; the listener carries on', async () => {
    const l = new Listener({ authkey: 'right' });
    await l.ready;
    const [serverSide, clientSide] = await Promise.allSettled([l.accept(), Client(l.address, { authkey: 'wrong' })]);
    assert.ok(serverSide.status === 'rejected' && serverSide.reason instanceof AuthenticationError);
    assert.ok(clientSide.status === 'rejected' && clientSide.reason instanceof AuthenticationError);
    assert.ok(clientSide.reason instanceof ProcessError);
    const [server, client] = await Promise.all([l.accept(), Client(l.address, { authkey: 'right' })]);
    await client.send('after the failure');
    assert.equal(await server.recv(), 'after the failure');
    server.close();
    client.close();
    l.close();
  });

  it('a client without the key is refused by a listener that has one', async () => {
    const l = new Listener({ authkey: Buffer.from([1, 2, 3]) });
    await l.ready;
    const accepted = l.accept();
    const client = await Client(l.address);
    await assert.rejects(client.recv()); // it gets a challenge, not data
    client.close();
    await assert.rejects(accepted, AuthenticationError);
    l.close();
  });

  it('garbage and oversized frames close that connection with an error, and the listener carries on', async () => {
    const l = new Listener({ maxMessageSize: 1024 });
    await l.ready;
    const [port] = [(l.address as [string, number])[1]];
    for (const garbage of [Buffer.from([0xff, 0xff, 0xff, 0xf0, 1, 2]), Buffer.from([0, 0, 0x10, 0, 1])]) {
      const raw = net.connect({ host: '127.0.0.1', port });
      await new Promise((r) => raw.once('connect', r));
      const server = await l.accept();
      raw.write(garbage);
      await assert.rejects(server.recv(), /protocol error/);
      raw.destroy();
    }
    const [server, client] = await Promise.all([l.accept(), Client(l.address)]);
    await client.send('still serving');
    assert.equal(await server.recv(), 'still serving');
    server.close();
    client.close();
    l.close();
  });

  it('works over a Unix socket path', async () => {
    const address = path.join(tmpdir(), 'sock');
    const l = new Listener({ address, authkey: 'k' });
    await l.ready;
    assert.equal(l.address, address);
    const [server, client] = await Promise.all([l.accept(), Client(address, { authkey: 'k' })]);
    await server.send([1, 2]);
    assert.deepEqual(await client.recv(), [1, 2]);
    server.close();
    client.close();
    l.close();
  });

  it('a bind error rejects ready and accept', async () => {
    const first = new Listener();
    await first.ready;
    const second = new Listener({ address: first.address });
    await assert.rejects(second.ready, { code: 'EADDRINUSE' });
    await assert.rejects(second.accept(), { code: 'EADDRINUSE' });
    second.close();
    first.close();
  });

  it('Sync methods explain that sockets are asynchronous', async () => {
    const [l, server, client] = await pair();
    assert.throws(() => client.recvSync(), /asynchronous/);
    server.close();
    client.close();
    l.close();
  });
});

describe('Listener and Client with Python', () => {
  it('a Python Client talks to our Listener, right key', async () => {
    const l = new Listener({ authkey: 'secret' });
    await l.ready;
    const port = (l.address as [string, number])[1];
    const py = python(`
from multiprocessing.connection import Client
c = Client(('127.0.0.1', ${port}), authkey=b'secret')
c.send_bytes(b'from python')
print(c.recv_bytes().decode())
`);
    const conn = await l.accept();
    assert.equal(String(await conn.recvBytes()), 'from python');
    await conn.sendBytes(Buffer.from('hello python'));
    assert.equal((await py).trim(), 'hello python');
    conn.close();
    l.close();
  });

  it('a Python Client with a wrong key is refused on both sides', async () => {
    const l = new Listener({ authkey: 'secret' });
    await l.ready;
    const port = (l.address as [string, number])[1];
    const py = python(`
from multiprocessing.connection import Client
from multiprocessing import AuthenticationError
try:
    Client(('127.0.0.1', ${port}), authkey=b'nope')
    print('connected')
except AuthenticationError:
    print('refused')
`);
    await assert.rejects(l.accept(), AuthenticationError);
    assert.equal((await py).trim(), 'refused');
    l.close();
  });

  it('our Client talks to a Python Listener, and a wrong key is refused', async () => {
    let port = 0;
    const gotPort = new Promise<void>((resolve) => {
      void python(
        `
from multiprocessing.connection import Listener
from multiprocessing import AuthenticationError
l = Listener(('127.0.0.1', 0), authkey=b'k2')
print(l.address[1], flush=True)
try:
    l.accept()
except AuthenticationError:
    print('refused', flush=True)
c = l.accept()
c.send_bytes(c.recv_bytes() + b' back')
`,
        (line) => {
          if (!port) {
            port = Number(line);
            resolve();
          }
        },
      );
    });
    await gotPort;
    await assert.rejects(Client(['127.0.0.1', port], { authkey: 'bad' }), AuthenticationError);
    const c = await Client(['127.0.0.1', port], { authkey: 'k2' });
    await c.sendBytes(Buffer.from('to python'));
    assert.equal(String(await c.recvBytes()), 'to python back');
    c.close();
  });
});

for (const method of methods) {
  describe(`Listener with a child client [${method}]`, () => {
    it('a child connects with the key and sends a value', async () => {
      const l = new Listener({ authkey: 'family' });
      await l.ready;
      const p = new (getContext(method).Process)({
        target: async (address: [string, number]) => {
          const { Client } = await import('multiproc');
          const c = await Client(address, { authkey: 'family' });
          await c.send({ from: 'child' });
          c.close();
        },
        args: [l.address],
      });
      p.start();
      const conn = await l.accept();
      assert.deepEqual(await conn.recv(), { from: 'child' });
      await p.join();
      conn.close();
      l.close();
    });
  });
}
