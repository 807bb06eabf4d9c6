import { pino, type DestinationStream, type Logger } from 'pino';
import { LineBuffer } from './line-buffer.ts';

/**
 * Paths redacted from every log line: client credentials, upstream keys and passwords wherever they sit.
 * Plugins log through child loggers, so they inherit this list.
 */
const REDACT = [
  'headers.authorization',
  'headers["x-license-key"]',
  'headers["x-admin-token"]',
  '*.authorization',
  '*.Authorization',
  '*.password',
  '*.api_key',
  '*.license_key',
  '*.token',
  'license_key',
  'password',
  'token',
];

export interface AccessEntry {
  /** A request id: a UUID, or the client's X-Request-Id, which the server accepts only as [\w.:-]{1,128}. */
  reqId: string;
  route: string;
  status: number;
  ms: number;
  result: string;
}

/**
 * One line per request, in pino's line format, with fixed safe fields only (the route pattern, never the raw
 * path, which can hold a license key). Built by hand: through pino the line cost ~30 µs a request, a tenth
 * of the whole proxying.
 */
export class AccessLog {
  private enabled: boolean;

  constructor(
    private readonly destination: DestinationStream,
    level: string,
  ) {
    this.enabled = enabledAt(level);
  }

  set level(level: string) {
    this.enabled = enabledAt(level);
  }

  write(entry: AccessEntry): void {
    if (!this.enabled) return;
    this.destination.write(
      `{"level":30,"time":${Date.now()},"reqId":"${entry.reqId}","route":${JSON.stringify(entry.route)},` +
        `"status":${entry.status},"ms":${entry.ms},"result":"${entry.result}"}\n`,
    );
  }
}

const enabledAt = (level: string) => level === 'trace' || level === 'debug' || level === 'info';

export interface Loggers {
  /** Application log: every line passes the redaction list. */
  log: Logger;
  access: AccessLog;
}

export function createLoggers(options: { level: string; destination?: DestinationStream }): Loggers {
  // Buffered asynchronous writes: a log line per request must not cost a blocking syscall on the hot path.
  const destination = options.destination ?? new BatchedStdout();
  const log = pino(
    { level: options.level, base: undefined, redact: { paths: REDACT, censor: '[redacted]' } },
    destination,
  );
  return { log, access: new AccessLog(destination, options.level) };
}

/** Lines are handed to stdout in batches of about this many bytes, and at least every FLUSH_MS. */
const BATCH_BYTES = 32 * 1024;
const FLUSH_MS = 200;

/** sonic-boom in its buffer mode: it takes bytes, though its types name only strings. */
interface ByteWriter {
  write(bytes: Buffer): boolean;
  flush(callback: (error?: Error) => void): void;
}

/**
 * Stdout in 32 KiB batches, and at least every 200 ms so a quiet gateway's lines still show promptly. Each
 * batch's write wakes a thread of libuv's pool: with 8 KiB batches that showed as ~0.6 µs a request in the
 * profile, with 32 KiB ~0.3.
 * Each line is written as UTF-8 into the batch's bytes as it comes, and pino's asynchronous writer gets the
 * bytes a batch at a time. Handed strings, it measures its whole pending text on each write (~15 µs a request
 * under load when it got every line); handed a joined batch, the join and its UTF-8 encoding still cost
 * ~1.2 µs a request.
 */
class BatchedStdout implements DestinationStream {
  private readonly lines = new LineBuffer(2 * BATCH_BYTES);
  // minLength above 0: then sonic-boom's flush waits for writes under way (at 0 it answers at once).
  private readonly out = pino.destination({
    dest: 1,
    sync: false,
    minLength: 1,
    contentMode: 'buffer',
  }) as unknown as ByteWriter;

  constructor() {
    // Hand-over only: sonic-boom's own flush would also fsync stdout each time.
    setInterval(() => this.handOver(), FLUSH_MS).unref();
  }

  write(line: string): void {
    this.lines.addText(line);
    if (this.lines.length >= BATCH_BYTES) this.handOver();
  }

  /** pino's `logger.flush(cb)` lands here: everything gathered is written out before `cb`. */
  flush(callback: (error?: Error) => void): void {
    this.handOver();
    this.out.flush(callback);
  }

  /**
   * The writer gets a copy, its own until written (well under a millisecond): the batch's buffer is kept
   * for the next batch. Handed over itself, a buffer per batch lived as long as the batch filled (~16 ms
   * under load) and was promoted to die in the old generation (measured: 191 B promoted a request and 4 full
   * GCs in 5 s, against 83–92 B and 1 with the copy).
   */
  private handOver(): void {
    if (this.lines.length === 0) return;
    this.out.write(Buffer.from(this.lines.bytes()));
    this.lines.clear();
  }
}
