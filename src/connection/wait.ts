// wait(objects, timeout): Python's multiprocessing.connection.wait() — the
// connections, queues and processes (or their sentinels) that are ready: a
// connection or queue with a message waiting (or a connection at EOF), a
// process that has ended.
import { Process, processOfSentinel } from '../process/process.js';
import { Queue } from '../queues/queue.js';
import { Connection } from './connection.js';
import { SLICE_MS } from '../shm/wait-policy.js';

export type Waitable = Connection | Queue<any> | Process | number;


/** The process a waitable stands for ('ended' for the sentinel of one closed or collected). */
function processOf(obj: Waitable): Process | 'ended' | undefined {
  if (obj instanceof Process) return obj;
  if (typeof obj === 'number') {
    const p = processOfSentinel(obj);
    if (!p) throw new RangeError(`${obj} is not the sentinel of a started process`);
    return p;
  }
  return undefined;
}

function isReady(obj: Waitable): boolean {
  const p = processOf(obj);
  if (p) return p === 'ended' || p.exitCode !== null;
  if (obj instanceof Connection || obj instanceof Queue) return obj._ready();
  throw new TypeError('wait() takes Connections, Queues, Processes and process sentinels');
}

/** Resolves with the ready objects, or [] after `timeout` ms (undefined/null: wait forever). */
export async function wait<T extends Waitable>(objects: Iterable<T>, timeout?: number | null): Promise<T[]> {
  const list = [...objects];
  const deadline = timeout === undefined || timeout === null ? Infinity : Date.now() + Math.max(0, timeout);
  for (;;) {
    const ready = list.filter(isReady);
    if (ready.length > 0) return ready;
    const left = deadline - Date.now();
    if (left <= 0) return [];
    const slice = Math.min(left, SLICE_MS);
    const stop = new AbortController();
    const waits = list.map((obj) => {
      const p = processOf(obj);
      if (p) return p === 'ended' ? Promise.resolve() : p.join(slice);
      return (obj as Connection | Queue<unknown>)._waitForData(slice, stop.signal).catch(() => {});
    });
    await Promise.race(waits);
    stop.abort();
  }
}
