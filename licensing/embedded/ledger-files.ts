/**
 * The ledger on disk: one append-only file per license, named by a digest of its key (never the key).
 * Appends are ordered per file and not synced one by one: the journal is the durable record, and the
 * store syncs these files before it drops any journal (compaction). Reading a page costs one file.
 */
import { appendFile, mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { keyDigest } from '../keys.ts';
import type { LedgerEntry, LedgerPage } from '../types.ts';
import type { Codec } from './codec.ts';
import { decodeLines, readIfExists } from './files.ts';

export class LedgerFiles {
  private readonly queues = new Map<string, Promise<void>>();
  private readonly dirty = new Set<string>();

  constructor(
    private readonly dir: string,
    private readonly codec: Codec,
    private readonly onTorn: (file: string) => void,
  ) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  private fileOf(key: string): string {
    return join(this.dir, `${keyDigest(key)}.jsonl`);
  }

  append(key: string, entry: LedgerEntry): Promise<void> {
    const file = this.fileOf(key);
    const line = `${this.codec.encode(entry)}\n`;
    const queued = (this.queues.get(file) ?? Promise.resolve()).then(() => appendFile(file, line));
    const settled = queued.catch(() => undefined);
    this.queues.set(file, settled);
    this.dirty.add(file);
    void settled.then(() => {
      if (this.queues.get(file) === settled) this.queues.delete(file);
    });
    return queued;
  }

  private async entries(key: string): Promise<LedgerEntry[]> {
    const file = this.fileOf(key);
    await this.queues.get(file);
    const text = await readIfExists(file);
    if (!text) return [];
    return decodeLines<LedgerEntry>(
      text,
      (line) => this.codec.decode(line),
      () => this.onTorn(file),
    );
  }

  async page(key: string, options: { limit: number; before?: number }): Promise<LedgerPage> {
    const all = await this.entries(key);
    const older = options.before === undefined ? all : all.filter((e) => e.id < options.before!);
    const entries = older.slice(-options.limit).reverse();
    const next = older.length > options.limit ? entries.at(-1)!.id : null;
    return { entries, next };
  }

  /** Start-up: re-appends a journaled entry the ledger file lost in a crash (files are not synced per entry). */
  async ensure(key: string, entry: LedgerEntry, lastIds: Map<string, number>): Promise<void> {
    let last = lastIds.get(key);
    if (last === undefined) last = await this.lastId(key);
    if (entry.id > last) {
      await this.repairTail(key);
      await this.append(key, entry);
      last = entry.id;
    }
    lastIds.set(key, last);
  }

  /** The id of the last whole entry, read from the file's tail only (start-up cost must not grow with history). */
  private async lastId(key: string): Promise<number> {
    const file = this.fileOf(key);
    let handle;
    try {
      handle = await open(file, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw error;
    }
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, 64 * 1024);
      const { buffer } = await handle.read(Buffer.alloc(length), 0, length, size - length);
      const lines = buffer.toString('utf8').split('\n').filter(Boolean);
      for (let i = lines.length - 1; i >= 0; i--) {
        try {
          return this.codec.decode<LedgerEntry>(lines[i]!).id;
        } catch {
          // a torn last line, or the cut first line of the tail
        }
      }
      return 0;
    } finally {
      await handle.close();
    }
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
      const handle = await open(file, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
  }
}
