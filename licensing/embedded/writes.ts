/**
 * The embedded store's disk side: every change as a journal line (group commit), the ledger files that
 * follow the journal (so a ledger never shows an entry the journal could lose), and compaction of the
 * journal into a snapshot every `compactEvery` lines.
 */
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { LedgerEntry, LedgerPage } from '../types.ts';
import type { Codec } from './codec.ts';
import { writeFileDurably } from './files.ts';
import { SNAPSHOT } from './folder.ts';
import { Journal, type AppendOptions } from './journal.ts';
import type { LedgerFiles } from './ledger-files.ts';
import { journalPath, keyOf } from './segments.ts';
import { forgetExpired, type JournalRecord, type StoreState } from './state.ts';

/** The changes of one journal batch, and the ledger lines to write once it is on disk. */
interface WriteBatch {
  durable: Promise<void>;
  /** Encoded ledger lines, by license key. */
  entries: Map<string, string[]>;
  /** Journal durable, then the ledger lines written. */
  written: Promise<unknown>;
}

export interface WritesOptions {
  dir: string;
  log: Logger;
  /** Journal lines between snapshots. */
  compactEvery: number;
  /** The state a snapshot is taken of (the store's own, changed in place). */
  state: StoreState;
  now: () => number;
}

export class StoreWrites {
  private sinceSnapshot = 0;
  private compacting: Promise<void> | undefined;
  /** The latest batch of changes: read-your-writes waits for its ledger write. */
  private batch: WriteBatch | undefined;
  /** A write failure of a journal replaced at compaction (the current one reports its own). */
  private journalFailure: Error | undefined;

  constructor(
    private readonly options: WritesOptions,
    private journal: Journal,
    private readonly ledgerFiles: LedgerFiles,
    private readonly codec: Codec,
  ) {}

  /** Journals a record, and the ledger entry it made; resolves when the record is durable. */
  record(record: JournalRecord, options: AppendOptions, entry: LedgerEntry | undefined): Promise<void> {
    const ledger = entry && { key: keyOf(record), line: this.codec.encodeJson(JSON.stringify(entry)) };
    return this.line(this.codec.encode(record), options, ledger);
  }

  /** Journals a usage charge as its entry, nobody waiting: encoded once, one text for journal and ledger. */
  entry(key: string, entry: LedgerEntry, options: AppendOptions): void {
    const record = JSON.stringify({ op: 'entry', seq: entry.id, key, entry });
    const line = this.codec.encodeJson(JSON.stringify(entry));
    this.line(this.codec.encodeJson(record), options, { key, line });
  }

  private line(line: string, options: AppendOptions, ledger: { key: string; line: string } | undefined) {
    const durable = this.journal.append(line, options);
    const batch = this.batchOf(durable);
    if (ledger) {
      let lines = batch.entries.get(ledger.key);
      if (!lines) batch.entries.set(ledger.key, (lines = []));
      lines.push(ledger.line);
    }
    if (++this.sinceSnapshot >= this.options.compactEvery) this.compact();
    return durable;
  }

  /**
   * The changes of one journal batch: their ledger lines are written once it is on disk, all at once,
   * and a failure is logged once for the batch. A failed journal stops the store (health turns red).
   */
  private batchOf(durable: Promise<void>): WriteBatch {
    if (this.batch?.durable === durable) return this.batch;
    const entries: WriteBatch['entries'] = new Map();
    const written = durable.then(() => {
      const appended = this.ledgerFiles.appendAll(entries);
      entries.clear();
      return appended;
    });
    written.catch((error: unknown) =>
      this.options.log.error({ err: error }, 'journal or ledger file write failed'),
    );
    this.batch = { durable, entries, written };
    return this.batch;
  }

  /** The journal write failure that stopped the store, also one of a journal replaced since. */
  get failure(): Error | undefined {
    return this.journalFailure ?? this.journal.failure;
  }

  /** A page of a license's ledger, with every change made so far (also those on their way to disk). */
  async ledger(key: string, options: { limit: number; before?: number }): Promise<LedgerPage> {
    await this.journal.drain().catch(() => undefined);
    await this.batch?.written.catch(() => undefined);
    return this.ledgerFiles.page(key, options);
  }

  /**
   * Snapshot of this instant, written once the journal it replaces is itself on disk (so a snapshot never
   * holds a change that was not acknowledged), then that journal is dropped. Requests go on meanwhile.
   */
  private compact(): void {
    // After a failed journal write, memory may hold a change that was refused: it must never be snapshotted.
    if (this.compacting || this.failure) return;
    this.sinceSnapshot = 0;
    const { dir, state } = this.options;
    const old = this.journal;
    forgetExpired(state, this.options.now());
    const snapshot = this.codec.encode(state);
    this.journal = Journal.open(journalPath(dir, state.seq + 1));
    this.compacting = (async () => {
      await old.close();
      if (old.failure) {
        this.journalFailure = old.failure;
        throw old.failure;
      }
      await this.ledgerFiles.syncDirty();
      await writeFileDurably(join(dir, SNAPSHOT), `${snapshot}\n`);
      await unlink(old.path);
    })()
      .catch((error: unknown) =>
        this.options.log.error({ err: error }, 'compaction failed; the journal is kept'),
      )
      .finally(() => (this.compacting = undefined));
  }

  /** Flushes, and folds the journal into a snapshot so the next start-up replays nothing. */
  async close(): Promise<void> {
    await this.compacting;
    if (this.sinceSnapshot > 0) this.compact();
    await this.compacting;
    await this.journal.drain();
    await this.ledgerFiles.syncDirty();
    await this.ledgerFiles.close();
    await this.journal.close();
  }
}
