/**
 * The gateway's entry point and composition root, where the built-in plugins meet the core:
 * `npm start [-- --config FILE] [--check-config]`.
 */
import { parseArgs } from 'node:util';
import { checkConfig, startGateway } from '../gateway/app.ts';
import { builtinPlugins } from '../plugins/index.ts';

const { values } = parseArgs({
  options: {
    config: { type: 'string' },
    'check-config': { type: 'boolean', default: false },
  },
});
const configFile = values.config || process.env.CONFIG || 'config/gateway.yaml';

if (values['check-config']) {
  try {
    await checkConfig({ configFile, plugins: builtinPlugins });
    process.stdout.write(`${configFile}: ok\n`);
  } catch (error) {
    console.error((error as Error).message);
    process.exit(1);
  }
} else {
  let running;
  try {
    running = await startGateway({ configFile, plugins: builtinPlugins });
  } catch (error) {
    console.error((error as Error).message);
    process.exit(1);
  }
  const { services } = running;
  services.log.info({ port: running.port, config: configFile }, 'cradle gateway listening');
  process.on('SIGHUP', () => void running.reload());
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    services.log.info({ signal }, 'draining in-flight requests, then stopping');
    running.close().then(
      () => process.exit(0),
      (error: unknown) => {
        services.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
