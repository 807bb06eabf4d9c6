/**
 * Append-only journal with group commit: every line is on disk (fdatasync) before its append resolves,
 * and all lines that arrive while one sync runs share the next one.
 */
import { closeSync, fdatasync, openSync, write } from 'node:fs';
import { promisify } from 'node:util';

const writeFd = promisify(write);
const syncFd = promisify(fdatasync);

interface Waiting {
  line: string;
  resolve: () => void;
  reject: (error: Error) => void;
}

export class Journal {
  private waiting: Waiting[] = [];
  private flushing: Promise<void> | undefined;
  private failed: Error | undefined;

  private constructor(
    private readonly fd: number,
    readonly path: string,
  ) {}

  /** Opens synchronously, so a store can switch journals between two appends (compaction). */
  static open(path: string): Journal {
    return new Journal(openSync(path, 'a'), path);
  }

  append(line: string): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.waiting.push({ line, resolve, reject });
      this.flushing ??= this.flush();
    });
  }

  private async flush(): Promise<void> {
    while (this.waiting.length > 0) {
      const batch = this.waiting;
      this.waiting = [];
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
    }
    this.flushing = undefined;
  }

  /** The write or sync error that stopped the journal, if one did. */
  get failure(): Error | undefined {
    return this.failed;
  }

  /** Resolves when everything appended so far is durable. */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  async close(): Promise<void> {
    await this.drain();
    closeSync(this.fd);
  }
}
