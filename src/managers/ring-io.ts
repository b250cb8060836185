// Whole messages in and out of the rings under a manager (queues/ring.ts).
//
// The request ring has many writers (every local client) and one reader (the
// server); each reply ring has one writer (the server) and one reader (its
// client). Writers always hold the ring's put mutex while writing, even when
// alone: a reader that is part-way through a multi-frame message takes a free
// or dead put mutex to mean the writer is done or dead (ring.ts, Crashes).
// Readers are alone on their ring and never wait part-way through a message
// while other code of their thread could read it, so they take no get mutex.
import { lockAsync, lockSync, tryLock, unlock } from '../shm/mutex.js';
import { PUT_MUTEX, type Ring } from '../queues/ring.js';

/** Writes one message, blocking this thread while the ring is full; `abandoned` returns an error when nobody will read. */
export function writeSync(ring: Ring, bytes: Uint8Array, abandoned: () => Error | null): void {
  const h = ring.header;
  if (tryLock(h, PUT_MUTEX) === 'timeout') lockSync(h, PUT_MUTEX);
  try {
    if (!ring.tryWrite(bytes)) ring.writeSync(bytes, abandoned);
  } finally {
    unlock(h, PUT_MUTEX);
  }
}

/** writeSync() without blocking the thread. */
export async function write(ring: Ring, bytes: Uint8Array, abandoned: () => Error | null): Promise<void> {
  const h = ring.header;
  if (tryLock(h, PUT_MUTEX) === 'timeout') await lockAsync(h, PUT_MUTEX);
  try {
    if (!ring.tryWrite(bytes)) await ring.write(bytes, abandoned);
  } finally {
    unlock(h, PUT_MUTEX);
  }
}

/**
 * The next message if one is there, without waiting for one to start; a
 * message that has started arriving in frames is read to its end (its writer
 * is writing it now). null when none is waiting, or when that writer died
 * part-way (its message is dropped). `ended` says the writers are gone.
 */
export function readNow(ring: Ring, ended: () => boolean): Uint8Array | null {
  const whole = ring.tryReadFull();
  if (whole || !ring.hasData()) return whole;
  return ring.readSync(Date.now(), ended); // (a deadline now: null if its writer died part-way)
}

/** Spins until the ring has data or `spins` reads of its tail have passed. */
export function spinForData(ring: Ring, spins: number): void {
  for (let i = 0; i < spins && !ring.hasData(); i++);
}
