/**
 * The `spaces-usage` plugin, `GET /api/huggingface/spaces/usage` (admin): each pool member's requests,
 * failures, in flight, latency and health, from the pool the balancer shares.
 */
import { definePlugin } from '../../gateway/plugin.ts';
import { poolResource } from './index.ts';

export default definePlugin<{ pool: string }>({
  name: 'spaces-usage',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: { pool: { type: 'string', default: 'spaces' } },
  },
  create(config, services) {
    const { pool } = poolResource(services, config.pool);
    return {
      contract: { summary: "A Space pool's members: health, requests in flight, latency, failures" },
      onRequest: () => ({ body: { success: true, pool: config.pool, spaces: pool.usage() } }),
    };
  },
});
