// `npm start`: runs every example in order, each in its own process, with a header.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const dir = import.meta.dirname;
const examples = fs
  .readdirSync(dir)
  .filter((f) => /^\d\d-.*\.ts$/.test(f))
  .sort();

let failed = 0;
for (const file of examples) {
  const title = fs.readFileSync(path.join(dir, file), 'utf8').split('\n')[0].replace(/^\/\/\s*/, '');
  console.log(`\n=== ${file}: ${title} ===`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(dir, file)], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    console.log(`!!! ${file} exited with ${r.status ?? r.signal}`);
  }
}
console.log(`\n${examples.length - failed} of ${examples.length} examples ran cleanly.`);
process.exit(failed ? 1 : 0);
