/**
 * The daily charge over the license API, for edge gateways (LICENSE_API_URL) settling a request that
 * succeeded: the central store's own mark of the last day paid decides, so every edge sees one charge a day.
 * Retries are harmless: a repeated charge answers `already`.
 */
import { badRequest, notFound } from '../../gateway/errors.ts';
import type { Answer } from '../../gateway/plugin.ts';
import { parseAmount } from '../../licensing/money.ts';
import { insufficientCredits, licenseRevoked } from '../../licensing/errors.ts';
import type { DailyRequest, LicenseStore } from '../../licensing/types.ts';
import { entryDetails, requiredString, type Body } from './input.ts';

const DAY = /^\d{4}-\d{2}-\d{2}$/;

function dailyRequest(body: Body): DailyRequest {
  const day = requiredString(body, 'day');
  if (!DAY.test(day)) throw badRequest('day must be a calendar day, YYYY-MM-DD', 'INVALID_FIELD');
  return {
    key: requiredString(body, 'license_key'),
    day,
    amount: parseAmount(body.amount, 'amount'),
    details: entryDetails(body),
  };
}

export async function dailyCharge(body: Body, store: LicenseStore): Promise<Answer> {
  const result = await store.dailyCharge(dailyRequest(body));
  switch (result) {
    case 'not_found':
      throw notFound('license not found');
    case 'revoked':
      throw licenseRevoked();
    case 'insufficient':
      throw insufficientCredits('insufficient credits for the daily charge');
    default:
      return { body: { success: true, result } };
  }
}
