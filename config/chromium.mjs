import { existsSync } from 'node:fs';

/**
 * Debian's Chromium. Keel never downloads a browser: tests and benchmarks drive the system one.
 * Override with KEEL_CHROMIUM when it lives elsewhere.
 * @returns {string}
 */
export function chromiumPath() {
  const candidates = [process.env.KEEL_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  for (const c of candidates) if (c && existsSync(c)) return c;
  throw new Error('Chromium not found: install it (Debian: `apt-get install -y chromium`) or set KEEL_CHROMIUM to its path.');
}

/** Flags for a sandboxed CI machine with no network but loopback. */
export const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
];
