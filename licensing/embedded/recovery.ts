/**
 * The embedded store's start-up: snapshot + journal replay (re-appending ledger entries a crash cut off),
 * then a fresh snapshot and an empty journal, so replay work never accumulates.
 */
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Low } from 'lowdb';
import type { Codec } from './codec.ts';
import { decodeLines, readIfExists } from './files.ts';
import { SNAPSHOT, openCodec } from './folder.ts';
import { Journal } from './journal.ts';
import { LedgerFiles } from './ledger-files.ts';
import { SnapshotFile, journalFiles, journalPath, keyOf } from './segments.ts';
import { replay } from './balances.ts';
import { emptyState, withDictionaries, type JournalRecord, type StoreState } from './state.ts';
import type { Logger } from 'pino';

export interface EmbeddedOptions {
  dir: string;
  encryptionKey?: string;
  log: Logger;
  /** Journal records between snapshots. */
  compactEvery?: number;
  clock?: { now(): number };
}

export interface Recovered {
  state: StoreState;
  journal: Journal;
  ledgerFiles: LedgerFiles;
  codec: Codec;
}

export async function recover(options: EmbeddedOptions): Promise<Recovered> {
  const { dir, log } = options;
  const codec = await openCodec(dir, options.encryptionKey);
  const db = new Low<StoreState>(new SnapshotFile(join(dir, SNAPSHOT), codec), emptyState());
  try {
    await db.read();
  } catch (error) {
    throw new Error(`cannot read the store snapshot in ${dir}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const state = withDictionaries(db.data);
  // Holds belong to requests in flight, which did not survive the restart.
  for (const license of Object.values(state.licenses)) license.held = 0;
  const ledgerFiles = new LedgerFiles(join(dir, 'ledger'), codec, (file) =>
    log.warn({ file }, 'dropped a torn last line of a ledger file'),
  );
  await ledgerFiles.init();
  const journals = await journalFiles(dir);
  const lastIds = new Map<string, number>();
  let replayed = 0;
  for (const file of journals) {
    const text = (await readIfExists(file)) ?? '';
    let records: JournalRecord[];
    try {
      records = decodeLines<JournalRecord>(
        text,
        (line) => codec.decode(line),
        () =>
          log.warn(
            { file },
            'dropped a torn last journal line (a crash mid-write; it was never acknowledged)',
          ),
      );
    } catch (error) {
      throw new Error(`journal ${file} is corrupt: ${(error as Error).message}`, { cause: error });
    }
    for (const record of records) {
      if (record.seq <= state.seq) continue;
      const entry = replay(state, record);
      state.seq = record.seq;
      if (entry) await ledgerFiles.ensure(keyOf(record), entry, lastIds);
      replayed++;
    }
  }
  await ledgerFiles.syncDirty();
  // A fresh snapshot now makes the replayed journals redundant.
  db.data = state;
  await db.write();
  for (const file of journals) await unlink(file);
  const journal = Journal.open(journalPath(dir, state.seq + 1));
  log.info(
    { dir, licenses: Object.keys(state.licenses).length, replayed, encrypted: codec.encrypted },
    'store opened',
  );
  return { state, journal, ledgerFiles, codec };
}
