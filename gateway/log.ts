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
  const destination = options.destination ?? stdoutInBatches();
  const log = pino(
    { level: options.level, base: undefined, redact: { paths: REDACT, censor: '[redacted]' } },
    destination,
  );
  // Its own logger: the access lines follow `access_log`, not the application's level.
  const access = pino({ level: 'info', base: undefined }, destination);
  return { log, access: new AccessLog(access, options.level) };
}

/** Lines are written to stdout in batches of about this many bytes, and at least every FLUSH_MS. */
const BATCH_BYTES = 8 * 1024;
const FLUSH_MS = 200;

/**
 * Stdout written asynchronously in batches (pino's own destination): a log line per request must not cost a
 * blocking write each. A timer hands over what waits, so a quiet gateway's lines still show promptly;
 * `logger.flush()` writes everything before the process exits.
 */
function stdoutInBatches(): DestinationStream {
  const out = pino.destination({ dest: 1, sync: false, minLength: BATCH_BYTES });
  setInterval(() => out.flush(), FLUSH_MS).unref();
  return out;
}
