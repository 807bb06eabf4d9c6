import { createWriteStream } from 'node:fs';
import { pino, type DestinationStream, type Logger } from 'pino';

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

/** One line per request, with fixed safe fields only (the route pattern, never the raw path, which can hold a license key). */
export class AccessLog {
  private enabled: boolean;

  constructor(
    private readonly log: Logger,
    level: string,
  ) {
    this.enabled = enabledAt(level);
  }

  set level(level: string) {
    this.enabled = enabledAt(level);
  }

  write(entry: AccessEntry): void {
    if (this.enabled) this.log.info(entry);
  }
}

const enabledAt = (level: string) => level === 'trace' || level === 'debug' || level === 'info';

export interface Loggers {
  /** Application log: every line passes the redaction list. */
  log: Logger;
  access: AccessLog;
}

export function createLoggers(options: { level: string; destination?: DestinationStream }): Loggers {
  const destination = options.destination ?? stdout();
  const log = pino(
    { level: options.level, base: undefined, redact: { paths: REDACT, censor: '[redacted]' } },
    destination,
  );
  // Its own logger: the access lines follow `access_log`, not the application's level.
  const access = pino({ level: 'info', base: undefined }, destination);
  return { log, access: new AccessLog(access, options.level) };
}

/**
 * Stdout as a file stream: written without blocking, and the lines that come while a write is on its way
 * leave together in the next one. Not pino's own destination (sonic-boom): it appends each line to one
 * pending string that it measures again at every line, copying the whole pending batch each time.
 */
function stdout(): DestinationStream {
  const stream = createWriteStream('', { fd: 1, autoClose: false });
  // A reader that went away, or a full disk, must not stop the gateway: its lines have nowhere to go.
  // (A stream emits one error, and writes to it after that are dropped.)
  stream.once('error', (error) => process.stderr.write(`log output stopped: ${error.message}\n`));
  // pino's `logger.flush(done)`: a write of nothing completes once every line before it is written.
  return Object.assign(stream, { flush: (done: () => void) => stream.write('', done) });
}
