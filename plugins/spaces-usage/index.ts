/** `GET /api/huggingface/spaces/usage` (admin): per space requests, failures, in flight, latency, health. */
import { definePlugin } from '../../gateway/plugin.ts';
import { poolResource } from '../balancer/index.ts';

export default definePlugin<{ pool: string }>({
  name: 'spaces-usage',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: { pool: { type: 'string', default: 'spaces' } },
  },
  create(config, services) {
    const { pool } = poolResource(services, config.pool);
    return { onRequest: () => ({ body: { success: true, pool: config.pool, spaces: pool.usage() } }) };
  },
});
