/** `GET /metrics`: the Prometheus text of every metric the core and the plugins registered. */
import { definePlugin } from '../../gateway/plugin.ts';

export default definePlugin<Record<string, never>>({
  name: 'metrics',
  schema: { type: 'object', additionalProperties: false },
  create(_config, { metrics }) {
    return {
      async onRequest() {
        return {
          body: await metrics.registry.metrics(),
          headers: { 'content-type': metrics.registry.contentType },
        };
      },
    };
  },
});
