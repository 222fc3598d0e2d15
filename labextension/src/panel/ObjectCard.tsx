/**
 * One object of a request: its verdict and state, preview, download, version history, checker
 * feedback, the description form for the output checkers, and replacing it with a newer output.
 */
import * as React from 'react';

import { api } from '../api';
import type { ObjectOut, PreviewOut, RequestOut } from '../contract.gen';
import { canReplace } from '../logic/actions';
import { agentResult, lineageObjects } from '../logic/feedback';
import { statbarnGuidance } from '../logic/tagging';
import type { MetadataForm, Statbarn, TaggedOutput } from '../logic/types';
import { verdictBadge } from '../logic/verdict';
import { VerdictBadge } from './badges';
import { formatBytes } from './format';
import { Guidance } from './markdown';
import type { Notify } from './useNotices';
import { When } from './when';

/** JupyterLab's rendered-table look, inside the sandboxed preview (it cannot see Lab's CSS). */
const PREVIEW_STYLE =
  '<style>body{font-family:system-ui,sans-serif;font-size:13px;margin:4px;color:#212121}' +
  'table{border-collapse:collapse;border-spacing:0;border:none;font-size:12px;table-layout:fixed}' +
  'thead{border-bottom:1px solid #9e9e9e;vertical-align:bottom}' +
  'td,th,tr{text-align:right;vertical-align:middle;padding:0.5em;line-height:normal;' +
  'white-space:normal;max-width:none;border:none}th{font-weight:bold}' +
  'tbody tr:nth-child(odd){background:#f5f5f5}tbody tr:hover{background:rgba(66,165,245,0.2)}</style>';

function metadataForm(o: ObjectOut): MetadataForm {
  return {
    title: o.metadata.title ?? '',
    description: o.metadata.description ?? '',
    statbarn: o.metadata.statbarn ?? '',
    justification: o.metadata.justification ?? '',
    suppression_notes: o.metadata.suppression_notes ?? ''
  };
}

