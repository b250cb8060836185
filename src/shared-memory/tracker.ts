// The shared-memory tracker (Python's resource_tracker for 'shared_memory').
//
// Segments this program creates are unlinked when it ends, however it ends
// (SIGKILL included), unless created with track: false. On the first tracked
// create a tiny helper is spawned: /bin/sh running SCRIPT, reading lines
// `+name` / `-name` from its stdin. The write end of that pipe is held only by
// this thread (libuv makes it close-on-exec, so no other child inherits it);
// when it closes — this thread or process ended, or was killed — the helper
// reads EOF, removes the segments still registered and exits.
//
// There is one helper per isolate (JS state is per thread), so a segment made
// in a thread or process child is unlinked when that child ends, as with
// Python processes that each get their own tracker.
import { spawn, type ChildProcess } from 'node:child_process';

// POSIX sh. `names` is a newline-delimited list that starts and ends with a
// newline; patterns are quoted so names with glob characters match literally.
const SCRIPT = `
trap '' INT HUP PIPE
nl='
'
names=$nl
while IFS= read -r line; do
  n=\${line#?}
  case $line in
    +*) names=$names$n$nl ;;
    -*) case $names in *"$nl$n$nl"*) names=\${names%%"$nl$n$nl"*}$nl\${names#*"$nl$n$nl"} ;; esac ;;
  esac
done
set -f
IFS=$nl
for n in $names; do [ -n "$n" ] && rm -f -- "/dev/shm/$n"; done
exit 0
`;

let helper: ChildProcess | null = null;
/** Set when the helper could not be started or died: tracking is then off (best effort, as Python's). */
let broken = false;
/** shm names ('/psm_...') registered with this isolate's helper. */
const tracked = new Set<string>();

/** The file under /dev/shm that shm_open(name) uses (glibc strips every leading '/'). */
function fileName(shmName: string): string {
  return shmName.replace(/^\/+/, '');
}

/** Starts the helper if needed; call before creating a tracked segment. */
export function ensureTracker(): void {
  if (helper || broken) return;
  let child: ChildProcess;
  try {
    child = spawn('/bin/sh', ['-c', SCRIPT], {
      stdio: ['pipe', 'ignore', 'ignore'],
      // Its own session: a Ctrl-C to the program's process group must not kill
      // it before the program's death lets it clean up.
      detached: true,
      cwd: '/',
    });
  } catch {
    broken = true;
    return;
  }
  child.on('error', () => (broken = true));
  child.on('exit', () => {
    broken = true;
    helper = null;
  });
  child.stdin!.on('error', () => (broken = true));
  // Neither the helper nor its pipe keeps this program (or thread) alive.
  child.unref();
  (child.stdin as unknown as { unref(): void }).unref();
  helper = child;
}

function send(line: string): void {
  // libuv writes small chunks to the pipe at once (no queueing while the pipe
  // has room), so the line is with the helper before this returns.
  if (helper && !broken) helper.stdin!.write(line + '\n');
}

/** Registers a segment created here (call right after a successful create). */
export function track(shmName: string): void {
  ensureTracker();
  tracked.add(shmName);
  send('+' + fileName(shmName));
}

/** Forgets a segment (unlinked, or its name reused); a no-op if not tracked here. */
export function untrack(shmName: string): void {
  if (tracked.delete(shmName)) send('-' + fileName(shmName));
}

/** The helper's pid, for tests; null when none runs. */
export function trackerPid(): number | null {
  return helper?.pid ?? null;
}
