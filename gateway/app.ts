/** Composes a running gateway from a config file: used by bin/gateway.ts and, in-process, by the tests. */
import type { DestinationStream, Logger } from 'pino';
import { buildRuntime, type PluginRegistry, type Runtime } from './config/build.ts';
import { loadConfigFile } from './config/load.ts';
import type { GatewayConfig } from './config/schema.ts';
import { watchFile } from './config/watch.ts';
import { createLoggers } from './log.ts';
import { Metrics } from './metrics.ts';
import type { Clock, PluginDefinition, Services } from './plugin.ts';
import { Resources } from './resources.ts';
import { Gateway } from './server.ts';

export interface StartOptions {
  configFile: string;
  plugins: readonly PluginDefinition<unknown>[];
  env?: NodeJS.ProcessEnv;
  logDestination?: DestinationStream;
  clock?: Clock;
  /** Overrides the config's port (tests use 0). */
  port?: number;
  host?: string;
  /** Reload when the file changes (default true). */
  watch?: boolean;
  upstreamTimeoutMs?: number;
}

export interface ReloadResult {
  ok: boolean;
  error?: string;
  /** Settings the reload changed that the running server cannot take: the socket it listens on. */
  restartNeeded?: string[];
}

/** What changed in where the server listens: a socket is bound once, so a reload cannot move it. */
function listenChanges(started: GatewayConfig['server'], next: GatewayConfig['server']): string[] {
  const changed: string[] = [];
  if (started.port !== next.port) changed.push(`server.port (${started.port} → ${next.port})`);
  if (started.host !== next.host) changed.push(`server.host (${started.host} → ${next.host})`);
  return changed;
}

export interface RunningGateway {
  url: string;
  port: number;
  gateway: Gateway;
  services: Omit<Services, 'configDir'>;
  reload(): Promise<ReloadResult>;
  close(): Promise<void>;
}

export const systemClock: Clock = { now: () => Date.now() };

export async function checkConfig(
  options: Pick<StartOptions, 'configFile' | 'plugins' | 'env'>,
): Promise<void> {
  const services = makeServices(options, createLoggers({ level: 'silent' }).log);
  const runtime = await build(options, services);
  await runtime.close();
  await services.resources.closeAll();
}

export async function startGateway(options: StartOptions): Promise<RunningGateway> {
  const env = options.env ?? process.env;
  const loaded = await loadConfigFile(options.configFile, env);
  const level = (loaded.value as { logging?: { level?: string } })?.logging?.level ?? 'info';
  const { log, access } = createLoggers({ level, destination: options.logDestination });
  const services = makeServices(options, log);
  const runtime = await build(options, services);
  const gateway = new Gateway({
    runtime,
    log,
    accessLog: access,
    metrics: services.metrics,
    upstreamTimeoutMs: options.upstreamTimeoutMs,
  });
  const address = await gateway.listen(
    options.port ?? runtime.config.server.port,
    options.host ?? runtime.config.server.host,
  );

  let reloading: Promise<ReloadResult> = Promise.resolve({ ok: true });
  const reload = (): Promise<ReloadResult> => {
    // One reload at a time, in order: a burst of file events never builds two runtimes at once.
    reloading = reloading.then(async () => {
      try {
        const next = await build(options, services);
        gateway.swap(next);
        log.level = access.level = next.config.logging.level;
        services.metrics.configReloads.inc({ result: 'success' });
        const restartNeeded = listenChanges(runtime.config.server, next.config.server);
        if (restartNeeded.length > 0) {
          log.warn(
            { routes: next.routes.length, restartNeeded },
            `config reloaded, but a change of ${restartNeeded.join(' and ')} needs a restart`,
          );
        } else {
          log.info({ routes: next.routes.length }, 'config reloaded');
        }
        return { ok: true, ...(restartNeeded.length > 0 ? { restartNeeded } : {}) };
      } catch (error) {
        services.metrics.configReloads.inc({ result: 'error' });
        const message = (error as Error).message;
        log.error({ error: message }, 'config reload failed; keeping the running config');
        return { ok: false, error: message };
      }
    });
    return reloading;
  };
  const stopWatching =
    options.watch === false ? () => undefined : watchFile(options.configFile, () => void reload());

  return {
    url: `http://127.0.0.1:${address.port}`,
    port: address.port,
    gateway,
    services,
    reload,
    close: async () => {
      stopWatching();
      await reloading;
      await gateway.shutdown(runtime.config.server.shutdown_timeout_ms);
      await services.resources.closeAll();
      // Both loggers share one buffered destination: flushing one writes everything out.
      await new Promise<void>((resolve) => log.flush(() => resolve()));
    },
  };
}

function makeServices(
  options: Pick<StartOptions, 'env' | 'clock'>,
  log: Logger,
): Omit<Services, 'configDir'> {
  return {
    log,
    metrics: new Metrics(),
    clock: options.clock ?? systemClock,
    resources: new Resources(),
    env: options.env ?? process.env,
  };
}

async function build(
  options: Pick<StartOptions, 'configFile' | 'plugins' | 'env'>,
  services: Omit<Services, 'configDir'>,
): Promise<Runtime> {
  const loaded = await loadConfigFile(options.configFile, options.env ?? process.env);
  const plugins: PluginRegistry = new Map(options.plugins.map((p) => [p.name, p]));
  return buildRuntime(loaded, { plugins, services });
}
