/** The plugins that ship with the gateway, by YAML name. Operators add their own under `plugins:` in YAML. */
import type { PluginDefinition } from '../gateway/plugin.ts';
import adminAuth from './admin-auth/index.ts';
import billing from './billing/index.ts';
import cors from './cors/index.ts';
import dailyCharge from './daily-charge/index.ts';
import health from './health/index.ts';
import license from './license/index.ts';
import licenseApi from './license-api/index.ts';
import metrics from './metrics/index.ts';
import modelAllowlist from './model-allowlist/index.ts';
import openrouter from './openrouter/index.ts';
import pricing from './pricing/index.ts';
import rateLimit from './rate-limit/index.ts';
import roleMap from './role-map/index.ts';
import upstream from './upstream/index.ts';

export const builtinPlugins: readonly PluginDefinition<unknown>[] = [
  adminAuth,
  billing,
  cors,
  dailyCharge,
  health,
  license,
  licenseApi,
  metrics,
  modelAllowlist,
  openrouter,
  pricing,
  rateLimit,
  roleMap,
  upstream,
];
