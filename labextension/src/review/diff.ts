/**
 * Revision diffs: which earlier version a checker compares with (the one they last reviewed,
 * else the previous one), and a line diff for text files (tables use the backend's cell-level
 * diff from …/lineage?diff=A,B).
 */
import type { LineageOut, ObjectOut } from '../contract.gen';

/** The version to compare the current one with, or null for a first version. */
export function baselineVersion(lineage: LineageOut, currentId: string, me: string): ObjectOut | null {
  const versions = [...lineage.versions].sort((a, b) => a.object.version - b.object.version);
  const at = versions.findIndex(v => v.object.id === currentId);
  if (at <= 0) {
    return null;
  }
  const earlier = versions.slice(0, at);
  for (let i = earlier.length - 1; i >= 0; i--) {
    if (earlier[i].reviews.some(r => r.reviewer === me)) {
      return earlier[i].object;
    }
  }
  return earlier[earlier.length - 1].object;
}

export interface DiffLine {
  op: ' ' | '+' | '-';
  text: string;
}

/** Longest-common-subsequence line diff. Inputs beyond maxLines lines each are cut (the view
 * says so): the table is quadratic, and a checker reads a diff, not a dump. */
export function lineDiff(a: string, b: string, maxLines = 2000): { lines: DiffLine[]; truncated: boolean } {
  const x = a.split(/\r?\n/);
  const y = b.split(/\r?\n/);
  const truncated = x.length > maxLines || y.length > maxLines;
  const xs = x.slice(0, maxLines);
  const ys = y.slice(0, maxLines);
  const n = xs.length;
  const m = ys.length;
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = xs[i] === ys[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const lines: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (xs[i] === ys[j]) {
      lines.push({ op: ' ', text: xs[i] });
      i++;
      j++;
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) {
      lines.push({ op: '-', text: xs[i++] });
    } else {
      lines.push({ op: '+', text: ys[j++] });
    }
  }
  while (i < n) {
    lines.push({ op: '-', text: xs[i++] });
  }
  while (j < m) {
    lines.push({ op: '+', text: ys[j++] });
  }
  return { lines, truncated };
}
