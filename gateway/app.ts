/** Composes a running gateway from a config file: used by bin/gateway.ts and, in-process, by the tests. */
import type { DestinationStream, Logger } from 'pino';
import { buildRuntime, type PluginRegistry, type Runtime } from './config/build.ts';
import { loadConfigFile } from './config/load.ts';
import type { GatewayConfig } from './config/schema.ts';
import { watchFile } from './config/watch.ts';
import { tuneGarbageCollection } from './heap.ts';
import { createLoggers } from './log.ts';
import { Metrics } from './metrics.ts';
import type { Clock, ConfigStatus, PluginDefinition, Services } from './plugin.ts';
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
  const { runtime } = await build(options, services);
  await runtime.close();
  await services.resources.closeAll();
}

export async function startGateway(options: StartOptions): Promise<RunningGateway> {
  tuneGarbageCollection();
  const env = options.env ?? process.env;
  const loaded = await loadConfigFile(options.configFile, env);
  const level = (loaded.value as { logging?: { level?: string } })?.logging?.level ?? 'info';
  const { log, access } = createLoggers({ level, destination: options.logDestination });
  const services = makeServices(options, log);
  const { runtime, status } = await build(options, services);
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
      const at = new Date(services.clock.now()).toISOString();
      try {
        const { runtime: next } = await build(options, services);
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
        const result = { ok: true, ...(restartNeeded.length > 0 ? { restartNeeded } : {}) };
        status.lastReload = { at, ...result };
        return result;
      } catch (error) {
        services.metrics.configReloads.inc({ result: 'error' });
        const message = (error as Error).message;
        log.error({ error: message }, 'config reload failed; keeping the running config');
        status.lastReload = { at, ok: false, error: message };
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
      // Both loggers share one destination. What it still holds when the process exits, pino writes then.
      await new Promise<void>((resolve) => log.flush(() => resolve()));
    },
  };
}

function makeServices(
  options: Pick<StartOptions, 'env' | 'clock'>,
  log: Logger,
): Omit<Services, 'configDir'> {
  const status: ConfigStatus = { file: '', text: '', loadedAt: '', routes: [] };
  return {
    log,
    metrics: new Metrics(),
    clock: options.clock ?? systemClock,
    resources: new Resources(),
    env: options.env ?? process.env,
    configStatus: () => status,
  };
}

/** Builds a runtime from the config file; once it is built, its text is the one in force. */
async function build(
  options: Pick<StartOptions, 'configFile' | 'plugins' | 'env'>,
  services: Omit<Services, 'configDir'>,
): Promise<{ runtime: Runtime; status: ConfigStatus }> {
  const loaded = await loadConfigFile(options.configFile, options.env ?? process.env);
  const plugins: PluginRegistry = new Map(options.plugins.map((p) => [p.name, p]));
  const runtime = await buildRuntime(loaded, { plugins, services });
  const status = services.configStatus();
  Object.assign(status, {
    file: loaded.file,
    text: loaded.text,
    loadedAt: new Date(services.clock.now()).toISOString(),
    routes: runtime.routes.map((route) => ({
      methods: route.methods,
      path: route.path,
      contracts: route.chain.links.flatMap((link) => link.instance.contract ?? []),
    })),
  });
  return { runtime, status };
}
