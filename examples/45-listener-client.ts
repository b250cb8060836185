// Listener and Client with an authkey: a child connects back to the parent over TCP.
import { Client, Listener, Process } from 'multiproc';

await using listener = new Listener({ address: ['127.0.0.1', 0], authkey: 'secret password' });
await listener.ready;
const p = new Process({
  target: async (address: [string, number]) => {
    const { Client } = await import('multiproc');
    const conn = await Client(address, { authkey: 'secret password' });
    await conn.send(['hello', 42]);
    conn.close();
  },
  args: [listener.address],
  context: 'process',
});
p.start();
const conn = await listener.accept();
console.log('listener got', await conn.recv(), 'from an authenticated client');
conn.close();
await p.join();

// A wrong key is refused on both sides.
const [serverSide, clientSide] = await Promise.allSettled([listener.accept(), Client(listener.address, { authkey: 'guess' })]);
console.log('wrong key:', serverSide.status, (serverSide as PromiseRejectedResult).reason?.name, '/', clientSide.status);
