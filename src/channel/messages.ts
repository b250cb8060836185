// Whole messages in and out of a ring (ring.ts): the one write path and the
// one read path of every channel that keeps no counts of its own — both ends
// of a Pipe (connection/connection.ts) and a manager's request and reply
// rings. A Queue writes and reads through the same ring with its item counts
// around each step (queues/accounting.ts); a Pool's task ring adds claims
// (pool/channel.ts).
//
// Writers always hold the ring's put mutex while writing, even when alone: a
// reader part-way through a multi-frame message takes a free or dead put
// mutex to mean the writer is done or dead (ring.ts, Crashes). Readers that
// may share a ring hold its get mutex; a reader alone on its ring (a manager's
// server, a client on its reply ring) that never waits part-way through a
// message while other code of its thread could read uses readNow().
import { GET_MUTEX, PUT_MUTEX, type Ring } from './ring.js';
import { lockAsync, lockSync, tryLock, unlock } from '../shm/mutex.js';

/** Says, while a writer waits for room, that nobody will read any more (an error to throw), or null. */
export type Abandoned = () => Error | null;
/** Says, while a reader waits, that no message can come any more. */
export type Ended = () => boolean;

/** Writes one message, blocking this thread while the ring is full. */
export function writeMessageSync(ring: Ring, bytes: Uint8Array, abandoned?: Abandoned): void {
  const h = ring.header;
  if (tryLock(h, PUT_MUTEX) === 'timeout') lockSync(h, PUT_MUTEX);
  try {
    if (!ring.tryWrite(bytes)) ring.writeSync(bytes, abandoned);
  } finally {
    unlock(h, PUT_MUTEX);
  }
}

/** writeMessageSync() without blocking the thread. */
export async function writeMessage(ring: Ring, bytes: Uint8Array, abandoned?: Abandoned): Promise<void> {
  const h = ring.header;
  if (tryLock(h, PUT_MUTEX) === 'timeout') await lockAsync(h, PUT_MUTEX);
  try {
    if (!ring.tryWrite(bytes)) await ring.write(bytes, abandoned);
  } finally {
    unlock(h, PUT_MUTEX);
  }
}

/**
 * The next message, waiting for it; null once `ended` says none can come and
 * nothing is left. One that fits `into` is read into its start and returned
 * as a view of it.
 */
export async function readMessage(ring: Ring, ended: Ended, into?: Uint8Array): Promise<Uint8Array | null> {
  const h = ring.header;
  if (tryLock(h, GET_MUTEX) === 'timeout') await lockAsync(h, GET_MUTEX);
  try {
    return ring.tryReadFull(into) ?? (await ring.read(Infinity, undefined, ended, into));
  } finally {
    unlock(h, GET_MUTEX);
  }
}

/** readMessage() blocking this thread. */
export function readMessageSync(ring: Ring, ended: Ended, into?: Uint8Array): Uint8Array | null {
  const h = ring.header;
  lockSync(h, GET_MUTEX);
  try {
    return ring.readSync(Infinity, ended, into);
  } finally {
    unlock(h, GET_MUTEX);
  }
}

/**
 * For a reader alone on its ring: the next message if one is there, without
 * waiting for one to start; a message that has started arriving in frames is
 * read to its end (its writer is writing it now). null when none is waiting,
 * or when that writer died part-way (its message is dropped).
 */
export function readNow(ring: Ring, ended: Ended): Uint8Array | null {
  const whole = ring.tryReadFull();
  if (whole || !ring.hasData()) return whole;
  return ring.readSync(Date.now(), ended); // (a deadline now: null if its writer died part-way)
}

/** Spins until the ring has data or `spins` reads of its tail have passed. */
export function spinForData(ring: Ring, spins: number): void {
  for (let i = 0; i < spins && !ring.hasData(); i++);
}
