// Progress of a map: a bar on stderr when it is a terminal (nothing
// otherwise), or the user's function, told { done, total } items.
export interface Progress {
  done: number;
  total: number;
}

export type ProgressOption = boolean | ((progress: Progress) => void) | undefined;

const WIDTH = 30;
const REDRAW_MS = 100;

/** A function to call as items complete, or null when there is nothing to report. */
export function progressReporter(option: ProgressOption, total: number): ((done: number) => void) | null {
  if (typeof option === 'function') return (done) => option({ done, total });
  if (option !== true || !process.stderr.isTTY) return null;
  let drawnAt = 0;
  return (done) => {
    const now = Date.now();
    if (done < total && now - drawnAt < REDRAW_MS) return;
    drawnAt = now;
    const filled = total === 0 ? WIDTH : Math.round((done / total) * WIDTH);
    const percent = total === 0 ? 100 : Math.floor((done / total) * 100);
    process.stderr.write(`\r[${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}] ${done}/${total} (${percent}%)${done >= total ? '\n' : ''}`);
  };
}
