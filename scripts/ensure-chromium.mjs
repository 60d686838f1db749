// The README's commands need Debian's Chromium for the browser tests and the demo's checks.
// Runs before the install: when Chromium is missing it installs it with apt (as root), or stops
// within seconds naming the one command to run. KEEL_CHROMIUM points at another binary.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const candidates = [process.env.KEEL_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
const found = () => candidates.find((c) => c && existsSync(c));

if (!found()) {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const hasApt = existsSync('/usr/bin/apt-get');
  if (isRoot && hasApt) {
    console.log("keel: Chromium is missing; installing Debian's chromium with apt-get (about a minute)…");
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    try {
      execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
      execFileSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: ['ignore', 'ignore', 'inherit'], env });
    } catch (e) {
      console.error(`keel: installing chromium failed (${e.message}); run: sudo apt-get install -y chromium`);
      process.exit(1);
    }
    if (!found()) {
      console.error('keel: apt-get finished but /usr/bin/chromium is still missing; set KEEL_CHROMIUM to your Chromium binary');
      process.exit(1);
    }
    console.log(`keel: installed ${found()}`);
  } else {
    console.error(
      'keel: the browser tests need Chromium and none was found.\n' +
        (hasApt ? '  run: sudo apt-get install -y chromium\n' : '  install Chromium, then ') +
        '  (or set KEEL_CHROMIUM=/path/to/chromium)',
    );
    process.exit(1);
  }
}
