/** A promise settled from outside: one per batch of writes, shared by every change in the batch. */
export interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(error: Error): void;
}

export function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Marked handled here: the batch may have no caller left listening, and its failure is reported elsewhere.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}
