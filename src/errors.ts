// The exported error classes, as Python's multiprocessing names them.
// Each class's `name` equals its class name; BufferTooShort, AuthenticationError
// and TimeoutError extend ProcessError, as in Python.

export class ProcessError extends Error {
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class BufferTooShort extends ProcessError {
  /** The whole message that did not fit; it has been consumed from the channel. */
  data: Uint8Array | undefined;
  constructor(message?: string, data?: Uint8Array) {
    super(message);
    this.data = data;
  }
}

export class AuthenticationError extends ProcessError {}
export class TimeoutError extends ProcessError {}

/** Python's EOFError: the other end of a connection closed and nothing is left to read. */
export class EOFError extends Error {
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}
/** queue.Empty */
export class Empty extends Error {
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}
/** queue.Full */
export class Full extends Error {
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}
export class BrokenBarrierError extends Error {
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}
/** A failure of a manager's server itself (not of the referent's method). */
export class RemoteError extends Error {
  remoteStack?: string;
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}
/** A pool worker died while it held the task. */
export class BrokenPoolError extends Error {
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** concurrent.futures.CancelledError: the result of a future that was cancelled. */
export class CancelledError extends Error {
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Every exported error class by name: the codec rebuilds errors sent from a child as these. */
export const errorClasses: Record<string, new (message?: string) => Error> = {
  ProcessError,
  BufferTooShort,
  AuthenticationError,
  TimeoutError,
  EOFError,
  Empty,
  Full,
  BrokenBarrierError,
  RemoteError,
  BrokenPoolError,
  CancelledError,
  Error,
  EvalError,
  RangeError,
  ReferenceError,
  SyntaxError,
  TypeError,
  URIError,
  AggregateError: AggregateError as unknown as new (message?: string) => Error,
};
