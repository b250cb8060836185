// Byte copies into and out of shared memory. V8 copies to or from a
// SharedArrayBuffer (TypedArray.prototype.set, slice) with relaxed atomic
// moves, about half memcpy's speed; the addon's copyBytes is a memcpy
// (native/bytes.cc says why that keeps the channels' memory ordering).
import { native } from '../native.js';

const addon = native();
/** The addon's copy, or null (no addon, or one built before it had copyBytes). */
const nativeCopy = typeof addon?.copyBytes === 'function' ? addon.copyBytes : null;
/**
 * From this many bytes on, memcpy wins over TypedArray.set despite the call
 * (measured on Node 20, SAB to heap: 128 B 58 vs 91 ns, 1 KiB 60 vs 402 ns,
 * 4 KiB 85 vs 1317 ns; at 96 B they tie).
 */
const NATIVE_FROM = 128;

/** Copies `length` bytes of `source` from `sourceStart` into `target` at `targetOffset`. */
export function copyBytes(target: Uint8Array, targetOffset: number, source: Uint8Array, sourceStart: number, length: number): void {
  if (nativeCopy && length >= NATIVE_FROM) nativeCopy(target, targetOffset, source, sourceStart, length);
  else target.set(source.subarray(sourceStart, sourceStart + length), targetOffset);
}
