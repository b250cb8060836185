// A shared arena for small objects, as CPython's multiprocessing/heap.py: a
// Value or a Lock takes a few bytes of a shared 1 MiB chunk instead of a
// segment (and a file descriptor) of its own.
//
// Blocks are sized in powers of two (16 bytes to 64 KiB) and 16-byte aligned;
// larger requests get a segment of their own. A block is zeroed when handed
// out. A block goes back to its free list when the object that owns it is
// collected — unless a handle to it was ever sent, since another process may
// still use it (we cannot see its references), in which case it is kept.
import { Segment, type SegmentHandle } from './segment.js';

const CHUNK_SIZE = 1 << 20;
const MIN_CLASS = 4; // 16 bytes
const MAX_CLASS = 16; // 64 KiB

export interface BlockHandle {
  segment: SegmentHandle;
  offset: number;
  size: number;
}

/** Shared-memory bytes [offset, offset + size) of a segment. */
export class Block {
  /** Set once a handle was made: the block may be in use elsewhere and is never recycled. */
  shared = false;
  constructor(
    readonly segment: Segment,
    readonly offset: number,
    readonly size: number,
  ) {}

  get sab(): SharedArrayBuffer {
    return this.segment.sab;
  }

  toHandle(what: string): BlockHandle {
    this.shared = true;
    return { segment: this.segment.toHandle(what), offset: this.offset, size: this.size };
  }

  static attach(handle: BlockHandle): Block {
    const block = new Block(Segment.attach(handle.segment), handle.offset, handle.size);
    block.shared = true;
    return block;
  }
}

interface FreeBlock {
  segment: Segment;
  offset: number;
}

const freeLists: FreeBlock[][] = Array.from({ length: MAX_CLASS + 1 }, () => []);
let chunk: Segment | null = null;
let chunkUsed = 0;

const recycler = new FinalizationRegistry<{ block: Block; sizeClass: number }>(({ block, sizeClass }) => {
  if (!block.shared) freeLists[sizeClass].push({ segment: block.segment, offset: block.offset });
});

function sizeClassOf(size: number): number {
  return Math.max(MIN_CLASS, Math.ceil(Math.log2(Math.max(1, size))));
}

/** A zeroed block of at least `size` bytes, recycled when `owner` is collected. */
export function allocate(size: number, owner: object): Block {
  if (!Number.isInteger(size) || size < 0) throw new RangeError(`invalid shared allocation size ${size}`);
  const sizeClass = sizeClassOf(size);
  if (sizeClass > MAX_CLASS) return new Block(Segment.create(Math.max(size, 8)), 0, size);
  const classSize = 1 << sizeClass;
  let block: Block;
  const free = freeLists[sizeClass].pop();
  if (free) {
    new Uint8Array(free.segment.sab, free.offset, classSize).fill(0);
    block = new Block(free.segment, free.offset, size);
  } else {
    if (!chunk || chunkUsed + classSize > CHUNK_SIZE) {
      chunk = Segment.create(CHUNK_SIZE);
      chunkUsed = 0;
    }
    block = new Block(chunk, chunkUsed, size); // fresh chunk memory is zero
    chunkUsed += classSize;
  }
  recycler.register(owner, { block, sizeClass });
  return block;
}
