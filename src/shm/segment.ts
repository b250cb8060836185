// Segments: the shared memory every primitive lives in.
//
// With the native addon a segment is a memfd mapped as a SharedArrayBuffer.
// Its handle names a process that holds it open (pid and fd): the receiver
// opens /proc/<pid>/fd/<fd>, maps it and keeps its own fd, so it can pass the
// segment on in turn. A memfd can never leak: the kernel frees it when the
// last fd and mapping are gone, even after crashes. The addon maps one segment
// once per process, so every thread of a process sees it at one address.
//
// Without the addon a segment is a plain SharedArrayBuffer: it works between
// the threads of one process and travels beside a message (carrySharedBuffer).
import fs from 'node:fs';
import { carriedSharedBuffer, carrySharedBuffer } from '../codec/codec.js';
import { native } from '../native.js';
import { registerHandleType, shareable, type HandleData } from '../codec/handles.js';

export type SegmentHandle =
  | { kind: 'memfd'; id: string; pid: number; fd: number }
  | { kind: 'plain'; id: string; sab: number };

let counter = 0;
const attached = new Map<string, WeakRef<Segment>>();
/**
 * This isolate's fd of a segment is closed once the Segment is collected, or
 * when the thread ends (a worker's fds belong to the whole process, and a
 * terminated worker runs no finalizers): see trackFd in native/liveness.cc.
 */
const fdCloser = new FinalizationRegistry<number>((fd) => native()?.closeTrackedFd(fd));

export class Segment {
  private constructor(
    readonly id: string,
    readonly sab: SharedArrayBuffer,
    /** This isolate's fd of the memfd, or -1 for a plain segment. */
    private readonly fd: number,
  ) {
    attached.set(id, new WeakRef(this));
    if (fd >= 0) {
      native()!.trackFd(fd);
      fdCloser.register(this, fd);
    }
  }

  /** A new zero-filled segment of `size` bytes. */
  static create(size: number): Segment {
    const id = `${process.pid}.${Date.now().toString(36)}.${(counter++).toString(36)}.${Math.random().toString(36).slice(2, 8)}`;
    const addon = native();
    if (!addon) return new Segment(id, new SharedArrayBuffer(size), -1);
    const fd = addon.memfdCreate(`multiproc.${id}`, size);
    return new Segment(id, addon.mapFd(fd), fd);
  }

  /** The segment a handle names, attached once per isolate. */
  static attach(handle: SegmentHandle): Segment {
    const known = attached.get(handle.id)?.deref();
    if (known) return known;
    if (handle.kind === 'plain') return new Segment(handle.id, carriedSharedBuffer(handle.sab), -1);
    const addon = native();
    if (!addon) throw new Error('this shared object lives in memfd shared memory, which needs the native addon to attach');
    let fd: number;
    try {
      fd = addon.openProcFd(handle.pid, handle.fd);
    } catch (err) {
      throw new Error(
        `cannot attach a shared object: process ${handle.pid}, which sent it, has exited or closed it (${(err as Error).message})`,
        { cause: err },
      );
    }
    // The handle names a descriptor number, which its sender may have closed
    // and reused for another file since: check that what was opened is this
    // segment (a memfd's link names it), so nothing else is mapped silently.
    let target = '';
    try {
      target = fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      /* checked below */
    }
    if (!target.startsWith(`/memfd:multiproc.${handle.id} `) && target !== `/memfd:multiproc.${handle.id}`) {
      addon.closeFd(fd);
      throw new Error(`cannot attach a shared object: process ${handle.pid} no longer holds it (its descriptor ${handle.fd} now names ${target || 'nothing'})`);
    }
    return new Segment(handle.id, addon.mapFd(fd), fd);
  }

  /** Segments cross the codec as handles and arrive attached. */
  [shareable](): HandleData {
    return { type: 'multiproc.Segment', data: this.toHandle('a shared segment') };
  }

  /** A handle another thread or process can attach with. */
  toHandle(what: string): SegmentHandle {
    if (this.fd < 0) return { kind: 'plain', id: this.id, sab: carrySharedBuffer(this.sab, what) };
    return { kind: 'memfd', id: this.id, pid: process.pid, fd: this.fd };
  }
}

registerHandleType('multiproc.Segment', (handle: SegmentHandle) => Segment.attach(handle));
