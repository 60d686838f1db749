// `keel backup DATA_DIR OUT_FILE`: a consistent copy of the SQLite database while `keel serve` may be
// running. SQLite's online backup API copies pages in steps and restarts from the top when another
// connection writes between two steps, so the copy is always one committed state of the database
// (never a torn file, as `cp` of a WAL database can be). The source is opened read-only, directly:
// the command needs none of the store's code and never migrates or writes the live database.
import { existsSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { UsageError } from './serve-config.js';

export const BACKUP_HELP = `Usage: keel backup DATA_DIR OUT_FILE [--force]

  Copies DATA_DIR/keel.db to OUT_FILE with SQLite's online backup API: safe while keel serve
  is running (the copy is one committed state of the database), printing pages copied / total.

  --force          overwrite OUT_FILE if it exists
`;

type Out = (line: string) => void;

/** Pages copied per step: small enough that a running server's writers never wait long on the source. */
const PAGES_PER_STEP = 256;

export async function backupCommand(args: string[], out: Out = (l) => console.log(l)): Promise<number> {
  if (args.includes('-h') || args.includes('--help')) {
    out(BACKUP_HELP.trimEnd());
    return 0;
  }
  let parsed;
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: { force: { type: 'boolean', default: false } } });
  } catch (e) {
    throw new UsageError(`backup: ${(e as Error).message}`);
  }
  const [dataDir, outFile, ...extra] = parsed.positionals;
  if (!dataDir || !outFile || extra.length) throw new UsageError('backup needs DATA_DIR and OUT_FILE; run keel backup --help');
  const source = join(resolve(dataDir), 'keel.db');
  const target = resolve(outFile);
  if (!existsSync(source)) throw new Error(`backup: no database at ${source} (is ${dataDir} a Keel data directory?)`);
  if (target === source) throw new Error('backup: OUT_FILE is the database itself');
  if (existsSync(target) && !parsed.values.force) throw new Error(`backup: ${target} exists; pass --force to overwrite it`);
  const parent = dirname(target);
  if (!existsSync(parent) || !statSync(parent).isDirectory()) throw new Error(`backup: cannot write ${target}: ${parent} is not a directory`);

  let db: Database.Database;
  try {
    db = new Database(source, { readonly: true, fileMustExist: true });
  } catch (e) {
    throw new Error(`backup: cannot open ${source}: ${(e as Error).message}`);
  }
  try {
    // SQLite would write into the old file's pages (and refuse one that is not a database): start from nothing.
    if (parsed.values.force) for (const f of [target, `${target}-journal`, `${target}-wal`]) rmSync(f, { force: true });
    let last = -1;
    const r = await db.backup(target, {
      progress({ totalPages, remainingPages }) {
        const done = totalPages - remainingPages;
        if (done !== last) out(`${done} / ${totalPages} pages`);
        last = done;
        return PAGES_PER_STEP;
      },
    });
    out(`✓ backed up ${source} to ${target} (${r.totalPages} pages)`);
    return 0;
  } catch (e) {
    throw new Error(`backup: cannot write ${target}: ${(e as Error).message}`);
  } finally {
    db.close();
  }
}
