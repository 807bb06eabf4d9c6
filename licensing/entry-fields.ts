/**
 * A ledger entry's details, each declared once: its name in the store, its name in the license API, what it
 * holds, and whether an edge gateway may give it when it charges through the API. The API's views and
 * inputs and the edge's calls all derive from this table.
 */
import type { EntryDetails } from './types.ts';

export interface EntryField {
  name: keyof EntryDetails;
  api: string;
  type: 'string' | 'integer' | 'boolean';
  /** Given by the caller of a deduct (an edge's usage charge); the others the store sets itself. */
  input: boolean;
}

export const ENTRY_FIELDS = [
  { name: 'reference', api: 'reference', type: 'string', input: true },
  { name: 'requestId', api: 'request_id', type: 'string', input: true },
  { name: 'model', api: 'model', type: 'string', input: true },
  { name: 'promptTokens', api: 'prompt_tokens', type: 'integer', input: true },
  { name: 'completionTokens', api: 'completion_tokens', type: 'integer', input: true },
  { name: 'estimated', api: 'estimated', type: 'boolean', input: true },
  { name: 'tradeNo', api: 'trade_no', type: 'string', input: false },
  { name: 'idempotencyKey', api: 'idempotency_key', type: 'string', input: false },
] as const satisfies readonly EntryField[];

/** The details as the license API writes them (`request_id`, …), those that are set. */
export function detailsInApi(details: EntryDetails | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of ENTRY_FIELDS) {
    const value = details?.[field.name];
    if (value !== undefined) out[field.api] = value;
  }
  return out;
}
