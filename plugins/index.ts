/** The plugins that ship with the gateway, by YAML name. Operators add their own under `plugins:` in YAML. */
import type { PluginDefinition } from '../gateway/plugin.ts';
import adminAuth from './admin-auth/index.ts';
import cors from './cors/index.ts';
import health from './health/index.ts';
import licenseApi from './license-api/index.ts';
import metrics from './metrics/index.ts';
import rateLimit from './rate-limit/index.ts';
import upstream from './upstream/index.ts';

export const builtinPlugins: readonly PluginDefinition<unknown>[] = [
  adminAuth,
  cors,
  health,
  licenseApi,
  metrics,
  rateLimit,
  upstream,
];
