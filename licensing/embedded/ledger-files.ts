/**
 * The ledger on disk: one append-only file per license, named by a digest of its key (never the key).
 * Appends are ordered per file and not synced one by one: the journal is the durable record, and the
 * store syncs these files before it drops any journal (compaction). A page is read from the file's end.
 * The files of busy licenses stay open, so a write is one system call, not an open, a write and a close.
 */
import { close, open as openFd } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LRUCache } from 'lru-cache';
import { growingLru } from '../../gateway/lru.ts';
import { keyDigest } from '../keys.ts';
import type { LedgerEntry, LedgerPage } from '../types.ts';
import type { Codec } from './codec.ts';
import { deferred, type Deferred } from './deferred.ts';
import { linesFromEnd, readIfExists, writeFully } from './files.ts';

const openAppend = promisify(openFd);
const closeFd = promisify(close);

export class LedgerFiles {
  /** The write running for a file, if any. */
  private readonly queues = new Map<string, Promise<void>>();
  /** Lines waiting for the next write of a file; they share one promise. */
  private readonly batches = new Map<string, Deferred & { lines: string[] }>();
  private readonly dirty = new Set<string>();
  /** File of each license key seen lately (a digest per append would cost more than the write). */
  private readonly paths = growingLru<string, string>({ entries: 10_000 });
  private readonly closing = new Set<Promise<void>>();
  /** Descriptors of the files written lately; one evicted is closed once its file's writes are done. */
  private readonly descriptors = new LRUCache<string, Promise<number>>({
    max: 64,
    dispose: (fd, file) => {
      const closing = this.closeAfterWrites(file, fd).finally(() => this.closing.delete(closing));
      this.closing.add(closing);
    },
  });

  constructor(
    private readonly dir: string,
    private readonly codec: Codec,
    private readonly onTorn: (file: string) => void,
  ) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  private fileOf(key: string): string {
    let file = this.paths.get(key);
    if (file === undefined) {
      file = join(this.dir, `${keyDigest(key)}.jsonl`);
      this.paths.set(key, file);
    }
    return file;
  }

  private descriptor(file: string): Promise<number> {
    let fd = this.descriptors.get(file);
    if (!fd) {
      fd = openAppend(file, 'a');
      this.descriptors.set(file, fd);
      // A failed open is tried again by the next write, not remembered.
      fd.catch(() => this.descriptors.get(file) === fd && this.descriptors.delete(file));
    }
    return fd;
  }

  private async closeAfterWrites(file: string, fd: Promise<number>): Promise<void> {
    await this.queues.get(file);
    const opened = await fd.catch(() => undefined);
    // Nothing is left to write through it: a failing close loses nothing.
    if (opened !== undefined) await closeFd(opened).catch(() => undefined);
  }

  /**
   * Appends an encoded entry line, in file order. Lines that arrive while a write to the same file runs go
   * out together in the next one: one busy license costs one write per batch, not one per entry.
   */
  append(key: string, line: string): Promise<void> {
    const batch = this.batchOf(key);
    batch.lines.push(line);
    return batch.promise;
  }

  /** Appends the encoded entry lines of several licenses, by key; resolves when all are written. */
  appendAll(lines: ReadonlyMap<string, readonly string[]>): Promise<unknown> {
    const written: Promise<void>[] = [];
    for (const [key, keyLines] of lines) {
      const batch = this.batchOf(key);
      batch.lines.push(...keyLines);
      written.push(batch.promise);
    }
    return Promise.all(written);
  }

  /** The lines waiting for a file's next write. */
  private batchOf(key: string): Deferred & { lines: string[] } {
    const file = this.fileOf(key);
    let batch = this.batches.get(file);
    if (!batch) {
      batch = { ...deferred(), lines: [] };
      this.batches.set(file, batch);
      this.dirty.add(file);
      if (!this.queues.has(file)) this.queues.set(file, this.drain(file));
    }
    return batch;
  }

  private async drain(file: string): Promise<void> {
    // Entries appended in the same turn (a journal batch made durable at once) go out in one write.
    await null;
    for (;;) {
      const batch = this.batches.get(file);
      if (!batch || batch.lines.length === 0) break;
      this.batches.delete(file);
      try {
        await writeFully(await this.descriptor(file), Buffer.from(`${batch.lines.join('\n')}\n`));
        batch.resolve();
      } catch (error) {
        batch.reject(error as Error);
      }
    }
    this.queues.delete(file);
  }

  /** Newest first, read from the file's end: a page costs its own entries, not the license's history. */
  async page(key: string, options: { limit: number; before?: number }): Promise<LedgerPage> {
    const file = this.fileOf(key);
    await this.queues.get(file);
    const found: LedgerEntry[] = [];
    for await (const { line, last } of linesFromEnd(file)) {
      let entry: LedgerEntry;
      try {
        entry = this.codec.decode<LedgerEntry>(line);
      } catch (error) {
        if (last) {
          this.onTorn(file);
          continue;
        }
        throw new Error(`ledger file ${file} is corrupt: ${(error as Error).message}`, { cause: error });
      }
      // Entries are appended in id order, so every line after this one is older still.
      if (options.before !== undefined && entry.id >= options.before) continue;
      found.push(entry);
      if (found.length > options.limit) break;
    }
    const entries = found.slice(0, options.limit);
    return { entries, next: found.length > options.limit ? entries.at(-1)!.id : null };
  }

  /** Start-up: re-appends a journaled entry the ledger file lost in a crash (files are not synced per entry). */
  async ensure(key: string, entry: LedgerEntry, lastIds: Map<string, number>): Promise<void> {
    let last = lastIds.get(key);
    if (last === undefined) last = await this.lastId(key);
    if (entry.id > last) {
      await this.repairTail(key);
      await this.append(key, this.codec.encodeJson(JSON.stringify(entry)));
      last = entry.id;
    }
    lastIds.set(key, last);
  }

  /** The id of the last whole entry, read from the file's end (start-up cost must not grow with history). */
  private async lastId(key: string): Promise<number> {
    for await (const { line } of linesFromEnd(this.fileOf(key))) {
      try {
        return this.codec.decode<LedgerEntry>(line).id;
      } catch {
        // a torn last line
      }
    }
    return 0;
  }

  /** A crash can leave a half-written last line; cut it so the next append starts on a fresh line. */
  private async repairTail(key: string): Promise<void> {
    const file = this.fileOf(key);
    const text = await readIfExists(file);
    if (!text || text.endsWith('\n')) return;
    const handle = await open(file, 'r+');
    try {
      await handle.truncate(Buffer.byteLength(text.slice(0, text.lastIndexOf('\n') + 1)));
    } finally {
      await handle.close();
    }
  }

  /** Syncs every file written since the last call. */
  async syncDirty(): Promise<void> {
    const files = [...this.dirty];
    this.dirty.clear();
    for (const file of files) {
      await this.queues.get(file);
      // A handle of its own: a kept-open descriptor could be closed (evicted) during the sync. Rare (compaction).
      const handle = await open(file, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
  }

  /** Closes the files kept open; the store calls it last, after syncDirty. */
  async close(): Promise<void> {
    this.descriptors.clear();
    await Promise.all(this.closing);
  }
}
