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

export function createLogger(options: { level: string; destination?: DestinationStream }): Logger {
  return pino(
    {
      level: options.level,
      base: undefined,
      redact: { paths: REDACT, censor: '[redacted]' },
    },
    options.destination,
  );
}

/** License keys are shown in logs as their last block only (`CRDL-…-7F3K`). */
export function maskKey(key: string): string {
  return key.length <= 4 ? '****' : `…${key.slice(-4)}`;
}
