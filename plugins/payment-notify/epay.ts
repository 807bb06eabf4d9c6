/** The "epay" aggregator protocol: fields, MD5 signature, and the `param` JSON of a Cradle payment. */
import { createHash, timingSafeEqual } from 'node:crypto';
import { parseJsonObject } from '../../gateway/context.ts';
import { normalizeEmail } from '../../licensing/keys.ts';
import { parseAmount } from '../../licensing/money.ts';

export interface Notification {
  pid: string;
  trade_no: string;
  out_trade_no: string;
  type: string;
  name: string;
  money: string;
  trade_status: string;
  param: string;
  sign: string;
  sign_type: string;
}

/** lowercase hex MD5 of the non-empty fields but sign/sign_type, sorted by name, `k=v&…`, then the key. */
export function epaySign(fields: Record<string, string>, key: string): string {
  const text = Object.keys(fields)
    .filter((k) => k !== 'sign' && k !== 'sign_type' && fields[k] !== '' && fields[k] !== undefined)
    .sort()
    .map((k) => `${k}=${fields[k]}`)
    .join('&');
  return createHash('md5')
    .update(text + key)
    .digest('hex');
}

export function signatureValid(fields: Record<string, string>, key: string): boolean {
  const expected = Buffer.from(epaySign(fields, key));
  const given = Buffer.from(String(fields.sign ?? '').toLowerCase());
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export interface PaymentParam {
  email: string;
  type: 'activation' | 'recharge';
  /** Micro-credits to add. */
  credits: number;
  originalAmount?: string;
}

/** Reads `param`; throws a message naming what is wrong. */
export function readParam(text: string): PaymentParam {
  const value = parseJsonObject(text);
  if (!value) throw new Error('param is not a JSON object');
  const email =
    typeof value.email === 'string' && value.email.includes('@') ? normalizeEmail(value.email) : undefined;
  if (!email) throw new Error('param.email is missing');
  if (value.type !== 'activation' && value.type !== 'recharge')
    throw new Error('param.type must be activation or recharge');
  const credits = parseAmount(value.credits, 'param.credits');
  return {
    email,
    type: value.type,
    credits,
    ...(value.original_amount !== undefined ? { originalAmount: String(value.original_amount) } : {}),
  };
}
