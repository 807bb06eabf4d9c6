/**
 * Long-lived shared objects (a store connection, a balancer pool with its statistics) that plugins create
 * on first use and that outlive config reloads: a reloaded chain gets the same object back by key.
 */
export interface Resource {
  close?(): void | Promise<void>;
  /** Throws (or rejects) when the resource is unusable; `GET /api/v1/health` reports it. */
  checkHealth?(): void | Promise<void>;
}

export class Resources {
  private readonly entries = new Map<string, Resource>();

  get<T extends object>(key: string, create: () => T & Resource): T {
    let entry = this.entries.get(key);
    if (!entry) {
      entry = create();
      this.entries.set(key, entry);
    }
    return entry as T;
  }

  async health(): Promise<Record<string, string>> {
    const report: Record<string, string> = {};
    await Promise.all(
      [...this.entries].map(async ([key, resource]) => {
        if (!resource.checkHealth) return;
        try {
          await resource.checkHealth();
          report[key] = 'ok';
        } catch (error) {
          report[key] = `unavailable: ${(error as Error).message}`;
        }
      }),
    );
    return report;
  }

  async closeAll(): Promise<void> {
    const all = [...this.entries.values()].reverse();
    this.entries.clear();
    for (const resource of all) await resource.close?.();
  }
}
