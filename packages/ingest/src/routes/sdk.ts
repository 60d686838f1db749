// The script-tag SDK (@keel/embed) at /sdk/: `<script type="module" src="https://keel.example.com/sdk/keel.js" data-write-key=…>`.
// keel.js keeps its name (the tag points at it), so it is cached briefly and revalidated; its
// chunks have content-hashed names, so they are cached for good. Public code: any origin may
// load it (module scripts from another origin need CORS), and no credentials are involved.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';

export const SDK_PREFIX = '/sdk/';

/** @keel/embed's built dist/, or undefined when it isn't installed or built. */
export function embedDist(): string | undefined {
  try {
    const dir = join(dirname(createRequire(import.meta.url).resolve('@keel/embed/package.json')), 'dist');
    return existsSync(join(dir, 'keel.js')) ? dir : undefined;
  } catch {
    return undefined;
  }
}

export const sdkRoutes = (dir: string | false | undefined): FastifyPluginAsync =>
  async function sdk(app) {
    const root = dir === undefined ? embedDist() : dir;
    if (!root) {
      if (dir === undefined) app.log.warn('@keel/embed is not built: /sdk/keel.js is not served (pnpm run build builds it)');
      return;
    }
    await app.register(fastifyStatic, {
      root,
      prefix: SDK_PREFIX,
      // One route per file, found at start: anything else under /sdk/ is the server's own 404.
      wildcard: false,
      decorateReply: false,
      index: false,
      list: false,
      dotfiles: 'deny',
      // The build writes each file gzip- and brotli-compressed too: sent as the browser accepts.
      preCompressed: true,
      cacheControl: false,
      etag: true,
      lastModified: true,
      logLevel: 'warn',
      allowedPath: (path) => path.endsWith('.js') || path === '/manifest.json',
      setHeaders(res, path) {
        const entry = /^(keel\.js|manifest\.json)(\.gz|\.br)?$/.test(relative(root, path));
        res.header('cache-control', entry ? 'public, max-age=300, must-revalidate' : 'public, max-age=31536000, immutable');
        res.header('cross-origin-resource-policy', 'cross-origin');
        res.header('x-content-type-options', 'nosniff');
      },
    });
  };
