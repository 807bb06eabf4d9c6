/**
 * `GET /api/v1/config`: the config in force, its secrets masked, and how the last reload went (its error
 * names the file and line). Put `admin-auth` before it.
 */
import { definePlugin } from '../../gateway/plugin.ts';
import { maskSecrets } from './mask.ts';

export default definePlugin<Record<string, never>>({
  name: 'config-status',
  schema: { type: 'object', additionalProperties: false, properties: {} },
  create(_config, services) {
    return {
      contract: { summary: 'The config in force, its secrets masked, and how the last reload went' },
      onRequest() {
        const status = services.configStatus();
        const reload = status.lastReload;
        return {
          body: {
            success: true,
            file: status.file,
            loaded_at: status.loadedAt,
            yaml: maskSecrets(status.text),
            last_reload: reload
              ? {
                  at: reload.at,
                  ok: reload.ok,
                  ...(reload.error ? { error: reload.error } : {}),
                  ...(reload.restartNeeded ? { restart_needed: reload.restartNeeded } : {}),
                }
              : null,
          },
        };
      },
    };
  },
});
