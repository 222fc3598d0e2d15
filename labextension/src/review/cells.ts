/**
 * Tables in the review view: the CSV/TSV text parsed into header, row labels and body, and the
 * agent report's per-cell findings turned into the cells to highlight.
 *
 * A finding's ``positions`` are [row, column] in the published table's body (the grid the
 * evidence is aligned with: no header rows, no index columns); its ``cells`` hold the labels of
 * the same cells, whose lengths tell how many index columns and header rows the file has.
 */
import type { ObjectAgentReport, SdcFinding } from '../contract.gen';

export type CellTone = 'fail' | 'review';

export interface CellMark {
  tone: CellTone;
  /** Rule names with their messages, for the cell's title and accessible label. */
  rules: string[];
}

export interface ParsedTable {
  header: string[][];
  rows: Array<{ labels: string[]; cells: string[] }>;
}

/** RFC 4180 fields: quoted fields may hold separators, doubled quotes and newlines. */
export function parseDelimited(text: string, sep: string = ','): string[][] {
  const out: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i += 1;
        continue;
      }
      field += ch;
      i += 1;
      continue;
    }
    if (ch === '"' && field === '') {
      quoted = true;
    } else if (ch === sep) {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') {
        i += 1;
      }
      row.push(field);
      out.push(row);
      row = [];
      field = '';
    } else {
      field += ch;
    }
    i += 1;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    out.push(row);
  }
  return out;
}

export function separatorFor(filename: string): string | null {
  const lower = filename.toLowerCase();
  if (lower.endsWith('.csv')) {
    return ',';
  }
  if (lower.endsWith('.tsv') || lower.endsWith('.tab')) {
    return '\t';
  }
  return null;
}

/** How many header rows and index columns the file has, read from the findings' labels
 * ([row labels, column labels] per cell); pandas' default of one each otherwise. */
export function labelDepth(findings: SdcFinding[]): { headerRows: number; indexCols: number } {
  for (const f of findings) {
    const first = (f.cells ?? [])[0];
    if (Array.isArray(first) && first.length === 2 && Array.isArray(first[0]) && Array.isArray(first[1])) {
      return {
        indexCols: Math.max(1, (first[0] as unknown[]).length),
        headerRows: Math.max(1, (first[1] as unknown[]).length)
      };
    }
  }
  return { headerRows: 1, indexCols: 1 };
}

export function splitTable(grid: string[][], headerRows: number, indexCols: number): ParsedTable {
  const body = grid.slice(headerRows).filter(r => !(r.length === 1 && r[0] === ''));
  return {
    header: grid.slice(0, headerRows),
    rows: body.map(r => ({ labels: r.slice(0, indexCols), cells: r.slice(indexCols) }))
  };
}

export function cellKey(row: number, col: number): string {
  return `${row},${col}`;
}

/**
 * The cells to highlight: every position of a finding that did not pass. A cell flagged by a
 * failing rule is 'fail' even when another rule only asks for review.
 */
export function highlightCells(report: ObjectAgentReport | null | undefined): Map<string, CellMark> {
  const marks = new Map<string, CellMark>();
  for (const f of report?.findings ?? []) {
    if (f.status === 'pass') {
      continue;
    }
    for (const pos of f.positions ?? []) {
      if (!Array.isArray(pos) || pos.length < 2) {
        continue;
      }
      const key = cellKey(pos[0], pos[1]);
      const mark = marks.get(key) ?? { tone: 'review' as CellTone, rules: [] };
      if (f.status === 'fail') {
        mark.tone = 'fail';
      }
      mark.rules.push(`${f.rule}: ${f.message}`);
      marks.set(key, mark);
    }
  }
  return marks;
}
