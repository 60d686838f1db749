// Prints one closing line that any CI log reader understands: "keel: N passed, N failed[, N skipped]".
// Vitest's own summary stays above it; this line is always the last one printed.
export default class SummaryReporter {
  onTestRunEnd(testModules, unhandledErrors) {
    let passed = 0,
      failed = 0,
      skipped = 0;
    for (const mod of testModules) {
      let failedHere = 0;
      for (const test of mod.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failedHere++;
        else skipped++;
      }
      // A file that failed outside its tests (a suite hook, an import) counts once, even when its
      // tests were then marked skipped: the run failed, and the line must say so.
      if (mod.state() === 'failed' && failedHere === 0) failedHere = 1;
      failed += failedHere;
    }
    failed += unhandledErrors.length;
    const tail = skipped ? `, ${skipped} skipped` : '';
    process.stdout.write(`\nkeel: ${passed} passed, ${failed} failed${tail}\n`);
  }
}
