/**
 * Append-only journal with group commit: every line is on disk (fdatasync) before its append resolves,
 * and all lines that arrive while one sync runs share the next one. A line nobody waits for (a proxied
 * request's charge) may linger up to LINGER_MS for company, so a busy gateway syncs a batch of charges
 * at once instead of a few at a time; a line someone waits for is written at once and takes them along.
 */
import { closeSync, fdatasync, openSync } from 'node:fs';
import { promisify } from 'node:util';
import { deferred, type Deferred } from './deferred.ts';
import { writeFully } from './files.ts';

const syncFd = promisify(fdatasync);

/**
 * How long a line nobody waits for may wait for others before it is written: each batch costs a write and a
 * sync, so a busy gateway syncs many charges at once. A crash loses at most this window of proxied charges,
 * in the client's favour (Redis' `appendfsync everysec` risks a second).
 */
export const LINGER_MS = 50;

/** `wait`: someone waits for this line (write it now); `linger`: it may wait up to LINGER_MS for company. */
export type AppendOptions = { when: 'wait' | 'linger' };

interface Batch extends Deferred {
  lines: string[];
  /** Someone waits for a line of this batch: it is written as soon as the previous sync ends. */
  awaited: boolean;
}

export class Journal {
  /** The lines that go out with the next write; all share one promise. */
  private next: Batch | undefined;
  private flushing: Promise<void> | undefined;
  private lingering: NodeJS.Timeout | undefined;
  private failed: Error | undefined;

  private constructor(
    private readonly fd: number,
    readonly path: string,
  ) {}

  /** Opens synchronously, so a store can switch journals between two appends (compaction). */
  static open(path: string): Journal {
    return new Journal(openSync(path, 'a'), path);
  }

  /** Resolves once the line is on disk; every line of a batch resolves with the same promise. */
  append(line: string, options: AppendOptions): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    const batch = (this.next ??= { ...deferred(), lines: [], awaited: false });
    batch.lines.push(line);
    if (options.when === 'wait') {
      batch.awaited = true;
      this.flushNow();
    } else if (!this.flushing) {
      this.lingering ??= setTimeout(() => this.flushNow(), LINGER_MS);
    }
    return batch.promise;
  }

  private flushNow(): void {
    clearTimeout(this.lingering);
    this.lingering = undefined;
    if (this.next) this.flushing ??= this.flush();
  }

  private async flush(): Promise<void> {
    let batch = this.takeNext();
    while (batch) {
      try {
        await writeFully(this.fd, Buffer.from(`${batch.lines.join('\n')}\n`));
        await syncFd(this.fd);
        batch.resolve();
      } catch (error) {
        // A failed write or sync leaves the file in an unknown state: refuse everything after it.
        this.failed = error as Error;
        batch.reject(this.failed);
        this.takeNext()?.reject(this.failed);
      }
      // Lines that came during this sync and that nobody waits for linger for more company.
      batch = this.next?.awaited ? this.takeNext() : undefined;
    }
    this.flushing = undefined;
    if (this.next) this.lingering ??= setTimeout(() => this.flushNow(), LINGER_MS);
  }

  private takeNext(): Batch | undefined {
    const batch = this.next;
    this.next = undefined;
    return batch;
  }

  /** The write or sync error that stopped the journal, if one did. */
  get failure(): Error | undefined {
    return this.failed;
  }

  /** Resolves when everything appended so far is durable (lingering lines are written at once). */
  async drain(): Promise<void> {
    while (this.flushing || this.next) {
      this.flushNow();
      await this.flushing;
    }
  }

  async close(): Promise<void> {
    await this.drain();
    closeSync(this.fd);
  }
}
