// The e2e harness never leaves a `keel serve` behind: a test process killed without stopping its
// servers (vitest kills a worker that timed out) takes them with it, through the preload every
// spawned server gets (exit-with-parent.mjs). Shown with a middle process that starts a server
// the way the harness does and is then SIGKILLed.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { EXIT_WITH_PARENT, freePort, waitFor } from './harness.js';

const cli = fileURLToPath(new URL('../../packages/ingest/dist/cli.js', import.meta.url));

const answers = (url: string) =>
  fetch(`${url}/healthz`).then(
    () => true,
    () => false,
  );

test.each([
  { preload: true, orphan: false },
  { preload: false, orphan: true },
])(
  'a server spawned with the preload $preload outlives its killed parent: $orphan',
  async ({ preload, orphan }) => {
    const port = await freePort();
    const args = [
      ...(preload ? ['--import', EXIT_WITH_PARENT] : []),
      cli,
      'serve',
      '--port',
      String(port),
      '--data-dir',
      mkdtempSync(join(tmpdir(), 'keel-orphan-')),
      '--log-level',
      'warn',
      '--write-key',
      'k',
    ];
    // The middle process: spawns the server, prints its pid, then waits to be killed.
    const middle = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { spawn } from 'node:child_process';
       const c = spawn(process.execPath, ${JSON.stringify(args)}, { stdio: 'ignore' });
       console.log(c.pid); setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const pid = Number(await new Promise<string>((r) => middle.stdout!.once('data', (b: Buffer) => r(b.toString()))));
    const url = `http://127.0.0.1:${port}`;
    try {
      expect(await waitFor(() => answers(url), Boolean, 15_000)).toBe(true);
      middle.kill('SIGKILL');
      await new Promise((r) => middle.once('exit', r));
      await new Promise((r) => setTimeout(r, 1500)); // six of the preload's checks
      expect(!(await answers(url))).toBe(!orphan);
    } finally {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone already */
      }
    }
  },
  30_000,
);
