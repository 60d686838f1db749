// Preloaded (node --import) into every `keel serve` the e2e tests spawn: when the test process
// dies without stopping it (vitest kills a worker that timed out), the server exits too, instead
// of living on as an orphan that keeps its port and holds PostgreSQL row locks. An orphan is
// re-parented, so its parent pid changes.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(1);
}, 250).unref();
