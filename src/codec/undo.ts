// Sending a message is all-or-nothing. Sending some shareables has a side
// effect for the copy in flight: a Connection's ends count it as pending (so
// the other end sees no EOF before the receiver attaches), a manager proxy
// adds a reference for it. A [shareable]() that takes such a step registers
// its reverse with undoIfUnsent(). If the message is then not sent — a later
// value of it fails to encode (a WeakMap beside a Connection), or writing it
// fails — the reverses run, newest first, and every shareable in it is as if
// it had never been sent.
//
// encode() is atomic by itself: it undoes its own steps before it throws. A
// message built from several encode() calls (a Process's args and kwargs, a
// manager call's arguments), or one that can still fail after encoding, is
// built inside encodeUndoably(), which undoes the whole if building throws
// and otherwise hands its caller the undo.
//
// (Steps that are harmless to keep are not undone: a shared block marked
// never to be recycled stays marked.)

export type Undo = () => void;

/** The undos of the message being built; null when none is. */
let current: Undo[] | null = null;

/** For a shareable's [shareable](): how to reverse a step it took, should the message not be sent. */
export function undoIfUnsent(undo: Undo): void {
  current?.push(undo);
}

/** Runs list[from...] newest first and drops them (so a second run does nothing). */
function runUndos(list: Undo[], from: number): void {
  while (list.length > from) {
    try {
      list.pop()!();
    } catch {
      /* an undo is best effort: the others still run */
    }
  }
}

/**
 * Runs one encode() atomically: if `step` throws, what it did is undone;
 * otherwise its undos join those of the message being built (if any).
 */
export function atomically<T>(step: () => T): T {
  const outer = current;
  const list = outer ?? [];
  const mark = list.length;
  current = list;
  try {
    return step();
  } catch (err) {
    runUndos(list, mark);
    throw err;
  } finally {
    current = outer;
  }
}

/**
 * Runs `build`, whose encode() calls make one message, and returns its
 * result with the undo of the message (null when it took no step to undo),
 * for a caller that can still fail to send it. If `build` throws, the
 * message is undone at once.
 */
export function encodeUndoably<T>(build: () => T): [T, Undo | null] {
  const outer = current;
  const list: Undo[] = [];
  current = list;
  let result: T;
  try {
    result = build();
  } catch (err) {
    runUndos(list, 0);
    throw err;
  } finally {
    current = outer;
  }
  if (list.length === 0) return [result, null];
  const undo = () => runUndos(list, 0);
  outer?.push(undo); // part of an enclosing message too
  return [result, undo];
}
