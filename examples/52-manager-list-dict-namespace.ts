// Manager: a list, a dict and a Namespace shared with a 'process' child and a 'thread' child; a dict holding a list proxy.
import { Manager, Process, type DictProxy, type ListProxy, type NamespaceProxy } from 'multiproc';

async function worker(sharedList: ListProxy<string>, sharedDict: DictProxy, sharedNs: NamespaceProxy, kind: string) {
  const { currentProcess } = await import('multiproc');
  const me = currentProcess().name;
  await sharedList.append(`data from ${me}`); // shared_list.append(...)
  await sharedDict.set(me, { kind, pid: process.pid }); // shared_dict[me] = ...
  const log: ListProxy<string> = await sharedDict.get('log'); // a proxy of the list stored in the dict: the same list
  await log.append(`${me} again, through dict['log']`);
  sharedNs[kind] = (await sharedNs.x) * (kind === 'process' ? 2 : 3); // shared_ns.process = shared_ns.x * 2
}

await using manager = await Manager(); // with Manager() as manager:
const sharedList = await manager.list<string>();
const sharedDict = await manager.dict();
const sharedNs = await manager.Namespace();

sharedNs.x = 10; // an attribute write: sent at once, in order with this program's later calls
await sharedDict.set('log', sharedList); // the dict holds a proxy of the list (Python: d['log'] = l)

const children = [
  new Process({ target: worker, args: [sharedList, sharedDict, sharedNs, 'process'], context: 'process' }),
  new Process({ target: worker, args: [sharedList, sharedDict, sharedNs, 'thread'], context: 'thread' }),
];
for (const p of children) p.start();
for (const p of children) await p.join();

console.log('list (sorted):', (await sharedList.toArray()).sort());
console.log(`dict (my pid is ${process.pid}):`, await sharedDict.toObject());
console.log(`namespace: x=${await sharedNs.x} process=${await sharedNs.process} thread=${await sharedNs.thread}`, await sharedNs.toObject());
