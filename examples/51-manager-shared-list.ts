// Manager: a shared list appended to by five children (Python: manager.list(), Process(target=append_item, args=(shared_list, i))).
import { Manager, Process, type ListProxy } from 'multiproc';

async function appendItem(sharedList: ListProxy<number>, item: number) {
  await sharedList.append(item);
}

await using manager = await Manager(); // with Manager() as manager:
const sharedList = await manager.list<number>();

const processes = Array.from({ length: 5 }, (_, i) => new Process({ target: appendItem, args: [sharedList, i] }));
for (const p of processes) p.start();
for (const p of processes) await p.join();

// The children ran concurrently, so the order of appends varies from run to run.
const items = await sharedList.toArray();
console.log('Shared list:', items.sort((a, b) => a - b), `(${await sharedList.length()} items)`);
