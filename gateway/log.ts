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

export interface Loggers {
  /** Application log: every line passes the redaction list. */
  log: Logger;
  /**
   * One line per request, with fixed safe fields only (route pattern, never the raw path, which can hold a
   * license key), so it skips redaction: that pass cost more than the rest of the line.
   */
  access: Logger;
}

export function createLoggers(options: { level: string; destination?: DestinationStream }): Loggers {
  // Buffered asynchronous writes: a log line per request must not cost a blocking syscall on the hot path.
  const destination = options.destination ?? bufferedStdout();
  const log = pino(
    { level: options.level, base: undefined, redact: { paths: REDACT, censor: '[redacted]' } },
    destination,
  );
  const access = pino({ level: options.level, base: undefined }, destination);
  return { log, access };
}

/** Stdout written in 8 KiB batches, and at least every 200 ms so a quiet gateway's lines still show promptly. */
function bufferedStdout(): DestinationStream {
  const destination = pino.destination({ dest: 1, sync: false, minLength: 8192 });
  setInterval(() => destination.flush(() => undefined), 200).unref();
  return destination;
}
