// Liveness tokens: who holds a lock, and whether it is still alive.
//
// Each thread or process of a program that uses locks gets a token: a
// positive int32 that fits in a lock word, so a single compareExchange both
// takes the lock and says who took it. The token names a slot of a table in
// shared memory that all of the program's processes share (the root creates
// it and every child receives it in its run message):
//
//   int32[0]                 allocation counter
//   slot s, at 16 + 4s:      [pid, alive, threadId, token]
//   token = generation << 15 | s   (s in 1..SLOTS-1, generation 0..0xffff)
//
// A holder is dead when its slot's `alive` is 0 — the addon stores 0 there
// when the thread's environment is torn down, even by Worker.terminate() — or
// when its process no longer exists (a SIGKILL runs no cleanup, but the pid
// is gone), or when its slot holds another token (a slot is handed out again
// only once its holder is dead).
//
// Reuse: a slot is taken again only when its holder is dead, and each reuse
// bumps its generation, so a new holder never gets a token a lock word may
// still hold: the same token comes back only after 65,536 reuses of one slot
// (2^31 tokens handed out), never to a thread while the last one is alive.
// Claiming a slot: compareExchange(token word: old → CLAIMING) makes one
// allocator its owner; it fills in pid and alive, then publishes the token.
// Others skip a slot that is CLAIMING (one killed in that window of a few
// instructions loses the slot for the program's life, nothing more).
import { threadId } from 'node:worker_threads';
import { native } from '../native.js';
import { Segment } from './segment.js';

const SLOTS = 1 << 15;
const SLOT_BITS = 15;
const CLAIMING = -1;
const HEADER = 16;
const addon = native();

let table: Int32Array | null = null;
let segment: Segment | null = null;
let myToken = 0;

function ensureTable(): Int32Array {
  if (!table) {
    segment = Segment.create((HEADER + SLOTS * 4) * 4);
    table = new Int32Array(segment.sab);
  }
  return table;
}

/** The table's segment, for a child's run message (created on first use). */
export function livenessSegment(): Segment {
  ensureTable();
  return segment!;
}

/** In a child: use the table of the program it belongs to. */
export function adoptLivenessTable(received: Segment): void {
  segment = received;
  table = new Int32Array(segment.sab);
}

/** This thread's token (allocated on first use). */
export function token(): number {
  if (myToken) return myToken;
  const t = ensureTable();
  for (let tries = 0; tries < SLOTS; tries++) {
    const slot = ((Atomics.add(t, 0, 1) >>> 0) % (SLOTS - 1)) + 1;
    const base = HEADER + slot * 4;
    const old = Atomics.load(t, base + 3);
    // Without the addon nobody can tell a dead thread: slots are taken in turn
    // (a new generation still makes the token new; isDead() is then always false).
    if (old !== 0 && addon !== null && (old === CLAIMING || !holderGone(t, base))) continue;
    if (Atomics.compareExchange(t, base + 3, old, CLAIMING) !== old) continue;
    const next = ((((old === CLAIMING ? 0 : old) >>> SLOT_BITS) + 1) & 0xffff) << SLOT_BITS | slot;
    Atomics.store(t, base, process.pid);
    Atomics.store(t, base + 2, threadId);
    Atomics.store(t, base + 1, 1);
    // When this thread's environment goes away, mark the slot dead.
    addon?.storeOnExit(t.buffer as SharedArrayBuffer, t.byteOffset + (base + 1) * 4, 0);
    Atomics.store(t, base + 3, next); // published last: isDead(next) reads a filled-in slot
    return (myToken = next);
  }
  throw new Error(`more than ${SLOTS - 1} threads and processes of this program are alive and use locks`);
}

/** Whether the holder in the slot at `base` is gone: its thread ended or its process died. */
function holderGone(tab: Int32Array, base: number): boolean {
  if (Atomics.load(tab, base + 1) === 0) return true;
  const pid = Atomics.load(tab, base);
  return pid !== process.pid && addon !== null && !addon.pidAlive(pid);
}

/** Whether the holder of token `t` is gone for good. */
export function isDead(t: number): boolean {
  if (t <= 0 || addon === null) return false;
  const tab = ensureTable();
  const base = HEADER + (t & (SLOTS - 1)) * 4;
  return Atomics.load(tab, base + 3) !== t || holderGone(tab, base);
}
