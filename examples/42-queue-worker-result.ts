// Queue: a worker puts its result, the parent joins it and then reads the result (as Python's classic example).
import { Process, Queue } from 'multiproc';

const queue = new Queue<string>();
const p = new Process({
  target: async (q: Queue<string>) => {
    await q.put('Data from worker');
  },
  args: [queue],
  context: 'process',
});
p.start();
await p.join(); // the child flushed its put before exiting, as Python's feeder thread does
console.log(`Received from worker: ${await queue.get()}`);
