/** The data folder's guards: one process at a time (a lock), and the right encryption key (a key check). */
import { readdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encryptedCodec, plainCodec, type Codec } from './codec.ts';
import { readIfExists, writeFileDurably } from './files.ts';

const KEY_CHECK = { cradle: 'store-key-check' };
export const SNAPSHOT = 'snapshot.json';

/** Another process (or this one) holds the data folder. */
export class StoreInUse extends Error {}

export interface Lock {
  release(): Promise<void>;
}

/**
 * One process per data folder: two writers on one journal would corrupt it. A lock left by a process that
 * no longer runs (a crash) is taken over.
 */
const heldHere = new Set<string>();

export async function acquireLock(dir: string): Promise<Lock> {
  const path = join(dir, 'LOCK');
  if (heldHere.has(path))
    throw new StoreInUse(`the store in ${dir} is in use by process ${process.pid} (this one)`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(path, String(process.pid), { flag: 'wx' });
      heldHere.add(path);
      return {
        release: async () => {
          heldHere.delete(path);
          await unlink(path).catch(() => undefined);
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(await readIfExists(path));
      if (holder && holder !== process.pid && isRunning(holder)) {
        throw new StoreInUse(
          `the store in ${dir} is in use by process ${holder}; stop it, or use the admin API`,
        );
      }
      await unlink(path).catch(() => undefined);
    }
  }
  throw new Error(`cannot lock the store in ${dir}`);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The key-check file tells a wrong or missing key at start-up, clearly, instead of an unreadable
 * (or silently empty) store.
 */
export async function openCodec(dir: string, encryptionKey: string | undefined): Promise<Codec> {
  const path = join(dir, 'key-check');
  const existing = await readIfExists(path);
  const hasData = (await readdir(dir)).some((n) => n === SNAPSHOT || n.startsWith('journal-'));
  if (!encryptionKey) {
    if (existing) throw new Error(`the store in ${dir} is encrypted: set DATA_ENCRYPTION_KEY to open it`);
    return plainCodec();
  }
  const codec = encryptedCodec(encryptionKey);
  if (existing) {
    try {
      codec.decode(existing.trim());
    } catch {
      throw new Error(`DATA_ENCRYPTION_KEY does not open the store in ${dir} (wrong key)`);
    }
    return codec;
  }
  if (hasData)
    throw new Error(`the store in ${dir} is not encrypted; unset DATA_ENCRYPTION_KEY or use a new DATA_DIR`);
  await writeFileDurably(path, `${codec.encode(KEY_CHECK)}\n`);
  return codec;
}
