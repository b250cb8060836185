// Event and Barrier: workers wait for a start signal, meet at a barrier, and one of them runs the barrier's action.
import { Barrier, Event, Process, Queue } from 'multiproc';

async function worker(start: Event, barrier: Barrier, results: Queue<string>, id: number) {
  await start.wait();
  const index = await barrier.wait();
  await results.put(`worker ${id} passed the barrier as party ${index}`);
}

const start = new Event();
const barrier = new Barrier(3, { action: () => console.log('all three arrived: the last one runs the action') });
const results = new Queue<string>();
const workers = [1, 2, 3].map((id) => new Process({ target: worker, args: [start, barrier, results, id], context: id === 2 ? 'process' : 'thread' }));
for (const w of workers) w.start();
console.log('workers started; setting the event');
start.set();
for (let i = 0; i < 3; i++) console.log(await results.get());
for (const w of workers) await w.join();
