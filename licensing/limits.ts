/**
 * A license's own limits (models it may call, requests a minute): as the admin API shows and takes them,
 * and as the gateway applies them.
 */
import { globsMatcher } from '../gateway/glob.ts';
import type { LicenseLimits } from './types.ts';

export interface LimitsView {
  models?: string[];
  rate_limit_per_minute?: number;
}

export function limitsView(limits: LicenseLimits): LimitsView {
  return {
    ...(limits.models ? { models: limits.models } : {}),
    ...(limits.ratePerMinute ? { rate_limit_per_minute: limits.ratePerMinute } : {}),
  };
}

/** Limits from their view (the admin API's input once checked, or a central instance's answer). */
export function limitsFrom(view: LimitsView): LicenseLimits {
  return {
    ...(view.models && view.models.length > 0 ? { models: view.models } : {}),
    ...(view.rate_limit_per_minute ? { ratePerMinute: view.rate_limit_per_minute } : {}),
  };
}

const matchers = new WeakMap<string[], (model: string) => boolean>();

/** Whether the limits let the license call this model (no model list: any). */
export function allowsModel(limits: LicenseLimits | undefined, model: string): boolean {
  if (!limits?.models) return true;
  let matches = matchers.get(limits.models);
  if (!matches) matchers.set(limits.models, (matches = globsMatcher(limits.models)));
  return matches(model);
}
