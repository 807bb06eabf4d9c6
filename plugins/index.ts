/** The plugins that ship with the gateway, by YAML name. Operators add their own under `plugins:` in YAML. */
import type { PluginDefinition } from '../gateway/plugin.ts';
import adminAuth from './admin-auth/index.ts';
import balancer from './balancer/index.ts';
import billing from './billing/index.ts';
import configStatus from './config-status/index.ts';
import consolePages from './console/index.ts';
import cors from './cors/index.ts';
import dailyCharge from './daily-charge/index.ts';
import health from './health/index.ts';
import license from './license/index.ts';
import licenseApi from './license-api/index.ts';
import metrics from './metrics/index.ts';
import modelAlias from './model-alias/index.ts';
import modelAllowlist from './model-allowlist/index.ts';
import models from './models/index.ts';
import openrouter from './openrouter/index.ts';
import openapi from './openapi/index.ts';
import operatorApi from './operator-api/index.ts';
import paymentNotify from './payment-notify/index.ts';
import pricing from './pricing/index.ts';
import rateLimit from './rate-limit/index.ts';
import requestLog from './request-log/index.ts';
import roleMap from './role-map/index.ts';
import spacesUsage from './balancer/usage-route.ts';
import upstream from './upstream/index.ts';

export const builtinPlugins: readonly PluginDefinition<unknown>[] = [
  adminAuth,
  balancer,
  billing,
  configStatus,
  consolePages,
  cors,
  dailyCharge,
  health,
  license,
  licenseApi,
  metrics,
  modelAlias,
  modelAllowlist,
  models,
  openapi,
  openrouter,
  operatorApi,
  paymentNotify,
  pricing,
  rateLimit,
  requestLog,
  roleMap,
  spacesUsage,
  upstream,
];
