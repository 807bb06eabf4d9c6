/**
 * Append-only journal with group commit: every line is on disk (fdatasync) before its append resolves,
 * and all lines that arrive while one sync runs share the next one. A line nobody waits for (a proxied
 * request's charge) may linger a few milliseconds for company, so a busy gateway syncs a batch of charges
 * at once instead of a few at a time; a line someone waits for is written at once and takes them along.
 */
import { closeSync, fdatasync, openSync, write } from 'node:fs';
import { promisify } from 'node:util';

const writeFd = promisify(write);
const syncFd = promisify(fdatasync);

/** How long a line nobody waits for may wait for others before it is written. */
export const LINGER_MS = 10;

/** `wait`: someone waits for this line (write it now); `linger`: it may wait up to LINGER_MS for company. */
export type AppendOptions = { when: 'wait' | 'linger' };

interface Waiting {
  line: string;
  resolve: () => void;
  reject: (error: Error) => void;
}

export class Journal {
  private waiting: Waiting[] = [];
  /** Some waiting line was appended with `when: 'wait'`. */
  private awaited = false;
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

  append(line: string, options: AppendOptions): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.waiting.push({ line, resolve, reject });
      if (options.when === 'wait') {
        this.awaited = true;
        this.flushNow();
      } else if (!this.flushing) {
        this.lingering ??= setTimeout(() => this.flushNow(), LINGER_MS);
      }
    });
  }

  private flushNow(): void {
    clearTimeout(this.lingering);
    this.lingering = undefined;
    this.flushing ??= this.flush();
  }

  private async flush(): Promise<void> {
    while (this.waiting.length > 0) {
      const batch = this.waiting;
      this.waiting = [];
      this.awaited = false;
      try {
        await writeFd(this.fd, batch.map((w) => `${w.line}\n`).join(''));
        await syncFd(this.fd);
        for (const w of batch) w.resolve();
      } catch (error) {
        // A failed write or sync leaves the file in an unknown state: refuse everything after it.
        this.failed = error as Error;
        for (const w of [...batch, ...this.waiting]) w.reject(this.failed);
        this.waiting = [];
      }
      // Lines that came during this sync and that nobody waits for linger for more company.
      if (!this.awaited) break;
    }
    this.flushing = undefined;
    if (this.waiting.length > 0) this.lingering ??= setTimeout(() => this.flushNow(), LINGER_MS);
  }

  /** The write or sync error that stopped the journal, if one did. */
  get failure(): Error | undefined {
    return this.failed;
  }

  /** Resolves when everything appended so far is durable (lingering lines are written at once). */
  async drain(): Promise<void> {
    while (this.flushing || this.waiting.length > 0) {
      this.flushNow();
      await this.flushing;
    }
  }

  async close(): Promise<void> {
    await this.drain();
    closeSync(this.fd);
  }
}
