// `keel config validate | diff | publish`: what a CS author runs against a config file.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { formatProblems, type KeelConfig, validateConfigText } from '@keel/sdk-core/authoring';
import { UsageError } from './serve-config.js';

export const CONFIG_HELP = `Usage:
  keel config validate FILE...              check config files (YAML or JSON); exit 1 on any problem
  keel config diff FILE [--url U] [--admin-key K]      what publishing FILE would change
  keel config publish FILE [--url U] [--admin-key K] [--actor NAME]
                                            store FILE as a new immutable version (audit-logged)
  keel config preview FILE [--url U] [--admin-key K]
                                            store FILE as a draft (24 h) and print how to preview it
                                            in the product without publishing

  --url U          KEEL_URL         the Keel server (default http://127.0.0.1:4318)
  --admin-key K    KEEL_ADMIN_KEY   the admin key the server was started with
  --actor NAME     KEEL_ACTOR       who publishes, for the audit log (default $USER)
`;

type Out = (line: string) => void;

function load(file: string, out: Out): KeelConfig | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  const r = validateConfigText(text);
  if (!r.ok) {
    out(formatProblems(file, r.problems));
    out(`✗ ${file}: ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}`);
    return undefined;
  }
  const c = r.config!;
  out(
    `✓ ${file}: valid (${c.checklists?.length ?? 0} checklists, ${c.nudges?.length ?? 0} nudges, ${c.recipes?.length ?? 0} recipes${c.health ? ', health' : ''}${c.lifecycle ? ', lifecycle' : ''})`,
  );
  return c;
}

interface DiffAnswer {
  ok: boolean;
  draft?: string;
  expiresAt?: string;
  version?: number;
  currentVersion?: number | null;
  summary?: string;
  unchanged?: boolean;
  etag?: string;
  message?: string;
  problems?: { path: string; message: string }[];
  diff?: { added: string[]; changed: string[]; removed: string[] };
}

async function post(url: string, adminKey: string, config: KeelConfig, actor: string, dryRun: boolean, path = '/v1/admin/config'): Promise<DiffAnswer> {
  let res: Response;
  try {
    res = await fetch(`${url.replace(/\/+$/, '')}${path}${dryRun ? '?dryRun=1' : ''}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ config, actor }),
    });
  } catch (e) {
    throw new Error(
      `cannot reach the Keel server at ${url}: ${(e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message}`,
    );
  }
  const body = (await res.json().catch(() => ({}))) as DiffAnswer;
  if (!res.ok) {
    const details = body.problems?.map((p) => `  ${p.path}: ${p.message}`).join('\n');
    throw new Error(`the server refused (${res.status}): ${body.message ?? res.statusText}${details ? `\n${details}` : ''}`);
  }
  return body;
}

function printDiff(d: DiffAnswer['diff'], out: Out) {
  if (!d) return;
  for (const x of d.added) out(`  + ${x}`);
  for (const x of d.changed) out(`  ~ ${x}`);
  for (const x of d.removed) out(`  - ${x}`);
  if (!d.added.length && !d.changed.length && !d.removed.length) out('  no changes');
}

export async function configCommand(args: string[], env: NodeJS.ProcessEnv = process.env, out: Out = console.log): Promise<number> {
  const [sub, ...rest] = args;
  if (!sub || sub === '--help' || sub === '-h') {
    out(CONFIG_HELP);
    return sub ? 0 : 2;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: { url: { type: 'string' }, 'admin-key': { type: 'string' }, actor: { type: 'string' } },
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const files = parsed.positionals;
  if (!files.length) throw new UsageError(`keel config ${sub} needs a FILE`);
  if (sub === 'validate') {
    let bad = 0;
    for (const f of files) if (!load(f, out)) bad++;
    return bad ? 1 : 0;
  }
  if (sub !== 'diff' && sub !== 'publish' && sub !== 'preview') throw new UsageError(`unknown config command "${sub}"; run keel config --help`);
  if (files.length > 1) throw new UsageError(`keel config ${sub} takes one FILE`);
  const url = parsed.values.url ?? env.KEEL_URL ?? 'http://127.0.0.1:4318';
  const adminKey = parsed.values['admin-key'] ?? env.KEEL_ADMIN_KEY;
  if (!adminKey) throw new UsageError('no admin key: pass --admin-key KEY or set KEEL_ADMIN_KEY');
  const actor = parsed.values.actor ?? env.KEEL_ACTOR ?? env.USER ?? 'unknown';
  const config = load(files[0]!, out);
  if (!config) return 1;
  if (sub === 'preview') {
    const d = await post(url, adminKey, config, actor, false, '/v1/admin/drafts');
    out(`draft ${d.draft} saved until ${d.expiresAt}`);
    out(`preview it: open your app with ?keel_preview=${d.draft} in the URL (only that browser tab sees the draft)`);
    return 0;
  }
  const dry = await post(url, adminKey, config, actor, true);
  out(`changes against ${dry.currentVersion ? `version ${dry.currentVersion}` : 'nothing published yet'}:`);
  printDiff(dry.diff, out);
  if (sub === 'diff') return 0;
  const done = await post(url, adminKey, config, actor, false);
  out(done.unchanged ? `unchanged: version ${done.version} is already this config` : `published version ${done.version} (${done.summary})`);
  return 0;
}
