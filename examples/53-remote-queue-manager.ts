// Remote manager: one program serves a queue over TCP, others connect with an authkey to put and get (Python docs: QueueManager).
//
// The three programs of Python's "Using a remote manager" example, in one file:
//   server:  QueueManager.register('get_queue', callable=lambda: queue)
//            m = QueueManager(address=('', 50000), authkey=b'abracadabra'); m.get_server().serve_forever()
//   put:     QueueManager.register('get_queue'); m = QueueManager(address=(host, 50000), authkey=b'abracadabra')
//            m.connect(); queue = m.get_queue(); queue.put('hello')
//   get:     the same, then queue.get()
//
// By hand, on two machines (the port must be reachable from the client machine):
//   server machine:  node --import tsx examples/53-remote-queue-manager.ts server 0.0.0.0 50000
//   client machine:  node --import tsx examples/53-remote-queue-manager.ts put server.example.org 50000
//                    node --import tsx examples/53-remote-queue-manager.ts get server.example.org 50000
//                    node --import tsx examples/53-remote-queue-manager.ts stop server.example.org 50000
// Without arguments (as `npm start` runs it) it plays all of them itself on 127.0.0.1, on a free port.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { AuthenticationError, BaseManager, Queue, type QueueProxy } from 'multiproc';

class QueueManager extends BaseManager {
  declare getQueue: () => Promise<QueueProxy<string>>; // added by register('getQueue')
}
const AUTHKEY = 'abracadabra';

// ---- the server program --------------------------------------------------------
async function server(host: string, port: number) {
  const queue = new Queue<string>();
  QueueManager.register('getQueue', () => queue); // the callable runs in this program: it may capture `queue`
  const m = new QueueManager({ address: [host, port], authkey: AUTHKEY });
  const s = m.getServer();
  await s.ready;
  console.log(JSON.stringify(s.address)); // the real port, when port 0 was asked
  await s.serveForever(); // until a client calls shutdown()
  console.log('server stopped');
  process.exit(0); // as Python's serve_forever() does: a client's get() still waiting on the queue would keep this program alive
}

// ---- the client programs -------------------------------------------------------
async function client(role: string, host: string, port: number) {
  QueueManager.register('getQueue'); // no callable: this side only connects
  const m = new QueueManager({ address: [host, port], authkey: AUTHKEY });
  await m.connect();
  if (role === 'stop') {
    console.log('asking the server to stop');
    await m.shutdown(); // a connected manager asks its server to stop
    return;
  }
  const queue = await m.getQueue();
  if (role === 'put') {
    await queue.put('hello');
    console.log("put 'hello'");
  } else {
    console.log(`got '${await queue.get()}'`);
  }
}

// ---- without arguments: run the server and the clients as separate programs ------
function program(...args: string[]) {
  return spawn(process.execPath, [...process.execArgv, import.meta.filename, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
}

async function run(...args: string[]) {
  const child = program(...args);
  const closed = once(child, 'close');
  for await (const line of createInterface({ input: child.stdout! })) console.log(`[${args[0]}] ${line}`);
  const [code] = await closed;
  if (code !== 0) throw new Error(`${args[0]} exited with ${code}`);
}

async function main() {
  const serverProgram = program('server', '127.0.0.1', '0');
  const serverClosed = once(serverProgram, 'close');
  const lines = createInterface({ input: serverProgram.stdout! })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done) throw new Error(`the server program exited with ${(await serverClosed)[0]}`);
  const [host, port] = JSON.parse(first.value) as [string, number];
  console.log(`[server] serving a queue on ${host}:${port}`);
  const serverEnded = (async () => {
    for await (const line of lines) console.log(`[server] ${line}`);
    return (await serverClosed)[0];
  })();
  try {
    await run('put', host, String(port));
    await run('get', host, String(port));

    // The handshake refuses a client with the wrong key.
    QueueManager.register('getQueue');
    const intruder = new QueueManager({ address: [host, port], authkey: 'open sesame' });
    try {
      await intruder.connect();
    } catch (err) {
      console.log(`wrong authkey: ${(err as Error).name}${err instanceof AuthenticationError ? ' (an AuthenticationError)' : ''}: ${(err as Error).message}`);
    }

    await run('stop', host, String(port));
  } catch (err) {
    serverProgram.kill(); // leave nothing behind
    throw err;
  }
  console.log(`server program exited with ${await serverEnded}`);
}

const [role, host = '127.0.0.1', port = '50000'] = process.argv.slice(2);
if (role === 'server') await server(host, Number(port));
else if (role) await client(role, host, Number(port));
else await main();
