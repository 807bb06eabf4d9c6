/**
 * Why the money core refuses: domain errors, with no HTTP in them. The plugins that use the money core map
 * them to answers (plugins/refusals.ts).
 */
export type Refusal =
  'insufficient_credits' | 'license_revoked' | 'store_unavailable' | 'invalid_amount' | 'edge_only';

export class LicensingError extends Error {
  constructor(
    readonly refusal: Refusal,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
    this.name = 'LicensingError';
  }
}

/** The balance cannot cover `what` the message names. */
export const insufficientCredits = (message: string) => new LicensingError('insufficient_credits', message);

export const licenseRevoked = () => new LicensingError('license_revoked', 'this license has been revoked');

/** The store cannot answer now (Redis down, the journal failed, the central instance unreachable). */
export const storeUnavailable = (message: string, cause?: unknown) =>
  new LicensingError('store_unavailable', message, cause === undefined ? {} : { cause });

/** An amount given in input is not one the ledger takes; the message names the field. */
export const invalidAmount = (message: string) => new LicensingError('invalid_amount', message);
