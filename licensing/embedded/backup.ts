/**
 * Backups of the embedded store: its files copied while no process holds the folder, after opening it once
 * has folded the journal into the snapshot. A restore puts a backup in place of the data folder's store,
 * keeping what it replaces in a folder beside it, so a wrong restore can be undone by hand.
 */
import { cp, mkdir, readdir, rename } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { acquireLock, SNAPSHOT } from './folder.ts';

/** What a store is made of: journal segments are folded into the snapshot when a store is opened. */
const STORE_FILES = [SNAPSHOT, 'key-check', 'ledger'];
const isStoreFile = (name: string) => STORE_FILES.includes(name) || name.startsWith('journal-');

export class BackupRefused extends Error {}

/** Copies a closed, folded store (open it once before) to `to`. */
export async function copyStore(from: string, to: string): Promise<void> {
  const lock = await acquireLock(from);
  try {
    await mkdir(to, { recursive: true });
    for (const name of await readdir(from)) {
      if (isStoreFile(name)) await cp(join(from, name), join(to, name), { recursive: true, force: true });
    }
  } finally {
    await lock.release();
  }
}

/** The files of the backup in `dir`; refused when it holds none (opening it would make an empty store). */
export async function backupFilesIn(dir: string): Promise<string[]> {
  const files = await readdir(dir).catch(() => [] as string[]);
  if (!files.includes(SNAPSHOT)) throw new BackupRefused(`${dir} holds no store backup (no ${SNAPSHOT})`);
  return files;
}

/**
 * Puts the backup in `backup` in place of the store in `dir`. A store already there is refused unless
 * `replace`, which moves it into `dir/replaced-<time>` first. Returns that folder, if any.
 */
export async function restoreStore(
  backup: string,
  dir: string,
  options: { replace: boolean; now: Date },
): Promise<string | undefined> {
  const source = resolve(backup);
  const backupFiles = await backupFilesIn(source);
  await mkdir(dir, { recursive: true });
  const lock = await acquireLock(dir);
  try {
    const present = (await readdir(dir)).filter(isStoreFile);
    let replaced: string | undefined;
    if (present.length > 0) {
      if (!options.replace)
        throw new BackupRefused(`${dir} already holds a store: --replace moves it aside, then restores`);
      replaced = join(dir, `replaced-${options.now.toISOString().replaceAll(':', '-')}`);
      await mkdir(replaced);
      for (const name of present) await rename(join(dir, name), join(replaced, name));
    }
    for (const name of backupFiles) {
      if (isStoreFile(name)) await cp(join(source, name), join(dir, name), { recursive: true });
    }
    return replaced;
  } finally {
    await lock.release();
  }
}
