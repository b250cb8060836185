// Who holds each end of a pipe, for EOF: a reader sees EOF once the ring is
// drained and no live thread holds the writing end — every holder closed it
// or died — and no handle to it is still in flight to a child.
//
// Each side of a ring has HOLDER_SLOTS int32 slots of liveness tokens
// (ring.ts layout). Attaching claims a slot with compareExchange(0 or a dead
// token → my token); close() clears it. A handle made for sending counts as
// pending until the receiver attaches (Python's resource sharer keeps a
// duplicate of the fd alive the same way), so closing the parent's copy right
// after start() does not look like EOF to the other end.
import { isDead, token } from '../shm/liveness.js';
import { HOLDER_SLOTS } from '../channel/ring.js';
import { SLICE_MS } from '../shm/wait-policy.js';

/** Claims a slot for this thread (idempotent). */
export function hold(h: Int32Array, base: number): void {
  const me = token();
  for (let i = base; i < base + HOLDER_SLOTS; i++) if (Atomics.load(h, i) === me) return;
  for (let round = 0; round < 2; round++) {
    for (let i = base; i < base + HOLDER_SLOTS; i++) {
      const t = Atomics.load(h, i);
      if ((t === 0 || (round === 1 && isDead(t))) && Atomics.compareExchange(h, i, t, me) === t) return;
    }
  }
  throw new RangeError(`more than ${HOLDER_SLOTS} live threads hold one end of a pipe`);
}

/** Frees this thread's slot. */
export function release(h: Int32Array, base: number): void {
  const me = token();
  for (let i = base; i < base + HOLDER_SLOTS; i++) if (Atomics.load(h, i) === me) Atomics.compareExchange(h, i, me, 0);
}

/** Whether any live thread holds this end, or a handle to it is in flight. */
export function isHeld(h: Int32Array, base: number, pendingIndex: number): boolean {
  if (Atomics.load(h, pendingIndex) > 0) return true;
  for (let i = base; i < base + HOLDER_SLOTS; i++) {
    const t = Atomics.load(h, i);
    if (t !== 0 && !isDead(t)) return true;
  }
  return false;
}

/**
 * For a writer, before each message: whether no thread holds the reading
 * end any more. A slot cleared by close() is seen at once; a holder that
 * died is noticed at most every SLICE_MS (checking costs system
 * calls for holders in other processes, too many for every send).
 */
export class ReaderWatch {
  #checkedAt = 0;

  constructor(
    readonly header: Int32Array,
    readonly base: number,
    readonly pendingIndex: number,
  ) {}

  gone(): boolean {
    const h = this.header;
    if (Atomics.load(h, this.pendingIndex) > 0) return false;
    let any = false;
    for (let i = this.base; i < this.base + HOLDER_SLOTS && !any; i++) any = Atomics.load(h, i) !== 0;
    if (!any) return true;
    const now = Date.now();
    if (now - this.#checkedAt < SLICE_MS) return false;
    this.#checkedAt = now;
    return !isHeld(h, this.base, this.pendingIndex);
  }
}

