// SharedMemory: a named POSIX shared-memory segment, as Python's
// multiprocessing.shared_memory.SharedMemory (and interoperable with it: same
// names, same shm_open/mmap, so either side can create or attach).
import { randomBytes } from 'node:crypto';
import { registerHandleType, shareable, type HandleData, type Shareable } from '../codec/handles.js';
import { requireNative } from '../native.js';
import { ensureTracker, track, untrack } from './tracker.js';

export interface SharedMemoryOptions {
  /** The segment's name, as Python shows it (no leading '/'). Default with create: a new 'psm_...' name. */
  name?: string;
  /** Create a new segment (EEXIST if the name is taken); default false: attach to an existing one (ENOENT if none). */
  create?: boolean;
  /** Bytes; needed (> 0) with create, ignored when attaching (the segment's own size is used). */
  size?: number;
  /** (+) Unlink the segment when this program ends (default true); false keeps it on purpose. Creates only. */
  track?: boolean;
}

const inspectCustom = Symbol.for('nodejs.util.inspect.custom');

// Python's naming: '/psm_' + 8 hex digits (14 characters, the FreeBSD limit).
function generatedName(): string {
  return '/psm_' + randomBytes(4).toString('hex');
}

/** Rethrows an addon error with the segment's name, as Python's OSErrors carry it. */
function withName(err: unknown, syscall: string, shmName: string): never {
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.code !== 'string') throw err;
  const error: NodeJS.ErrnoException = new Error(`${e.message}: '${shmName}'`, { cause: err });
  error.code = e.code;
  error.errno = e.errno;
  error.syscall = syscall;
  error.path = shmName;
  throw error;
}

export class SharedMemory implements Shareable {
  /** The name passed to shm_open: '/' + the name Python shows. */
  readonly #shmName: string;
  readonly #size: number;
  #buf: Uint8Array | null;

  constructor(options: SharedMemoryOptions = {}) {
    if (options === null || typeof options !== 'object') throw new TypeError('new SharedMemory(options): options must be an object');
    const { name, create = false, size = 0, track: tracked = true } = options;
    if (typeof size !== 'number' || Number.isNaN(size)) throw new TypeError("'size' must be a number");
    if (!(size >= 0) || !Number.isInteger(size)) throw new RangeError("'size' must be a positive integer");
    if (create && size === 0) throw new RangeError("'size' must be a positive number different from zero");
    if (name === undefined && !create) throw new RangeError("'name' can only be undefined if create is true");
    if (name !== undefined && typeof name !== 'string') throw new TypeError("'name' must be a string");
    // A NUL would silently cut the name in C; a newline could not be told to the tracker.
    if (name !== undefined && /[\0\n]/.test(name)) throw new RangeError("'name' must not contain NUL or newline characters");

    const addon = requireNative('SharedMemory');
    const willTrack = create && tracked !== false;
    // Start the tracker first, so that the segment is registered right after it exists.
    if (willTrack) ensureTracker();
    let shmName: string;
    let sab: SharedArrayBuffer;
    if (name === undefined) {
      // Retry on the (unlikely) clash of a generated name, as Python does.
      for (;;) {
        shmName = generatedName();
        try {
          sab = addon.shmOpen(shmName, true, true, size);
          break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') withName(err, 'shm_open', shmName);
        }
      }
    } else {
      shmName = '/' + name;
      try {
        sab = addon.shmOpen(shmName, create, create, size);
      } catch (err) {
        withName(err, 'shm_open', shmName);
      }
    }
    if (willTrack) track(shmName);
    this.#shmName = shmName;
    // Python's size is fstat's st_size of the segment, which is what the addon maps.
    this.#size = sab.byteLength;
    this.#buf = new Uint8Array(sab);
  }

  /** The segment's name as Python shows it (without the leading '/'). */
  get name(): string {
    return this.#shmName.slice(1);
  }

  /** Size in bytes. */
  get size(): number {
    return this.#size;
  }

  /** The whole segment's bytes. Throws once closed. */
  get buf(): Uint8Array {
    if (this.#buf === null) throw new Error(`SharedMemory '${this.name}' is closed`);
    return this.#buf;
  }

  /** (+) Whether close() was called. */
  get closed(): boolean {
    return this.#buf === null;
  }

  /**
   * Closes access from this object; the segment stays for others. The mapping
   * itself is released when no view of it is reachable any more (the addon
   * maps a segment once per process and shares it between all its objects,
   * so it cannot be unmapped under views other objects or threads may hold).
   */
  close(): void {
    this.#buf = null;
  }

  /** Removes the segment's name (once, from any process): existing mappings stay valid. */
  unlink(): void {
    try {
      requireNative('SharedMemory').shmUnlink(this.#shmName);
    } catch (err) {
      withName(err, 'shm_unlink', this.#shmName);
    } finally {
      // Even when already gone: the name may be reused by someone else, whom the tracker must not touch.
      untrack(this.#shmName);
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Crosses to children by name; the receiver attaches (and does not track it). */
  [shareable](): HandleData {
    return { type: 'multiproc.SharedMemory', data: { name: this.name } };
  }

  [inspectCustom](): string {
    return `SharedMemory(${JSON.stringify(this.name)}, size=${this.#size}${this.closed ? ', closed' : ''})`;
  }

  toString(): string {
    return this[inspectCustom]();
  }
}

registerHandleType('multiproc.SharedMemory', (d: { name: string }) => new SharedMemory({ name: d.name }));
