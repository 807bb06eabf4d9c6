/**
 * The money core's refusals as answers: one table, declared as `mapError` by the plugins that call the
 * money core, so the core of the gateway turns them into responses like any error of theirs.
 */
import { GatewayError } from '../gateway/errors.ts';
import { LicensingError, type Refusal } from '../licensing/errors.ts';

const ANSWERS: Record<Refusal, { status: number; code: string }> = {
  insufficient_credits: { status: 402, code: 'INSUFFICIENT_CREDITS' },
  license_revoked: { status: 403, code: 'LICENSE_REVOKED' },
  store_unavailable: { status: 503, code: 'STORE_UNAVAILABLE' },
  invalid_amount: { status: 400, code: 'INVALID_AMOUNT' },
  edge_only: { status: 503, code: 'EDGE_ONLY' },
};

export function licensingRefusal(error: unknown): GatewayError | undefined {
  if (!(error instanceof LicensingError)) return undefined;
  const { status, code } = ANSWERS[error.refusal];
  return new GatewayError(status, code, error.message, { cause: error });
}
