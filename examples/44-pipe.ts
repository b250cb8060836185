// Pipe: a sender and a receiver child (Python: parent_conn, child_conn = Pipe()), then a dict over a Pipe.
import { Pipe, Process, type Connection } from 'multiproc';

const [parentConn, childConn] = Pipe();
const sender = new Process({
  target: async (conn: Connection) => {
    await conn.send('Hello from sender');
    conn.close();
  },
  args: [parentConn],
});
const receiver = new Process({
  target: async (conn: Connection) => {
    console.log(`Receiver received: ${await conn.recv()}`);
    conn.close();
  },
  args: [childConn],
  context: 'process',
});
sender.start();
receiver.start();
await sender.join();
await receiver.join();

// A dict over a Pipe: the child sends, the parent receives; EOF once the child is done.
const [a, b] = Pipe();
const p = new Process({ target: async (conn: Connection) => conn.send({ data: [1, 2, 3] }), args: [b] });
p.start();
b.close(); // the parent's copy of the child's end
console.log('Received:', await a.recv());
await p.join();
try {
  await a.recv();
} catch (err) {
  console.log(`then ${(err as Error).name}: the child closed its end`);
}
