// Small byte arrays carved out of shared slabs, as Node's Buffer pool does.
// V8 gives every typed array over 64 bytes a backing store of its own,
// which costs 1-2 µs to make (more than copying a KiB into it); a slab pays
// that once for many messages. A slab lives while any array carved from it
// does, so one kept message can hold up to SLAB_BYTES (the price Node's
// pool pays too). Slabs are marked untransferable: a user who puts a
// received array's buffer in a postMessage transfer list gets it copied,
// instead of detaching the slab under the other arrays (Node does the same
// for its pool).
import { markAsUntransferable } from 'node:worker_threads';

const SLAB_BYTES = 32 * 1024;
/** Up to this many bytes V8 allocates a typed array inline on its heap, cheaply: no slab needed. */
const ON_HEAP_MAX = 64;
/** Longer arrays get a store of their own (their allocation is small beside their copy). */
const POOLED_MAX = 4096;

let slab = newSlab();
let used = 0;

function newSlab(): ArrayBuffer {
  const ab = new ArrayBuffer(SLAB_BYTES);
  markAsUntransferable(ab);
  return ab;
}

/** A new array of `n` bytes, zero-filled and never handed out before; a plain Uint8Array (not a Buffer), 8-aligned in its buffer. */
export function smallBytes(n: number): Uint8Array {
  if (n <= ON_HEAP_MAX || n > POOLED_MAX) return new Uint8Array(n);
  if (used + n > SLAB_BYTES) {
    slab = newSlab();
    used = 0;
  }
  const out = new Uint8Array(slab, used, n);
  used = (used + n + 7) & ~7; // (8-aligned, so views of numbers in a message stay aligned)
  return out;
}

/** A copy of `bytes` that the caller owns (e.g. of an encoder's scratch view, before anything else encodes). */
export function ownedCopy(bytes: Uint8Array): Uint8Array {
  const out = smallBytes(bytes.length);
  out.set(bytes);
  return out;
}
