/**
 * File helpers: atomic replace (temp, fsync, rename, fsync of the folder), whole writes to a descriptor and
 * tolerant line reads.
 */
import { write } from 'node:fs';
import { open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { promisify } from 'node:util';

const writeFd = promisify(write);

/** Writes all of `data` at the descriptor's position: a write may take only part of it. */
export async function writeFully(fd: number, data: Buffer): Promise<void> {
  for (let done = 0; done < data.length;) {
    done += (await writeFd(fd, data, done, data.length - done)).bytesWritten;
  }
}

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
 * The lines of a file, last first, read backwards in chunks: the newest lines of a long file cost no more
 * than those of a short one. `last` marks the file's final line, the one a crash may have torn.
 */
export async function* linesFromEnd(
  path: string,
  chunkBytes = 64 * 1024,
): AsyncGenerator<{ line: string; last: boolean }> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  try {
    let position = (await handle.stat()).size;
    // Bytes of a line that began before the chunk read so far; split on bytes, so UTF-8 is never cut.
    let head = Buffer.alloc(0);
    let atEnd = true;
    const emit = function* (line: string) {
      // A file ends with a newline: the empty text after it is no line.
      if (atEnd && line === '') return;
      yield { line, last: atEnd };
      atEnd = false;
    };
    while (position > 0) {
      const length = Math.min(chunkBytes, position);
      position -= length;
      const chunk = Buffer.alloc(length);
      await handle.read(chunk, 0, length, position);
      const bytes = Buffer.concat([chunk, head]);
      let end = bytes.length;
      while (end > 0) {
        const newline = bytes.lastIndexOf(10, end - 1);
        if (newline === -1) break;
        yield* emit(bytes.subarray(newline + 1, end).toString('utf8'));
        end = newline;
      }
      head = bytes.subarray(0, end);
    }
    if (head.length > 0) yield* emit(head.toString('utf8'));
  } finally {
    await handle.close();
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
