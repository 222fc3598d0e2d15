/**
 * The centre of the review view: the selected object rendered (tables as tables with the
 * flagged cells highlighted, everything else through the backend's sanitised preview, shown
 * sandboxed), the researcher's description, the provenance and evidence recorded at source,
 * and — for a replaced object — what changed since the version the checker last saw.
 */
import * as React from 'react';

import { api } from '../api';
import type { ObjectAgentReport, ObjectOut, ObjectSourceOut, PreviewOut, TableDiff } from '../contract.gen';
import { describeError } from '../problem';
import { reviewApi } from './api';
import { highlightCells, labelDepth, parseDelimited, separatorFor, splitTable, type ParsedTable } from './cells';
import { baselineVersion, lineDiff, type DiffLine } from './diff';
import { TableView } from './TableView';

/** Tables above this size are shown through the preview (first rows) instead. */
const MAX_TABLE_BYTES = 5_000_000;

type Rendered =
  | { kind: 'loading' }
  | { kind: 'table'; grid: string[][] }
  | { kind: 'preview'; preview: PreviewOut }
  | { kind: 'error'; detail: string };

export function ObjectPane(props: {
  rid: string;
  obj: ObjectOut;
  agent: ObjectAgentReport | undefined;
  me: string;
}): JSX.Element {
  const { rid, obj, agent } = props;
  const [rendered, setRendered] = React.useState<Rendered>({ kind: 'loading' });
  const [source, setSource] = React.useState<ObjectSourceOut | null>(null);
  const [sourceError, setSourceError] = React.useState<string | null>(null);

  React.useEffect(() => {
    let live = true;
    const sep = separatorFor(obj.filename);
    const load: Promise<Rendered> =
      sep !== null && obj.size <= MAX_TABLE_BYTES
        ? reviewApi.text(rid, obj.id).then(text => ({ kind: 'table', grid: parseDelimited(text, sep) }))
        : reviewApi.preview(rid, obj.id).then(preview => ({ kind: 'preview', preview }));
    load.then(
      r => live && setRendered(r),
      e => live && setRendered({ kind: 'error', detail: describeError(e) })
    );
    reviewApi.source(rid, obj.id).then(
      s => live && setSource(s),
      e => live && setSourceError(describeError(e))
    );
    return () => {
      live = false;
    };
  }, [rid, obj.id, obj.filename, obj.size]);

  const marks = React.useMemo(() => highlightCells(agent), [agent]);
  // Split once the findings (which say how many header rows and index columns) are known.
  const table: ParsedTable | null = React.useMemo(() => {
    if (rendered.kind !== 'table') {
      return null;
    }
    const depth = labelDepth(agent?.findings ?? []);
    return splitTable(rendered.grid, depth.headerRows, depth.indexCols);
  }, [rendered, agent]);
  const m = obj.metadata;
  return (
    <div className="trevor-object-pane">
      <h3 className="trevor-object-title">
        {m.title || obj.filename} <span className="trevor-sub">v{obj.version}</span>
      </h3>
      <div className="trevor-sub">
        {obj.filename} · {obj.media_type} · {obj.size} bytes · sha256 <code>{obj.sha256.slice(0, 16)}…</code> ·{' '}
        <button
          className="trevor-link"
          onClick={() => void api.download(rid, obj.id, obj.filename).catch(() => undefined)}
        >
          Download {obj.filename}
        </button>
      </div>
      {obj.version > 1 && <Changes rid={rid} obj={obj} me={props.me} />}
      <div className="trevor-rendered">
        {rendered.kind === 'loading' && <p>Loading…</p>}
        {rendered.kind === 'error' && (
          <div className="trevor-notice trevor-notice-error" role="alert">
            {rendered.detail}
          </div>
        )}
        {table && <TableView table={table} marks={marks} caption={m.title || obj.filename} />}
        {rendered.kind === 'preview' && <Preview preview={rendered.preview} />}
      </div>
      <section aria-label="Description by the researcher" className="trevor-review-block">
        <h4>Description by the researcher</h4>
        <dl className="trevor-dl">
          <dt>Statbarn</dt>
          <dd>{m.statbarn ?? 'none given'}</dd>
          <dt>Description</dt>
          <dd>{m.description || '—'}</dd>
          <dt>Justification</dt>
          <dd>{m.justification || '—'}</dd>
          <dt>Suppression notes</dt>
          <dd>{m.suppression_notes || '—'}</dd>
        </dl>
      </section>
      <section aria-label="Provenance and evidence" className="trevor-review-block">
        <h4>Provenance and evidence</h4>
        {sourceError && <p className="trevor-field-error">{sourceError}</p>}
        {source && <SourceView source={source} />}
      </section>
    </div>
  );
}

