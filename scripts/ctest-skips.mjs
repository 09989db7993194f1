// ctest shows a skipped test's name but not why; print the SKIP lines our harness wrote, so a
// GPU test that did not run says so, with its reason, in every CI log.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const log = join(process.argv[2] ?? 'build', 'Testing', 'Temporary', 'LastTest.log');
if (existsSync(log)) {
  for (const line of readFileSync(log, 'utf8').split('\n')) {
    if (line.startsWith('SKIP ')) console.log(`ctest skipped: ${line.slice(5)}`);
  }
}
