/**
 * A CSV/TSV object as a table, with the cells the agent flagged highlighted. Large tables are
 * windowed: only the rows in view (plus a margin) are in the DOM, so a 5,000-cell table opens
 * as fast as a small one.
 */
import * as React from 'react';

import { cellKey, type CellMark, type ParsedTable } from './cells';

const ROW_HEIGHT = 26;
const WINDOW_FROM = 200; // rows; below this every row is rendered
const OVERSCAN = 20;

export function TableView(props: { table: ParsedTable; marks: Map<string, CellMark>; caption: string }): JSX.Element {
  const { table, marks } = props;
  const windowed = table.rows.length > WINDOW_FROM;
  const [top, setTop] = React.useState(0);
  const viewport = 600;
  const first = windowed ? Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN) : 0;
  const last = windowed
    ? Math.min(table.rows.length, Math.ceil((top + viewport) / ROW_HEIGHT) + OVERSCAN)
    : table.rows.length;
  const flagged = [...marks.values()].filter(m => m.tone === 'fail').length;
  return (
    <div
      className="trevor-table-scroll"
      style={windowed ? { maxHeight: viewport, overflowY: 'auto' } : undefined}
      onScroll={windowed ? e => setTop((e.target as HTMLDivElement).scrollTop) : undefined}
      tabIndex={0}
      role="region"
      aria-label={`${props.caption}: ${table.rows.length} rows, ${marks.size} flagged cell(s), ${flagged} failing`}
    >
      <table className="trevor-table">
        <caption className="trevor-sub">
          {props.caption} · {table.rows.length} rows · {marks.size} flagged cell(s)
        </caption>
        <thead>
          {table.header.map((h, i) => (
            <tr key={i}>
              {h.map((c, j) => (
                <th key={j} scope="col">
                  {c}
                </th>
              ))}
            </tr>
          ))}
        </thead>
        <tbody>
          {windowed && first > 0 && <tr aria-hidden="true" style={{ height: first * ROW_HEIGHT }} />}
          {table.rows.slice(first, last).map((row, k) => {
            const i = first + k;
            return (
              <tr key={i} style={windowed ? { height: ROW_HEIGHT } : undefined}>
                {row.labels.map((l, j) => (
                  <th key={`l${j}`} scope="row">
                    {l}
                  </th>
                ))}
                {row.cells.map((c, j) => {
                  const mark = marks.get(cellKey(i, j));
                  return mark ? (
                    <td
                      key={j}
                      className={`trevor-cell-${mark.tone}`}
                      title={mark.rules.join('\n')}
                      aria-label={`${c}, flagged (${mark.tone}): ${mark.rules.join('; ')}`}
                      data-position={`${i},${j}`}
                    >
                      {c}
                    </td>
                  ) : (
                    <td key={j}>{c}</td>
                  );
                })}
              </tr>
            );
          })}
          {windowed && last < table.rows.length && (
            <tr aria-hidden="true" style={{ height: (table.rows.length - last) * ROW_HEIGHT }} />
          )}
        </tbody>
      </table>
    </div>
  );
}
