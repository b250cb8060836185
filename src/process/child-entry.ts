// The entry point of every child, thread or process. It waits for the run
// message, becomes the child (name, identity, parent), runs the task, and ends
// as a Python child does: after the target settles it terminates its daemon
// children, joins the others, flushes its output and exits — leftover timers
// or sockets do not keep it alive. An uncaught error is printed as
// "Process <name>:" plus the stack, and the exit code is 1.
import { isMainThread, parentPort, threadId, workerData } from 'node:worker_threads';
import { inspect } from 'node:util';
import { decode } from '../codec/codec.js';
import { decodeLoadingTypes } from '../codec/load-types.js';
import { native } from '../native.js';
import { setStartMethod } from '../context.js';
import type { RunMessage, RunPayload } from './backend.js';
import { state } from './state.js';
import { explainTaskError, isPackageModule, loadTask, type TaskSpec } from './task.js';
import { applyParentLoaders } from './loaders.js';
import { adoptLivenessTable } from '../shm/liveness.js';

const SIGKILL = 9;

/** A process child dies with its parent: the kernel's parent-death signal, and the IPC channel closing. */
function guardParentDeath(): void {
  const expected = Number(process.env.MULTIPROC_PARENT_PID);
  delete process.env.MULTIPROC_PARENT_PID;
  const ppid = native()?.setParentDeathSignal(SIGKILL);
  // The parent may have died before the signal was armed: then we were reparented already.
  if (ppid !== undefined && expected && ppid !== expected) process.exit(1);
  process.on('disconnect', () => process.exit(1));
}

function syncEnv(env: Record<string, string | undefined>): void {
  for (const key of Object.keys(process.env)) if (!(key in env)) delete process.env[key];
  for (const [key, value] of Object.entries(env)) if (value !== undefined && process.env[key] !== value) process.env[key] = value;
}

/**
 * Waits until `stream` has handed its data to the OS. Only for process
 * children: a worker's stdio is posted to the parent at write() time, and its
 * write callbacks wait for the parent's event loop, which may be blocked in
 * joinSync() — waiting for them would deadlock.
 */
function flush(stream: NodeJS.WriteStream): Promise<void> {
  if (!isMainThread) return Promise.resolve();
  return new Promise((resolve) => stream.write('', () => resolve()));
}

let finishing = false;
async function finish(code: number): Promise<never> {
  if (!finishing) {
    finishing = true;
    for (const child of [...state.children]) if (child.daemon && child.isAlive()) child.terminate();
    for (const child of [...state.children]) if (!child.daemon) await child.join();
    await Promise.all([...state.beforeExit].map((flush) => flush()));
    await flush(process.stdout);
    await flush(process.stderr);
  }
  process.exit(code);
}

function report(err: unknown): void {
  const text = err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : `Uncaught ${inspect(err)}`;
  process.stderr.write(`Process ${state.self.name}:\n${text}\n`);
}

async function run(message: RunMessage, method: 'thread' | 'process'): Promise<void> {
  // Shareable types load on demand (codec/load-types.ts): a child starts without the whole package.
  const payload = await decodeLoadingTypes(() => decode<RunPayload>(message.payload, message.sabs));
  adoptLivenessTable(payload.liveness);
  state.self = {
    name: payload.name,
    identity: payload.identity,
    daemon: payload.daemon,
    pid: process.pid,
    ident: method === 'thread' ? threadId : process.pid,
    startMethod: method,
  };
  state.parent = { ...payload.parent, startMethod: method };
  state.entry = payload.entry;
  state.childCounter = 0;
  // As Python's children: the default start method is the one that started this child, so its own children are of its kind.
  setStartMethod(method, { force: true });
  syncEnv(payload.env);
  process.argv = payload.argv;
  if (method === 'process') {
    process.channel?.unref();
    try {
      process.chdir(payload.cwd);
    } catch {
      /* the directory is gone: stay where we are */
    }
  }
  const status = message.status;
  if (status) {
    // Lets the parent's joinSync() see the exit without its event loop.
    process.on('exit', (code) => {
      Atomics.store(status, 1, code ?? 0);
      Atomics.store(status, 0, 1);
      Atomics.notify(status, 0);
    });
  }
  const task: TaskSpec = payload.task;
  const fail = (err: unknown) => {
    report(explainTaskError(err, task));
    void finish(1);
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  try {
    const args = await decodeLoadingTypes(() => decode<unknown[]>(payload.args, message.sabs));
    if (payload.kwargs !== undefined) args.push(await decodeLoadingTypes(() => decode(payload.kwargs!, message.sabs)));
    const fn = await loadTask(task, payload.entry);
    await fn(...args);
  } catch (err) {
    return fail(err);
  }
  await finish(0);
}

/**
 * Imports the package modules a warm spare was asked to preload (spare.ts),
 * one after another, while it waits; a run message that arrives meanwhile is
 * handled between module loads. Anything outside the package is ignored.
 */
async function preload(urls: unknown): Promise<void> {
  if (!Array.isArray(urls)) return;
  for (const url of urls) {
    if (typeof url !== 'string' || !isPackageModule(url)) continue;
    await import(url).catch(() => {}); // a module that fails to load fails again, visibly, when a task needs it
  }
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  // Loaders first (at boot, so a warm spare has them ready), then wait for the run message.
  const loaders = applyParentLoaders(process.execArgv);
  void loaders.then(() => preload((workerData as { preload?: unknown } | null)?.preload), () => {});
  port.once('message', (message: RunMessage) => {
    void loaders.then(
      () => run(message, 'thread'),
      (err) => {
        report(err);
        process.exit(1);
      },
    );
  });
} else if (process.send) {
  guardParentDeath();
  process.once('message', (message: RunMessage) => void run(message, 'process'));
  let urls: unknown = null;
  try {
    urls = JSON.parse(process.env.MULTIPROC_PRELOAD ?? 'null');
  } catch {
    /* not a list we wrote: nothing to preload */
  }
  delete process.env.MULTIPROC_PRELOAD;
  void preload(urls);
}
