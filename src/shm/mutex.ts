// A mutex in one int32 of shared memory, whose value says who holds it:
// 0 when free, else the holder's liveness token (shm/liveness.ts). Taking it
// is one compareExchange(0 → token), so the holder is always known, and a
// holder that died — a SIGKILLed process, a terminated thread — is detected
// and its mutex taken over: compareExchange(deadToken → myToken) succeeds for
// exactly one waiter, which is told ('recovered').
//
// The next int32 counts sleepers (shm/wait.ts). Waiters sleep in slices of
// SLICE_MS and check the holder's liveness after each slice, so a dead holder
// costs at most one slice. All operations are Atomics (sequentially
// consistent): a store of 0 by unlock() is seen by the next compareExchange
// together with every write the holder made before it.
import { isDead, token } from './liveness.js';
import { runAsync, runSync, type Operation } from './drive.js';
import { sliceUntil } from '../options.js';
import { SLICE_MS } from './wait-policy.js';
import { wake } from './wait.js';

export type LockOutcome = 'acquired' | 'recovered' | 'timeout';

/** One attempt, no waiting: 'acquired', 'recovered' (from a dead holder) or 'timeout' (held by a live one). */
export function tryLock(i32: Int32Array, index: number): LockOutcome {
  if (Atomics.compareExchange(i32, index, 0, token()) === 0) return 'acquired';
  return tryRecover(i32, index) ? 'recovered' : 'timeout';
}

/**
 * Takes the mutex over if its holder is dead. Checking costs a system call
 * when the holder is in another process, so waiters do it once per slice,
 * not on every attempt.
 */
function tryRecover(i32: Int32Array, index: number): boolean {
  const holder = Atomics.load(i32, index);
  return holder !== 0 && holder !== token() && isDead(holder) && Atomics.compareExchange(i32, index, holder, token()) === holder;
}

/** The holder's token (0 when free). */
export function holderOf(i32: Int32Array, index: number): number {
  return Atomics.load(i32, index);
}

export function isHeldByMe(i32: Int32Array, index: number): boolean {
  return Atomics.load(i32, index) === token();
}

/** Takes the mutex, sleeping while a live holder has it, until `deadline` (Date.now() based). */
export function* lockOp(i32: Int32Array, index: number, deadline: number): Operation<LockOutcome> {
  const me = token();
  let livenessCheckAt = -1; // set at the first failure: holders are checked after a slice of waiting
  for (;;) {
    if (Atomics.compareExchange(i32, index, 0, me) === 0) return 'acquired';
    const now = Date.now();
    if (livenessCheckAt < 0) livenessCheckAt = now + SLICE_MS;
    else if (now >= livenessCheckAt) {
      if (tryRecover(i32, index)) return 'recovered';
      livenessCheckAt = now + SLICE_MS;
    }
    if (now >= deadline) return 'timeout';
    const holder = Atomics.load(i32, index);
    if (holder !== 0) yield { i32, index, expected: holder, ms: sliceUntil(deadline) };
  }
}

function deadlineIn(timeoutMs: number | undefined): number {
  return timeoutMs === undefined || timeoutMs === Infinity ? Infinity : Date.now() + Math.max(0, timeoutMs);
}

/** Blocks this thread until the mutex is taken, or `timeoutMs` passes. */
export function lockSync(i32: Int32Array, index: number, timeoutMs?: number): LockOutcome {
  if (Atomics.compareExchange(i32, index, 0, token()) === 0) return 'acquired'; // free: no operation to make
  return runSync(lockOp(i32, index, deadlineIn(timeoutMs)));
}

/** lockSync without blocking the thread; an aborted signal rejects with its reason. */
export function lockAsync(i32: Int32Array, index: number, timeoutMs?: number, signal?: AbortSignal): Promise<LockOutcome> {
  if (!signal?.aborted && Atomics.compareExchange(i32, index, 0, token()) === 0) return Promise.resolve('acquired');
  return runAsync(lockOp(i32, index, deadlineIn(timeoutMs)), signal);
}

/** Frees the mutex and wakes one sleeper. */
export function unlock(i32: Int32Array, index: number): void {
  Atomics.store(i32, index, 0);
  wake(i32, index, 1);
}

/** Frees the mutex if it is held (by anyone); false if it was free. */
export function unlockIfHeld(i32: Int32Array, index: number): boolean {
  if (Atomics.exchange(i32, index, 0) === 0) return false;
  wake(i32, index, 1);
  return true;
}
