/** CSV as spreadsheets read it: a header line, CRLF line ends, and no cell a spreadsheet would run as a formula. */

/**
 * One page of rows as CSV. When more follow, `X-Next-Cursor` names the `before` that asks for them: the
 * pages, their header lines but the first left out, make the whole file.
 */
export function csvAnswer(
  header: readonly string[],
  rows: readonly Record<string, unknown>[],
  page: { next: number | null },
) {
  const lines = [header, ...rows.map((row) => header.map((name) => csvCell(row[name])))];
  return {
    headers: {
      'content-type': 'text/csv; charset=utf-8',
      ...(page.next === null ? {} : { 'x-next-cursor': String(page.next) }),
    },
    body: lines.map((cells) => cells.join(',')).join('\r\n') + '\r\n',
  };
}

function csvCell(value: unknown): string {
  if (value === undefined || value === null) return '';
  // A number is written as one, its sign included: its text is never a formula.
  if (typeof value === 'number') return String(value);
  const text = String(value);
  // A cell a spreadsheet would run as a formula is quoted as text.
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[",\r\n]/.test(safe) || safe !== text ? `"${safe.replaceAll('"', '""')}"` : safe;
}
