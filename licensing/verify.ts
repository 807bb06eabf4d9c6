/**
 * Checks a store's books: for every license, its ledger read as a chain (each entry's balance is the one
 * before it plus its amount, starting from nothing), the last balance against the license's credits, and its
 * held credits within what it has. Reports each difference, so an operator can find and mend it.
 */
import type { License, LicenseStore } from './types.ts';

export interface BooksDifference {
  license: string;
  /** What does not add up, in words. */
  problem: string;
}

const PAGE = 1000;

export async function verifyBooks(
  store: LicenseStore,
): Promise<{ licenses: number; differences: BooksDifference[] }> {
  const differences: BooksDifference[] = [];
  let licenses = 0;
  for (let offset = 0; ; offset += PAGE) {
    const page = await store.list({ limit: PAGE, offset });
    for (const license of page) {
      licenses++;
      for (const problem of await licenseProblems(store, license))
        differences.push({ license: license.key, problem });
    }
    if (page.length < PAGE) break;
  }
  return { licenses, differences };
}

async function licenseProblems(store: LicenseStore, license: License): Promise<string[]> {
  const entries = [];
  for (let before: number | undefined; ;) {
    const page = await store.ledger(license.key, {
      limit: PAGE,
      ...(before !== undefined ? { before } : {}),
    });
    entries.push(...page.entries);
    if (page.next === null) break;
    before = page.next;
  }
  entries.reverse();
  const problems: string[] = [];
  let balance = 0;
  for (const entry of entries) {
    if (entry.balanceAfter !== balance + entry.amount)
      problems.push(
        `entry ${entry.id} (${entry.kind}) says ${entry.balanceAfter} after ${balance} ${entry.amount >= 0 ? '+' : ''}${entry.amount}`,
      );
    balance = entry.balanceAfter;
  }
  if (balance !== license.credits)
    problems.push(`the ledger ends at ${balance}, the license holds ${license.credits}`);
  if (license.held < 0 || license.held > Math.max(license.credits, 0))
    problems.push(`held ${license.held} is outside 0..${license.credits}`);
  return problems;
}
