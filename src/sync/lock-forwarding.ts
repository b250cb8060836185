// The methods of a Lock that an object guarded by one forwards to it, as
// Python's synchronized Value and Array and its Condition do: defined once,
// installed on each class's prototype (those classes extend other classes).
import type { AcquireOptions } from '../options.js';
import type { Lock } from './lock.js';
import type { Guard } from './shared-words.js';

export interface LockForwarding {
  acquire(options?: AcquireOptions | number): Promise<boolean>;
  acquireSync(options?: AcquireOptions | number): boolean;
  release(): void;
  /** Runs `fn` holding the lock, and releases it even if `fn` throws. */
  withLock<R>(fn: () => R | Promise<R>): Promise<R>;
  /** `using _ = x.lockSync()`: Python's `with x:`. */
  lockSync(options?: AcquireOptions | number): Guard;
  /** `await using _ = await x.lock()`: lockSync() without blocking the thread. */
  lock(options?: AcquireOptions | number): Promise<Guard>;
}

/** Installs LockForwarding on `cls`, forwarding to the lock `lockOf` finds on an instance. */
export function forwardLock<I extends object>(cls: { prototype: I }, lockOf: (self: I) => Lock): void {
  const methods: { [K in keyof LockForwarding]: (this: I, ...args: never[]) => unknown } = {
    acquire(options?: AcquireOptions | number) {
      return lockOf(this).acquire(options);
    },
    acquireSync(options?: AcquireOptions | number) {
      return lockOf(this).acquireSync(options);
    },
    release() {
      lockOf(this).release();
    },
    withLock(fn: () => unknown) {
      return lockOf(this).withLock(fn);
    },
    lockSync(options?: AcquireOptions | number) {
      return lockOf(this).lockSync(options);
    },
    lock(options?: AcquireOptions | number) {
      return lockOf(this).lock(options);
    },
  };
  for (const [name, value] of Object.entries(methods)) {
    Object.defineProperty(cls.prototype, name, { value, writable: true, configurable: true });
  }
}
