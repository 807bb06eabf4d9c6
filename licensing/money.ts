/**
 * Credits are integers of micro-credits end to end; decimals exist only at the JSON edge.
 * Amounts are read from their decimal text, so 0.1 + 0.2 is exactly 0.3 here.
 */
import { invalidAmount } from './errors.ts';

export const MICRO = 1_000_000;
/** Largest amount accepted in one operation: a billion credits. */
const MAX_MICRO = 1_000_000_000 * MICRO;
/**
 * Largest balance a license may hold, a billion credits: far inside the integers a double holds exactly, so
 * every micro-credit counts.
 */
export const MAX_BALANCE = MAX_MICRO;
const DECIMAL = /^(\d{1,10})(?:\.(\d{1,6}))?$/;

/** Parses a positive amount with at most 6 decimals into micro-credits; the error names the field. */
export function parseAmount(value: unknown, field: string): number {
  const text =
    typeof value === 'number' ? numberText(value) : typeof value === 'string' ? value.trim() : undefined;
  const match = text === undefined ? null : DECIMAL.exec(text);
  if (!match) {
    throw invalidAmount(`${field} must be a positive number with at most 6 decimals`);
  }
  const micro = Number(match[1]) * MICRO + Number((match[2] ?? '').padEnd(6, '0'));
  if (micro <= 0 || micro > MAX_MICRO) {
    throw invalidAmount(`${field} must be greater than 0 and at most 1000000000`);
  }
  return micro;
}

/** The shortest decimal text of a JSON number (what the client wrote), never exponent form. */
function numberText(value: number): string | undefined {
  if (!Number.isFinite(value)) return undefined;
  const text = String(value);
  return text.includes('e') ? undefined : text;
}

/** Micro-credits as the decimal number the API shows (150000000 → 150, 330000 → 0.33). */
export function toCredits(micro: number): number {
  return micro / MICRO;
}
