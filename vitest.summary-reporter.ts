import path from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';

/** How many of the slowest test files the closing lines list. */
const SLOWEST = 10;

/** How many failed tests the closing lines name. */
const FAILED_NAMED = 30;

/**
 * Prints the slowest test files (their own time: importing the file plus its tests and hooks), the
 * failed tests by file and name (a run read through `tail` still shows which failed), and one plain
 * closing line ("tests: N passed, N failed, N skipped") that CI tooling can read.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const failedNames: string[] = [];
    for (const mod of testModules) {
      const file = path.relative(process.cwd(), mod.moduleId);
      for (const test of mod.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed += 1;
        else if (state === 'failed') {
          failed += 1;
          failedNames.push(`${file} > ${test.fullName}`);
        } else skipped += 1;
      }
      if (mod.state() === 'failed' && [...mod.children.allTests()].length === 0) {
        failed += 1;
        failedNames.push(`${file} (the file failed before its tests ran)`);
      }
    }
    process.stdout.write(slowestFiles(testModules));
    if (failedNames.length > 0) {
      const named = failedNames.slice(0, FAILED_NAMED).map((name) => `  ${name}`);
      if (failedNames.length > FAILED_NAMED) named.push(`  … and ${failedNames.length - FAILED_NAMED} more`);
      process.stdout.write(`\nfailed:\n${named.join('\n')}\n`);
    }
    process.stdout.write(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}

function slowestFiles(testModules: ReadonlyArray<TestModule>): string {
  const timed = testModules.map((mod) => {
    const d = mod.diagnostic();
    return {
      file: path.relative(process.cwd(), mod.moduleId),
      importMs: d.collectDuration,
      runMs: d.duration,
      totalMs: d.collectDuration + d.duration,
    };
  });
  timed.sort((a, b) => b.totalMs - a.totalMs);
  const top = timed.slice(0, SLOWEST);
  if (top.length === 0) return '';
  const s = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
  const lines = top.map(
    (t) =>
      `  ${s(t.totalMs).padStart(7)}  ${t.file}  (import ${s(t.importMs)}, tests and hooks ${s(t.runMs)})`,
  );
  return `\nslowest ${top.length} test files:\n${lines.join('\n')}\n`;
}
