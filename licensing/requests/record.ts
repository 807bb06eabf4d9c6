/**
 * A finished request as the operator looks it up, its fields declared once: the stores' columns and hash
 * fields, the API's view and its CSV all derive from this table.
 */
import { maskLicenseKey } from '../keys.ts';
import { toCredits } from '../money.ts';

export interface RequestRecord {
  /** Epoch ms when the request finished. */
  time: number;
  requestId: string;
  /** The license key, when the request carried a valid one. */
  license?: string;
  device?: string;
  route: string;
  model?: string;
  /** The upstream that answered: OpenRouter, or which Space. */
  upstream?: string;
  /** What the client received; 0 when it left before a status. */
  status: number;
  latencyMs: number;
  /** Time to the first byte of the answer's body. */
  ttftMs?: number;
  promptTokens?: number;
  completionTokens?: number;
  /** Micro-credits charged: usage and the day's charge taken with it. */
  credits: number;
  estimated?: boolean;
  errorCode?: string;
}

type FieldType = 'time' | 'text' | 'integer' | 'number' | 'boolean' | 'credits';

export interface RequestField {
  name: keyof RequestRecord;
  api: string;
  type: FieldType;
}

export const REQUEST_FIELDS = [
  { name: 'time', api: 'time', type: 'time' },
  { name: 'requestId', api: 'request_id', type: 'text' },
  { name: 'license', api: 'license', type: 'text' },
  { name: 'device', api: 'device', type: 'text' },
  { name: 'route', api: 'route', type: 'text' },
  { name: 'model', api: 'model', type: 'text' },
  { name: 'upstream', api: 'upstream', type: 'text' },
  { name: 'status', api: 'status', type: 'integer' },
  { name: 'latencyMs', api: 'latency_ms', type: 'number' },
  { name: 'ttftMs', api: 'ttft_ms', type: 'number' },
  { name: 'promptTokens', api: 'prompt_tokens', type: 'integer' },
  { name: 'completionTokens', api: 'completion_tokens', type: 'integer' },
  { name: 'credits', api: 'credits', type: 'credits' },
  { name: 'estimated', api: 'estimated', type: 'boolean' },
  { name: 'errorCode', api: 'error_code', type: 'text' },
] as const satisfies readonly RequestField[];

/** A stored record read back: a row's or a hash's values, by field name. */
export function recordFrom(values: Record<string, unknown>): RequestRecord {
  const record: Record<string, unknown> = {};
  for (const field of REQUEST_FIELDS) {
    const value = values[field.name];
    if (value === null || value === undefined || value === '') continue;
    if (field.type === 'text') record[field.name] = String(value);
    else if (field.type === 'boolean') record[field.name] = value === 1 || value === '1' || value === true;
    else record[field.name] = Number(value);
  }
  return record as unknown as RequestRecord;
}

/** A record as stored: numbers and text only (booleans as 1/0), absent fields left out. */
export function storedValues(record: RequestRecord): Record<string, string | number> {
  const values: Record<string, string | number> = {};
  for (const field of REQUEST_FIELDS) {
    const value = record[field.name];
    if (value === undefined) continue;
    values[field.name] = typeof value === 'boolean' ? (value ? 1 : 0) : value;
  }
  return values;
}

/** The API's view: ISO times, decimal credits, the license key masked unless asked otherwise. */
export function requestView(record: RequestRecord, options: { unmasked?: boolean } = {}) {
  const view: Record<string, unknown> = {};
  for (const field of REQUEST_FIELDS) {
    const value = record[field.name];
    if (value === undefined) continue;
    if (field.type === 'time') view[field.api] = new Date(value as number).toISOString();
    else if (field.type === 'credits') view[field.api] = toCredits(value as number);
    else if (field.name === 'license' && !options.unmasked) view[field.api] = maskLicenseKey(value as string);
    else view[field.api] = value;
  }
  return view;
}
