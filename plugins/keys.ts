/**
 * Request state that plugins share: one plugin sets a key, later ones in the chain read it. Plugins meet
 * here, never by importing each other.
 */
import { ContextKey } from '../gateway/context.ts';
import type { UsdCeiling } from '../licensing/catalogue.ts';
import type { License } from '../licensing/types.ts';

/** The license the request was checked against (set by `license`). */
export const LICENSE = new ContextKey<License>('license');

/** The request carried a valid admin token (set by `admin-auth`). */
export const IS_ADMIN = new ContextKey<boolean>('admin-auth.isAdmin');

/**
 * The most the upstream may charge for the request: what its client is billed, in US dollars (set by `billing`
 * when it knows the operator's rate; told to OpenRouter by `openrouter`).
 */
export const PRICE_CEILING = new ContextKey<UsdCeiling>('billing.priceCeiling');

/** What a request used, as its upstream's answer told it (or as estimated where it told nothing). */
export interface RequestUsage {
  model: string;
  promptTokens: number;
  completionTokens: number;
  estimated: boolean;
  /** When (`performance.now()`) the answer's first written token reached the client, if it was seen. */
  firstTokenAt?: number;
}

/**
 * What the request used, for every license, charged or unlimited (set by `billing` when the request has
 * finished, for an answer below 400; read by `request-log`).
 */
export const USAGE = new ContextKey<RequestUsage>('billing.usage');

/**
 * The upstream answered below 400 with an error in place of an answer, and wrote nothing: its words (set by
 * `billing`, which charges nothing for it; read by `request-log`, which records the request as failed).
 */
export const ANSWER_FAILED = new ContextKey<string>('billing.answerFailed');
