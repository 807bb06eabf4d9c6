/** The embedded store's files on disk: the lowdb snapshot and the journal segments. */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Adapter } from 'lowdb';
import type { Codec } from './codec.ts';
import { readIfExists, writeFileDurably } from './files.ts';
import type { JournalRecord, StoreState } from './state.ts';

export const journalPath = (dir: string, firstSeq: number) =>
  join(dir, `journal-${String(firstSeq).padStart(12, '0')}.jsonl`);

/** lowdb adapter: the snapshot is written atomically and durably, and encrypted when a key is set. */
export class SnapshotFile implements Adapter<StoreState> {
  constructor(
    private readonly path: string,
    private readonly codec: Codec,
  ) {}

  async read(): Promise<StoreState | null> {
    const text = await readIfExists(this.path);
    return text === undefined ? null : this.codec.decode<StoreState>(text.trim());
  }

  write(data: StoreState): Promise<void> {
    // Encoded at once, so the snapshot is the state of this instant while requests keep changing it.
    return writeFileDurably(this.path, `${this.codec.encode(data)}\n`);
  }
}

export function keyOf(record: JournalRecord): string {
  if (record.op === 'payment') return record.key!;
  return 'request' in record ? record.request.key : record.key;
}

export async function journalFiles(dir: string): Promise<string[]> {
  const names = (await readdir(dir)).filter((n) => /^journal-\d+\.jsonl$/.test(n)).sort();
  return names.map((n) => join(dir, n));
}
