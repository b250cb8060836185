// Liveness tokens: who holds a lock, and whether it is still alive.
//
// Each thread or process of a program that uses locks gets a token: a small
// positive int32 that fits in a lock word, so a single compareExchange both
// takes the lock and says who took it. The token indexes a table in shared
// memory that all of the program's processes share (the root creates it and
// every child receives it in its run message):
//
//   int32[0]                 next token to hand out
//   slot t, at 16 + 4t:      [pid, alive, threadId, unused]
//
// A holder is dead when its slot's `alive` is 0 — the addon stores 0 there
// when the thread's environment is torn down, even by Worker.terminate() — or
// when its process no longer exists (a SIGKILL runs no cleanup, but the pid
// is gone). Tokens wrap after SLOTS: a slot reused by a live thread makes an
// old dead holder look alive, which only delays recovery, never corrupts.
import { threadId } from 'node:worker_threads';
import { native } from '../native.js';
import { Segment } from './segment.js';

const SLOTS = 1 << 15;
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
  const candidate = (Atomics.add(t, 0, 1) % (SLOTS - 1)) + 1;
  const base = HEADER + candidate * 4;
  Atomics.store(t, base, process.pid);
  Atomics.store(t, base + 2, threadId);
  Atomics.store(t, base + 1, 1);
  // When this thread's environment goes away, mark the slot dead.
  addon?.storeOnExit(t.buffer as SharedArrayBuffer, t.byteOffset + (base + 1) * 4, 0);
  return (myToken = candidate);
}

/** Whether the holder of token `t` is gone for good. */
export function isDead(t: number): boolean {
  if (t <= 0 || t >= SLOTS) return false;
  const tab = ensureTable();
  const base = HEADER + t * 4;
  if (Atomics.load(tab, base + 1) === 0) return true;
  const pid = Atomics.load(tab, base);
  return pid !== process.pid && addon !== null && !addon.pidAlive(pid);
}
