/**
 * Prints one plain closing line, "N passed, N failed, N skipped", after vitest's own summary, so
 * that CI logs state the count in a form any tool can read. Skipped tests are listed with their
 * names so a skip is never silent.
 */
import type { Reporter, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>, errors: ReadonlyArray<unknown> = []): void {
    let passed = 0;
    let failed = 0;
    let notRun = 0;
    const skipped: string[] = [];
    let simulated = 0;
    for (const m of modules) {
      if (m.state() === 'failed' && [...m.children.allTests()].length === 0) failed++;
      for (const t of m.children.allTests()) {
        const state = t.result().state;
        if (/simulated GPU/.test(t.fullName) && (state === 'passed' || state === 'failed')) simulated++;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else if (state === 'pending')
          notRun++; // its worker died before it ran (a native crash)
        else if (state === 'skipped') skipped.push(`${m.moduleId.replace(/^.*\/test\//, 'test/')} > ${t.fullName}`);
      }
    }
    for (const s of skipped) console.log(`skipped: ${s}`);
    const extra = [
      notRun ? `, ${notRun} not run` : '',
      errors.length ? `, ${errors.length} unhandled error${errors.length > 1 ? 's' : ''} (a worker crashed?)` : '',
    ].join('');
    if (simulated) console.log(`vitest: ${simulated} tests ran on the simulated GPU`);
    console.log(`vitest: ${passed} passed, ${failed} failed, ${skipped.length} skipped${extra}`);
  }
}
