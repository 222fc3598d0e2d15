/**
 * Does an output look like individual records (row-level data) rather than a statistic? Such
 * outputs are almost never releasable, so the tag dialog warns before they are tagged. A
 * heuristic, on purpose generous: a warning shown for an aggregate costs a glance, a missed
 * one could cost a disclosure. Signals: the cell ends in `.head()`, `.tail()`, `.sample()`,
 * `.iloc[...]`/`.loc[...]`, or an HTML table whose index is 0, 1, 2, … (a raw DataFrame's).
 */
const ROW_CODE = /\.(head|tail|sample)\s*\(|\.(iloc|loc)\s*\[|\.to_string\s*\(/;

function lastStatement(code: string): string {
  const lines = code
    .split('\n')
    .map(l => l.replace(/#.*$/, '').trim())
    .filter(Boolean);
  return lines[lines.length - 1] ?? '';
}

/** True when the HTML table's row labels are the integers 0..n-1 (pandas' default index). */
export function hasRangeIndex(html: string): boolean {
  const body = /<tbody>([\s\S]*?)<\/tbody>/i.exec(html)?.[1];
  if (!body) {
    return false;
  }
  const labels = [...body.matchAll(/<tr[^>]*>\s*<th[^>]*>\s*([^<]*?)\s*<\/th>/gi)].map(m => m[1]);
  return labels.length >= 2 && labels.every((l, i) => l === String(i));
}

export function rowLevelReason(code: string, html: string | null): string | null {
  const last = lastStatement(code);
  if (ROW_CODE.test(last)) {
    return `the cell shows rows of the data (${last.length > 60 ? last.slice(0, 57) + '…' : last})`;
  }
  if (html && hasRangeIndex(html)) {
    return 'the table is indexed 0, 1, 2, … like raw records rather than categories';
  }
  return null;
}