export function ObjectCard(props: {
  rid: string;
  obj: ObjectOut;
  req: RequestOut;
  editable: boolean;
  outputs: TaggedOutput[];
  statbarns: Statbarn[] | null;
  comments: string[];
  agent: ReturnType<typeof agentResult>;
  mustDescribe: boolean;
  notify: Notify;
  onChanged: () => void;
}): JSX.Element {
  const { rid, obj, notify } = props;
  const [form, setForm] = React.useState<MetadataForm>(metadataForm(obj));
  const [fieldErrors, setFieldErrors] = React.useState<Record<string, string>>({});
  const [history, setHistory] = React.useState<ObjectOut[] | null>(null);
  const [preview, setPreview] = React.useState<PreviewOut | null>(null);
  const [replacement, setReplacement] = React.useState('');
  const [busy, setBusy] = React.useState(false);
  const dirty = JSON.stringify(form) !== JSON.stringify(metadataForm(obj));

  const save = async () => {
    setBusy(true);
    setFieldErrors({});
    try {
      await api.setMetadata(rid, obj.id, { ...form, statbarn: form.statbarn || undefined });
      props.onChanged();
    } catch (e: any) {
      if (typeof e?.fieldErrors === 'function') {
        setFieldErrors(e.fieldErrors());
      }
      notify(e);
    } finally {
      setBusy(false);
    }
  };

  const togglePreview = () => {
    if (preview) {
      setPreview(null);
      return;
    }
    api.preview(rid, obj.id).then(setPreview, notify);
  };
  const download = () => {
    api.download(rid, obj.id, obj.filename).catch(notify);
  };

  const replace = async () => {
    setBusy(true);
    try {
      await api.addOutput(rid, replacement, obj.id);
      props.onChanged();
    } catch (e) {
      notify(e);
    } finally {
      setBusy(false);
    }
  };

  const toggleHistory = () => {
    if (history) {
      setHistory(null);
      return;
    }
    api.lineage(rid, obj.id).then(l => setHistory(lineageObjects(l)), notify);
  };

  const field = (name: keyof MetadataForm, label: string, multiline = false) => (
    <label className="trevor-field">
      <span>{label}</span>
      {multiline ? (
        <textarea
          value={form[name]}
          disabled={!props.editable}
          onChange={e => setForm({ ...form, [name]: e.target.value })}
        />
      ) : (
        <input
          value={form[name]}
          disabled={!props.editable}
          onChange={e => setForm({ ...form, [name]: e.target.value })}
        />
      )}
      {fieldErrors[`/${name}`] && <span className="trevor-field-error">{fieldErrors[`/${name}`]}</span>}
      {name === 'description' && props.mustDescribe && !form.description.trim() && !fieldErrors['/description'] && (
        <span className="trevor-field-error">Required before submitting: what this output shows.</span>
      )}
    </label>
  );

  return (
    <li className="trevor-object">
      <div>
        <span className="trevor-title">{obj.metadata.title || obj.filename}</span>{' '}
        {obj.verdict && <VerdictBadge verdict={obj.verdict} />}{' '}
        <span className={`trevor-badge trevor-object-${obj.state}`}>{obj.state.replace(/_/g, ' ')}</span>
      </div>
      <div className="trevor-sub">
        {obj.filename} · v{obj.version} in request · {formatBytes(obj.size)} ·{' '}
        <button className="trevor-link" onClick={togglePreview}>
          {preview ? 'hide preview' : 'preview'}
        </button>{' '}
        ·{' '}
        <button className="trevor-link" onClick={download}>
          download
        </button>{' '}
        ·{' '}
        <button className="trevor-link" onClick={toggleHistory}>
          {history ? 'hide history' : 'history'}
        </button>
      </div>
      {props.comments.length > 0 && (
        <ul className="trevor-feedback">
          {props.comments.map((c, i) => (
            <li key={i}>Checker: {c}</li>
          ))}
        </ul>
      )}
      {props.agent && (
        <div className="trevor-agent">
          Automatic check: <span className={`trevor-badge trevor-verdict-${props.agent.tone}`}>{props.agent.tone}</span>
          {props.agent.findings.length > 0 && (
            <ul className="trevor-findings">
              {props.agent.findings.map((f, i) => (
                <li key={i}>{f}</li>
              ))}
            </ul>
          )}
        </div>
      )}
      {preview && (
        <div className="trevor-preview">
          {preview.note && <div className="trevor-sub">{preview.note}</div>}
          {preview.html ? (
            // sandbox="" : no scripts, no same-origin access, even if sanitising missed something.
            <iframe sandbox="" srcDoc={PREVIEW_STYLE + preview.html} title={`Preview of ${obj.filename}`} />
          ) : (
            <div className="trevor-sub">No preview for this file type; use download.</div>
          )}
        </div>
      )}
      {history && (
        <ol className="trevor-history">
          {history.map(h => (
            <li key={h.id}>
              v{h.version} · {h.state.replace(/_/g, ' ')} · <When iso={h.created_at} /> · {h.sha256.slice(0, 12)}
            </li>
          ))}
        </ol>
      )}
      <details open={(props.editable && !obj.metadata.statbarn) || props.mustDescribe}>
        <summary>Description for the output checkers</summary>
        {field('title', 'Title')}
        <label className="trevor-field">
          <span>Statbarn (output type)</span>
          <select
            value={form.statbarn}
            disabled={!props.editable}
            onChange={e => setForm({ ...form, statbarn: e.target.value })}
          >
            <option value="">— choose —</option>
            {(props.statbarns ?? []).map(s => (
              <option key={s.id} value={s.id}>
                {s.name}
              </option>
            ))}
          </select>
          <Guidance text={statbarnGuidance(props.statbarns, form.statbarn)} />
          {fieldErrors['/statbarn'] && <span className="trevor-field-error">{fieldErrors['/statbarn']}</span>}
        </label>
        {field('description', 'Description', true)}
        {field('justification', 'Justification', true)}
        {field('suppression_notes', 'Suppression notes', true)}
        {props.editable && (
          <button className="jp-mod-styled" disabled={!dirty || busy} onClick={save}>
            Save description
          </button>
        )}
      </details>
      {canReplace(props.req, obj) && (
        <div className="trevor-replace">
          <select value={replacement} onChange={e => setReplacement(e.target.value)} aria-label="Replacement">
            <option value="">Replace with a newer tagged output…</option>
            {/* Never the version already in the request (same bytes). */}
            {props.outputs
              .filter(o => !o.sha256 || o.sha256 !== obj.sha256)
              .map(o => (
                <option key={o.id} value={o.id}>
                  {o.title || o.filename} ({verdictBadge(o.verdict).label})
                </option>
              ))}
          </select>
          <button className="jp-mod-styled" disabled={!replacement || busy} onClick={replace}>
            Replace
          </button>
        </div>
      )}
    </li>
  );
}
