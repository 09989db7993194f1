// ctest shows a skipped test's name but not why; print the SKIP lines our harness wrote, so a
// GPU test that did not run says so, with its reason, in every CI log.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const log = join(process.argv[2] ?? 'build', 'Testing', 'Temporary', 'LastTest.log');
if (existsSync(log)) {
  const text = readFileSync(log, 'utf8');
  for (const line of text.split('\n')) {
    if (line.startsWith('SKIP ')) console.log(`ctest skipped: ${line.slice(5)}`);
  }
  // How much ran on the simulated GPU (README "The simulated GPU"): each of those executables'
  // own "N passed, N failed, N skipped" line.
  let ran = 0,
    executables = 0;
  for (const block of text.split(/^\d+\/\d+ Testing: /m).slice(1)) {
    const name = block.split('\n')[0].trim();
    if (!/_sim$|cudasim|racecheck/.test(name)) continue;
    const counts = /^(\d+) passed, (\d+) failed, (\d+) skipped$/m.exec(block);
    if (!counts) continue;
    executables++;
    ran += Number(counts[1]) + Number(counts[2]);
  }
  if (executables) console.log(`ctest: ${ran} tests ran on the simulated GPU (${executables} executables)`);
}
