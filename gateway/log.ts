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

/** Lines waiting for a stdout that does not take them, at most: past it new lines are dropped, not held. */
const MAX_PENDING_BYTES = 16 * 1024 * 1024;

/**
 * Stdout through pino's own destination, written without blocking: the lines that come while a write is on
 * its way leave together in the next one. A reader that falls behind (a full pipe: EAGAIN) is waited for,
 * and what comes meanwhile held up to a bound (a drop past it is said on stderr, the first time).
 */
function stdout(): DestinationStream {
  const out = pino.destination({ dest: 1, sync: false, maxLength: MAX_PENDING_BYTES });
  // Any other error (a reader that went away, a full disk) ends the log, not the gateway: said once, and
  // later lines dropped, as pino does for a reader that went away. Nothing is left to write at the exit
  // either, where sonic-boom would retry a failing write for ever and the process never end.
  out.once('error', (error: Error) => {
    process.stderr.write(`log output stopped: ${error.message}\n`);
    Object.assign(out, { write: () => true, flushSync: () => undefined });
  });
  out.on('error', () => undefined);
  out.once('drop', () =>
    process.stderr.write(`log output is ${MAX_PENDING_BYTES >> 20} MiB behind: new lines are dropped\n`),
  );
  return out;
}
