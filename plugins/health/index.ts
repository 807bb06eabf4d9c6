/** `GET /api/v1/health`: ok, or 503 naming what is unreachable (a store, say). */
import { definePlugin } from '../../gateway/plugin.ts';

const startedAt = Date.now();

export default definePlugin<Record<string, never>>({
  name: 'health',
  schema: { type: 'object', additionalProperties: false },
  create(_config, services) {
    return {
      contract: { summary: 'Whether the gateway and its store are up (503 naming what is not)' },
      async onRequest() {
        const checks = await services.resources.health();
        const healthy = Object.values(checks).every((state) => state === 'ok');
        return {
          status: healthy ? 200 : 503,
          body: {
            success: healthy,
            status: healthy ? 'ok' : 'unavailable',
            time: new Date(services.clock.now()).toISOString(),
            uptime_s: Math.round((Date.now() - startedAt) / 1000),
            checks,
          },
        };
      },
    };
  },
});