function Preview({ preview }: { preview: PreviewOut }): JSX.Element {
  return (
    <div className="trevor-preview">
      {preview.note && <div className="trevor-sub">{preview.note}</div>}
      {preview.html ? (
        // sandbox="": no scripts, no same-origin access, even if sanitising missed something.
        <iframe
          sandbox=""
          srcDoc={preview.html}
          title={`Rendered ${preview.filename}`}
          className="trevor-preview-frame"
        />
      ) : (
        <p className="trevor-sub">
          No rendering for {preview.media_type}: {preview.size} bytes, sha256 {preview.sha256}. Download it to inspect.
        </p>
      )}
    </div>
  );
}

function SourceView({ source }: { source: ObjectSourceOut }): JSX.Element {
  const p = source.provenance;
  const e = source.evidence;
  const kernel = p?.kernel;
  const kernelText =
    typeof kernel === 'string'
      ? kernel
      : kernel
        ? Object.entries(kernel)
            .map(([k, v]) => `${k} ${String(v)}`)
            .join(', ')
        : '—';
  return (
    <div>
      {source.note && <p className="trevor-sub">{source.note}</p>}
      {!p && <p className="trevor-sub">No provenance was recorded at source.</p>}
      {p && (
        <dl className="trevor-dl">
          <dt>Notebook</dt>
          <dd>
            {p.notebook_path ?? '—'}
            {p.execution_count != null ? ` · cell [${p.execution_count}]` : ''}
          </dd>
          <dt>Kernel</dt>
          <dd>{kernelText}</dd>
          {p.packages && Object.keys(p.packages).length > 0 && (
            <>
              <dt>Packages</dt>
              <dd>
                {Object.entries(p.packages)
                  .map(([k, v]) => `${k} ${String(v)}`)
                  .join(', ')}
              </dd>
            </>
          )}
        </dl>
      )}
      {p?.code && (
        <details>
          <summary>Cell code</summary>
          <pre className="trevor-code">{p.code}</pre>
        </details>
      )}
      {e ? (
        <p className="trevor-sub">
          Evidence recorded at source: {e.kind ?? 'unknown kind'}
          {e.statistic ? ` of ${e.statistic}` : ''}
          {e.rows && e.cols ? `, ${e.rows.length} × ${e.cols.length} cells` : ''}
          {e.top_k ? `, top ${e.top_k} contributions per cell` : ''}
          {e.nobs != null ? `, ${e.nobs} observations` : ''}
          {e.df_resid != null ? `, ${e.df_resid} residual degrees of freedom` : ''} ·{' '}
          {source.evidence_matches ? 'bound to this file' : 'for other bytes than this file (ignored)'}
        </p>
      ) : (
        <p className="trevor-sub">No evidence was recorded at source: the checks could not use it.</p>
      )}
    </div>
  );
}

type ChangesState =
  | { kind: 'closed' }
  | { kind: 'loading' }
  | { kind: 'first' }
  | { kind: 'table'; since: ObjectOut; diff: TableDiff }
  | { kind: 'text'; since: ObjectOut; lines: DiffLine[]; truncated: boolean }
  | { kind: 'error'; detail: string };

