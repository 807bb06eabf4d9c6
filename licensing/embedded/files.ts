/** Durable file helpers: atomic replace (temp, fsync, rename, fsync of the folder) and tolerant line reads. */
import { open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

export async function writeFileDurably(path: string, text: string): Promise<void> {
  const temp = `${path}.tmp-${process.pid}`;
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
  await syncFolder(dirname(path));
}

export async function syncFolder(path: string): Promise<void> {
  const folder = await open(path, 'r');
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}

export async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Decodes the lines of an append-only file. An unreadable *last* line is a write torn by a crash and is
 * dropped (reported through `onTorn`); an unreadable line anywhere else is corruption and throws.
 */
export function decodeLines<T>(
  text: string,
  decode: (line: string) => T,
  onTorn: (line: string) => void,
): T[] {
  const lines = text.split('\n');
  const endsClean = lines.at(-1) === '';
  if (endsClean) lines.pop();
  const out: T[] = [];
  for (let i = 0; i < lines.length; i++) {
    try {
      out.push(decode(lines[i]!));
    } catch (error) {
      if (i === lines.length - 1) {
        onTorn(lines[i]!);
      } else {
        throw new Error(`line ${i + 1} cannot be read: ${(error as Error).message}`, { cause: error });
      }
    }
  }
  return out;
}
