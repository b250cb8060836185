// Thread children run under the parent's module loaders. On Node 20 a worker
// does not get the `--import` preloads' hooks: tsx, for one, registers its
// hooks only on the main thread. So a thread child re-applies the parent's
// `--import` and `--loader` flags itself, calling tsx's register API for tsx.
// (Process children get the flags on their command line and need none of this.)
import { createRequire, register } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const cwdUrl = pathToFileURL(process.cwd() + path.sep).href;

/** The flag values of `--name v` and `--name=v` in argv. */
function flagValues(argv: readonly string[], names: string[]): string[] {
  const values: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s);
    if (!names.includes(flag)) continue;
    const value = inline ?? argv[++i];
    if (value !== undefined) values.push(value);
  }
  return values;
}

/** A preload specifier as Node resolves it: relative paths against the cwd. */
function preloadUrl(spec: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(spec)) return spec;
  if (spec.startsWith('.') || path.isAbsolute(spec)) return pathToFileURL(path.resolve(spec)).href;
  return pathToFileURL(createRequire(cwdUrl).resolve(spec)).href;
}

/** For a preload that is tsx's loader, the URL of tsx's ESM register API; else null. */
function tsxRegisterApi(url: string): string | null {
  if (!url.startsWith('file:')) return null;
  const m = /^(.*[\\/]tsx[\\/]dist[\\/])(loader|esm[\\/]index)\.m?js$/.exec(fileURLToPath(url));
  return m ? pathToFileURL(path.join(m[1], 'esm', 'api', 'index.mjs')).href : null;
}

export async function applyParentLoaders(execArgv: readonly string[]): Promise<void> {
  for (const spec of flagValues(execArgv, ['--loader', '--experimental-loader'])) register(spec, cwdUrl);
  for (const spec of flagValues(execArgv, ['--import'])) {
    const url = preloadUrl(spec);
    const tsxApi = tsxRegisterApi(url);
    if (tsxApi) {
      const api = (await import(tsxApi)) as { register: () => unknown };
      api.register();
    } else {
      await import(url);
    }
  }
}