function Changes(props: { rid: string; obj: ObjectOut; me: string }): JSX.Element {
  const { rid, obj } = props;
  const [state, setState] = React.useState<ChangesState>({ kind: 'closed' });
  const open = async () => {
    if (state.kind !== 'closed') {
      setState({ kind: 'closed' });
      return;
    }
    setState({ kind: 'loading' });
    try {
      const lineage = await reviewApi.lineage(rid, obj.id);
      const since = baselineVersion(lineage, obj.id, props.me);
      if (!since) {
        setState({ kind: 'first' });
        return;
      }
      if (separatorFor(obj.filename) !== null) {
        const pair = await reviewApi.lineage(rid, obj.id, [since.id, obj.id]);
        const diff = pair.diffs.find(d => d.older === since.id && d.newer === obj.id) ?? pair.diffs[0];
        if (diff) {
          setState({ kind: 'table', since, diff });
          return;
        }
      }
      const [a, b] = await Promise.all([reviewApi.text(rid, since.id), reviewApi.text(rid, obj.id)]);
      setState({ kind: 'text', since, ...lineDiff(a, b) });
    } catch (e) {
      setState({ kind: 'error', detail: describeError(e) });
    }
  };
  return (
    <div className="trevor-changes">
      <button className="jp-mod-styled" aria-expanded={state.kind !== 'closed'} onClick={() => void open()}>
        {state.kind === 'closed' ? 'Show changes since the version you last saw' : 'Hide changes'}
      </button>
      {state.kind === 'loading' && <p>Loading…</p>}
      {state.kind === 'first' && <p className="trevor-sub">No earlier version.</p>}
      {state.kind === 'error' && (
        <p className="trevor-field-error" role="alert">
          {state.detail}
        </p>
      )}
      {state.kind === 'table' && <TableDiffView since={state.since} diff={state.diff} />}
      {state.kind === 'text' && (
        <div className="trevor-diff" aria-label={`Changes since v${state.since.version}`}>
          <div className="trevor-sub">Changes since v{state.since.version}</div>
          <pre>
            {state.lines.map((l, i) => (
              <div key={i} className={l.op === '+' ? 'trevor-diff-add' : l.op === '-' ? 'trevor-diff-del' : ''}>
                {l.op} {l.text}
              </div>
            ))}
          </pre>
          {state.truncated && <div className="trevor-sub">Only the first lines are compared.</div>}
        </div>
      )}
    </div>
  );
}

function label(v: unknown): string {
  return Array.isArray(v) ? v.map(String).join(' / ') : String(v);
}

function TableDiffView({ since, diff }: { since: ObjectOut; diff: TableDiff }): JSX.Element {
  const changed = diff.cells_changed ?? [];
  return (
    <div className="trevor-diff" aria-label={`Changes since v${since.version}`}>
      <div className="trevor-sub">
        Changes since v{since.version}
        {diff.note ? ` — ${diff.note}` : ''}
      </div>
      {!diff.comparable && <p>The versions cannot be compared cell by cell.</p>}
      {changed.length > 0 && (
        <table className="trevor-table trevor-diff-table">
          <thead>
            <tr>
              <th scope="col">Row</th>
              <th scope="col">Column</th>
              <th scope="col">Was</th>
              <th scope="col">Now</th>
            </tr>
          </thead>
          <tbody>
            {changed.map((c, i) => (
              <tr key={i}>
                <th scope="row">{label(c.row)}</th>
                <td>{label(c.column)}</td>
                <td className="trevor-diff-del">{c.old}</td>
                <td className="trevor-diff-add">{c.new}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {diff.comparable && changed.length === 0 && <p className="trevor-sub">No cell changed.</p>}
      {(diff.rows_added ?? []).length > 0 && <p>Rows added: {(diff.rows_added ?? []).map(label).join(', ')}</p>}
      {(diff.rows_removed ?? []).length > 0 && <p>Rows removed: {(diff.rows_removed ?? []).map(label).join(', ')}</p>}
      {(diff.columns_added ?? []).length > 0 && (
        <p>Columns added: {(diff.columns_added ?? []).map(label).join(', ')}</p>
      )}
      {(diff.columns_removed ?? []).length > 0 && (
        <p>Columns removed: {(diff.columns_removed ?? []).map(label).join(', ')}</p>
      )}
      {diff.truncated && <p className="trevor-sub">Only the first changes are listed.</p>}
    </div>
  );
}
