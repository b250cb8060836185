// How code reaches a child: a function shipped by its source text, or a
// module task (a module URL and an export name) that the child imports.
import vm from 'node:vm';

export interface ModuleTask {
  readonly kind: 'module';
  readonly url: string;
  readonly exportName: string;
}

export interface SourceTask {
  readonly kind: 'source';
  readonly source: string;
  readonly name: string;
}

export type TaskSpec = ModuleTask | SourceTask;
export type Target = ((...args: any[]) => unknown) | ModuleTask;

const packageRoot = new URL('../', import.meta.url).href;

/** Whether `url` is one of this package's own modules (safe to import ahead of a task: spare.ts). */
export function isPackageModule(url: string): boolean {
  return url.startsWith(packageRoot) && !url.slice(packageRoot.length).includes('..');
}

/** A URL (file:, data:, node: …), as opposed to a path or a package name. */
export function isUrl(specifier: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(specifier);
}

/** A package name ('my-jobs', '@org/jobs/square.js'): resolved where the task runs. */
export function isBareSpecifier(specifier: string): boolean {
  return !isUrl(specifier) && /^(@[\w.-]+\/)?[\w][\w.-]*(\/.*)?$/.test(specifier);
}

/**
 * A module task: the child imports `moduleUrl` and calls its export
 * `exportName`. `moduleUrl` is a URL (import.meta.url, a file: URL) or a
 * package name, which the child resolves as an import from multiproc's
 * own location would (a cluster worker host: from its working directory).
 */
export function task(moduleUrl: string | URL, exportName = 'default'): ModuleTask {
  const url = String(moduleUrl);
  if (!isUrl(url) && !isBareSpecifier(url)) {
    throw new TypeError(`task(): moduleUrl must be a URL such as import.meta.url or a package name, not the path ${JSON.stringify(url)}`);
  }
  return Object.freeze({ kind: 'module', url, exportName });
}

function isModuleTask(target: unknown): target is ModuleTask {
  return typeof target === 'object' && target !== null && (target as ModuleTask).kind === 'module';
}

/** A function already turned into its spec (a manager's Pool receives its callers' functions so). */
function isSourceTask(target: unknown): target is SourceTask {
  return typeof target === 'object' && target !== null && (target as SourceTask).kind === 'source' && typeof (target as SourceTask).source === 'string';
}

/** Validates a target in the parent and turns it into what is sent to the child. */
export function toTaskSpec(target: unknown, what = 'target'): TaskSpec {
  if (isModuleTask(target) || isSourceTask(target)) return target;
  if (typeof target !== 'function') {
    throw new TypeError(`${what} must be a function or a task(moduleUrl, exportName), got ${target === null ? 'null' : typeof target}`);
  }
  const source = Function.prototype.toString.call(target);
  if (/\{\s*\[native code\]\s*\}\s*$/.test(source)) {
    throw new TypeError(
      `${what} ${target.name || '(anonymous)'} is a native or bound function, which cannot be shipped to a child by its source; ` +
        `wrap it in a plain function or use task(moduleUrl, exportName)`,
    );
  }
  if (/^class[\s{]/.test(source)) throw new TypeError(`${what} is a class; pass a function`);
  return { kind: 'source', source, name: target.name };
}

// ---- child side --------------------------------------------------------------

const compiled = new Map<string, (...args: unknown[]) => unknown>();

/** esbuild (tsx) emits calls to __name() inside functions compiled with keepNames. */
function installTranspilerHelpers(): void {
  const g = globalThis as { __name?: unknown };
  g.__name ??= (fn: unknown, name: string) => {
    try {
      Object.defineProperty(fn, 'name', { value: name, configurable: true });
    } catch {
      /* a frozen function keeps its name */
    }
    return fn;
  };
}

/**
 * Compiles a shipped function once per (source, entry). `import()` inside it
 * resolves as from the program's entry module, under the program's loaders.
 */
export function compileSource(spec: SourceTask, entry: string): (...args: unknown[]) => unknown {
  const key = `${entry}\0${spec.source}`;
  let fn = compiled.get(key);
  if (fn) return fn;
  installTranspilerHelpers();
  // A method shorthand (`foo() {}`) is not an expression on its own: wrap it in an object.
  let code = `(${spec.source})`;
  try {
    new vm.Script(code);
  } catch {
    code = `(Object.values({${spec.source}})[0])`;
  }
  filterLoaderWarning();
  const script = new vm.Script(code, {
    filename: entry,
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER as never,
  });
  fn = script.runInThisContext() as (...args: unknown[]) => unknown;
  if (typeof fn !== 'function') throw new TypeError(`the shipped target did not evaluate to a function`);
  compiled.set(key, fn);
  return fn;
}

/**
 * Node marks USE_MAIN_CONTEXT_DEFAULT_LOADER experimental and warns once, at
 * the first import() a shipped function makes; the warning is noise for our
 * users, so children drop that one warning (and only it).
 */
let warningFiltered = false;
function filterLoaderWarning(): void {
  if (warningFiltered) return;
  warningFiltered = true;
  const original = process.emitWarning;
  process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
    if (String(typeof warning === 'string' ? warning : warning?.message).includes('USE_MAIN_CONTEXT_DEFAULT_LOADER')) return;
    return (original as (...a: unknown[]) => void).call(process, warning, ...rest);
  } as typeof process.emitWarning;
}

/** Resolves a task to the function to call, in the child. */
export async function loadTask(spec: TaskSpec, entry: string): Promise<(...args: unknown[]) => unknown> {
  if (spec.kind === 'source') return compileSource(spec, entry);
  const mod = (await import(spec.url)) as Record<string, unknown>;
  const fn = mod[spec.exportName];
  if (typeof fn !== 'function') {
    throw new TypeError(`task(${JSON.stringify(spec.url)}, ${JSON.stringify(spec.exportName)}): the module has no function export of that name`);
  }
  return fn as (...args: unknown[]) => unknown;
}

/** Rewrites "x is not defined" from a shipped function into an error that says what went wrong. */
export function explainTaskError(err: unknown, spec: TaskSpec): unknown {
  if (spec.kind !== 'source' || !(err instanceof ReferenceError)) return err;
  const m = /^(\S+) is not defined$/.exec(err.message);
  if (!m) return err;
  err.message =
    `${m[1]} is not defined in the child: the function ${spec.name || '(anonymous)'} refers to '${m[1]}', ` +
    `but a function target is shipped to the child by its source text and cannot capture variables from its ` +
    `enclosing scope. Pass '${m[1]}' in args, import it inside the function with await import(...), ` +
    `or use task(import.meta.url, 'exportName').`;
  if (err.stack) err.stack = err.stack.replace(/^ReferenceError: .*$/m, `ReferenceError: ${err.message}`);
  return err;
}
