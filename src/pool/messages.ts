// The two messages of the pool's rings, as bytes: a fixed little-endian
// header written byte by byte (no DataView per message) and a codec payload.
//
//   task:   [seq u32][jobId u32][fnId u32][specLength u32][mode u32][spec][payload]
//   result: [seq u32][status u32][payload]
// Payloads are encoded after room left for the header (encodeReserved), and
// decoded where they stand (decodeAt): no copy, no subarray per message.
//
// A task carries its function's spec (source text or module URL, encoded
// once per function) so that any worker, including a replacement started
// later, can run any task; a worker compiles each fnId once and then skips
// the spec bytes.
import { decode, decodeAt, decodesToCopies, encode, encodeReserved } from '../codec/codec.js';
import type { TaskSpec } from '../process/task.js';

export const enum Mode {
  /** payload: the argument list of one call */
  Apply = 0,
  /** payload: a chunk of items, one call each: fn(item) */
  Map = 1,
  /** payload: a chunk of argument lists, one call each: fn(...args) */
  Starmap = 2,
}

export const enum Status {
  Ok = 0,
  /** payload: the error the task threw (or why its result could not be sent) */
  Error = 1,
  /** payload: the error that is killing the worker while it runs this task */
  Dying = 2,
  /** payload: the initializer's error; seq is meaningless */
  InitFailed = 3,
  /** the task's job was cancelled before it ran: it was not run */
  Skipped = 4,
}

const TASK_HEADER = 20;
/** Bytes before a result's payload. */
export const RESULT_HEADER = 8;

function putU32(out: Uint8Array, at: number, v: number): void {
  out[at] = v;
  out[at + 1] = v >>> 8;
  out[at + 2] = v >>> 16;
  out[at + 3] = v >>> 24;
}

function getU32(bytes: Uint8Array, at: number): number {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
}

/** A function as the pool ships it: an id, and its spec encoded once. */
export interface ShippedFn {
  readonly id: number;
  readonly spec: Uint8Array;
}

export function shipFn(id: number, spec: TaskSpec): ShippedFn {
  return { id, spec: encode(spec, 'task') };
}

/**
 * A task's payload is encoded with this many bytes reserved before it
 * (encodeReserved), so that the header and spec are written into the same
 * buffer: one allocation and one copy per task.
 */
export function taskReserve(fn: ShippedFn): number {
  return TASK_HEADER + fn.spec.length;
}

/** Fills in the header and spec of a task whose payload was encoded after taskReserve(fn) bytes. */
export function frameTask(message: Uint8Array, seq: number, jobId: number, fn: ShippedFn, mode: Mode): Uint8Array {
  putU32(message, 0, seq);
  putU32(message, 4, jobId);
  putU32(message, 8, fn.id);
  putU32(message, 12, fn.spec.length);
  putU32(message, 16, mode);
  message.set(fn.spec, TASK_HEADER);
  return message;
}

/** A task message's header fields, and where its payload starts. */
export function taskHeader(message: Uint8Array): { seq: number; jobId: number; fnId: number; mode: Mode; specEnd: number } {
  if (message.length < TASK_HEADER) throw new RangeError(`a task message is at least ${TASK_HEADER} bytes, got ${message.length}`);
  const specEnd = TASK_HEADER + getU32(message, 12);
  if (specEnd > message.length) throw new RangeError('a task message is shorter than its header says');
  return { seq: getU32(message, 0), jobId: getU32(message, 4), fnId: getU32(message, 8), mode: getU32(message, 16), specEnd };
}

/** The spec bytes of a task message (see taskHeader). */
export function taskSpecBytes(message: Uint8Array, specEnd: number): Uint8Array {
  return message.subarray(TASK_HEADER, specEnd);
}

export interface TaskMessage {
  seq: number;
  jobId: number;
  fnId: number;
  mode: Mode;
  /** The function's spec, read only when the worker does not know the function yet. */
  spec: TaskSpec | undefined;
  /** The decoded payload, unless `payloadBytes` is set. */
  payload: unknown;
  /** The encoded payload, when it could not be decoded as the message was read (it may hold shareables). */
  payloadBytes: Uint8Array | null;
}

/**
 * Reads a task message, which may be a view of the ring's memory (freed
 * right after): a payload of plain data is decoded now, in place; any other
 * payload is copied out, to be decoded later (it may need to load types).
 * `knows(fnId)` says whether the worker has the function already.
 */
export function readTask(message: Uint8Array, knows: (fnId: number) => boolean): TaskMessage {
  const fnId = getU32(message, 8);
  const specEnd = TASK_HEADER + getU32(message, 12);
  const task: TaskMessage = {
    seq: getU32(message, 0),
    jobId: getU32(message, 4),
    fnId,
    mode: getU32(message, 16),
    spec: knows(fnId) ? undefined : decode<TaskSpec>(message.subarray(TASK_HEADER, specEnd)),
    payload: undefined,
    payloadBytes: null,
  };
  try {
    if (decodesToCopies(message, specEnd)) task.payload = decodeAt(message, specEnd);
    else task.payloadBytes = message.slice(specEnd);
  } catch {
    task.payloadBytes = message.slice(specEnd); // decoding fails again later, as the task's error
  }
  return task;
}

/** The task's payload (decoding it now if readTask could not). */
export function taskPayloadOf(task: TaskMessage): unknown {
  return task.payloadBytes ? decode(task.payloadBytes) : task.payload;
}

/**
 * A result message: `value` encoded after its header (`what` names it in an
 * unsendable-value error). It may be a view of the encoder's scratch buffer:
 * write it into the ring before encoding anything else.
 */
export function encodeResult(seq: number, status: Status, value: unknown, what: string): Uint8Array {
  const message = encodeReserved(value, what, RESULT_HEADER, true);
  putU32(message, 0, seq);
  putU32(message, 4, status);
  return message;
}

/** Rewrites a result message's seq (a worker host relays its local pool's result under the coordinator's seq). */
export function setResultSeq(bytes: Uint8Array, seq: number): void {
  putU32(bytes, 0, seq);
}

export function resultSeq(bytes: Uint8Array): number {
  return getU32(bytes, 0);
}

export function resultStatus(bytes: Uint8Array): Status {
  return getU32(bytes, 4);
}

export function resultPayload(bytes: Uint8Array): unknown {
  return decodeAt(bytes, RESULT_HEADER);
}
