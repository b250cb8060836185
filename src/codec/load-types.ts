// Handle types register when their modules load (handles.ts). A child does
// not load the whole package up front — that is ~60 ms of module loading per
// child on this machine, most of a pool worker's start-up — so a message
// holding a type it has not loaded yet makes it load the package once and
// decode again. Decoding before the failure only attached segments, which
// attach once per isolate, so the second pass has no extra effect.
import { UnknownHandleType } from './handles.js';

let loading: Promise<unknown> | null = null;

/** Loads every shareable type of the package (once). */
export function loadAllHandleTypes(): Promise<unknown> {
  return (loading ??= import('../index.js'));
}

/**
 * Runs `decode`; if it meets a handle type not loaded yet, loads every type
 * and decodes again. Synchronous (no promise) when nothing had to load.
 */
export function decodeLoadingTypes<T>(decode: () => T): T | Promise<T> {
  try {
    return decode();
  } catch (err) {
    if (!(err instanceof UnknownHandleType)) throw err;
    return loadAllHandleTypes().then(decode);
  }
}
