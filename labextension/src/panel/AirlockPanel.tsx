/**
 * The left-sidebar "Airlock" panel for researchers: tagged outputs with their pre-check
 * verdicts, requests with live status, the request view (objects, metadata, feedback, history,
 * actions) and the inbox of delivered ingress files.
 *
 * Rendering only: which actions a state allows, badges, and how events change the list live in
 * ../logic (tested with jest). Every failed call is shown in the panel (describeError), never
 * dropped.
 */
import type { JupyterFrontEnd } from '@jupyterlab/application';
import { ReactWidget } from '@jupyterlab/ui-components';
import type { ISignal } from '@lumino/signaling';
import * as React from 'react';

import { api } from '../api';
import type { AgentReportOut, ObjectOut, PreviewOut, ReleaseOut, RequestOut, ReviewOut } from '../contract.gen';
import { allowedActions, canReplace, currentObjects, statusBadge, submitBlockers } from '../logic/actions';
import { applyEvent } from '../logic/events';
import { agentResult, agentSummary, lineageObjects, publicComments } from '../logic/feedback';
import { statbarnGuidance } from '../logic/tagging';
import type { InboxFile, MetadataForm, Statbarn, TaggedOutput } from '../logic/types';
import { checkCompatibility, type Compatibility } from '../logic/version';
import { describeFinding, verdictBadge, verdictFindings } from '../logic/verdict';
import { describeError } from '../problem';
import { LiveEvents } from './live';
import { Guidance } from './markdown';
import { useWatchedOutputs } from './outputsWatch';
import { ReviewSummary } from './ReviewSummary';
import { When } from './when';

/** JupyterLab's rendered-table look, inside the sandboxed preview (it cannot see Lab's CSS). */
const PREVIEW_STYLE =
  '<style>body{font-family:system-ui,sans-serif;font-size:13px;margin:4px;color:#212121}' +
  'table{border-collapse:collapse;border-spacing:0;border:none;font-size:12px;table-layout:fixed}' +
  'thead{border-bottom:1px solid #9e9e9e;vertical-align:bottom}' +
  'td,th,tr{text-align:right;vertical-align:middle;padding:0.5em;line-height:normal;' +
  'white-space:normal;max-width:none;border:none}th{font-weight:bold}' +
  'tbody tr:nth-child(odd){background:#f5f5f5}tbody tr:hover{background:rgba(66,165,245,0.2)}</style>';
import type { Review } from '../review/plugin';
import { ReviewSection } from '../review/ReviewSection';

export interface PanelProps {
  app: JupyterFrontEnd;
  /** Emitted when the notebook action tagged an output (the list must reload). */
  outputsChanged: ISignal<unknown, void>;
  /** The checker's review (issue 9): its section shows to output checkers only. */
  review?: Review;
}

type Notice = { id: number; text: string; tone: 'error' | 'info' };

function useNotices(): [Notice[], (e: unknown, tone?: 'error' | 'info') => void, (id: number) => void] {
  const [notices, setNotices] = React.useState<Notice[]>([]);
  const counter = React.useRef(0);
  const push = React.useCallback((e: unknown, tone: 'error' | 'info' = 'error') => {
    const text = typeof e === 'string' ? e : describeError(e);
    counter.current += 1;
    const id = counter.current;
    setNotices(n => [...n.slice(-4), { id, text, tone }]);
  }, []);
  const dismiss = React.useCallback((id: number) => setNotices(n => n.filter(x => x.id !== id)), []);
  return [notices, push, dismiss];
}

export function VerdictBadge({ verdict }: { verdict: TaggedOutput['verdict'] }): JSX.Element {
  const b = verdictBadge(verdict);
  return (
    <span className={`trevor-badge trevor-verdict-${b.tone}`} title={b.title}>
      {b.label}
    </span>
  );
}

function StatusBadge({ status }: { status: string }): JSX.Element {
  const b = statusBadge(status);
  return <span className={`trevor-badge trevor-status-${b.tone}`}>{b.label}</span>;
}

export function AirlockPanel({ app, outputsChanged, review }: PanelProps): JSX.Element {
  const [notices, notify, dismiss] = useNotices();
  const [compat, setCompat] = React.useState<Compatibility | null>(null);
  const [backend, setBackend] = React.useState(false);
  const [project, setProject] = React.useState<string>('');
  const [outputs, setOutputs] = React.useState<TaggedOutput[]>([]);
  const [requests, setRequests] = React.useState<RequestOut[]>([]);
  const [statbarns, setStatbarns] = React.useState<Statbarn[] | null>(null);
  const [inbox, setInbox] = React.useState<InboxFile[]>([]);
  const [openRid, setOpenRid] = React.useState<string | null>(null);
  const [live, setLive] = React.useState<string>('offline');
  const [reloadKey, setReloadKey] = React.useState(0);
  // The event handler outlives renders; it reads the current list through this ref.
  const requestsRef = React.useRef<RequestOut[]>(requests);
  requestsRef.current = requests;
  const openRef = React.useRef<string | null>(openRid);
  openRef.current = openRid;

  const loadOutputs = React.useCallback(() => {
    api.outputs().then(setOutputs, notify);
  }, [notify]);
  const loadRequests = React.useCallback(() => {
    api.requests({ direction: 'egress' }).then(setRequests, notify);
  }, [notify]);
  const loadInbox = React.useCallback(() => {
    api.inbox().then(r => setInbox(r.items), notify);
  }, [notify]);

  React.useEffect(() => {
    api.version().then(
      info => {
        const c = checkCompatibility(info);
        setCompat(c);
        setBackend(c.ok && info.backend_configured);
        setProject(info.project ?? '');
      },
      err => {
        setCompat({ ok: false, message: checkCompatibility(null).message + ` (${describeError(err)})` });
      }
    );
  }, []);

  React.useEffect(() => {
    if (!compat?.ok) {
      return;
    }
    loadOutputs();
    loadInbox();
    if (!backend) {
      return;
    }
    loadRequests();
    api.statbarns().then(setStatbarns, notify);
    const events = new LiveEvents({
      onEvent: ev => {
        const applied = applyEvent({ requests: requestsRef.current }, ev);
        requestsRef.current = applied.state.requests;
        setRequests(applied.state.requests);
        for (const rid of applied.refresh) {
          api.request(rid).then(full => setRequests(cur => cur.map(r => (r.id === full.id ? full : r))), notify);
        }
        // Reload the open request's data in place: remounting its view would throw away
        // what the researcher is typing, an open preview and a chosen replacement.
        if (openRef.current !== null && applied.refresh.includes(openRef.current)) {
          setReloadKey(k => k + 1);
        }
        if (applied.refreshInbox) {
          api.deliverInbox().then(r => setInbox(r.items), notify);
        }
      },
      onState: (state, detail) => {
        setLive(detail ? `${state}: ${detail}` : state);
        if (state === 'live') {
          // The stream starts "now": reload once connected so nothing that happened between
          // the first load (or a disconnect) and this moment is missed.
          loadRequests();
        }
      }
    });
    events.start();
    return () => events.stop();
  }, [compat, backend, loadOutputs, loadRequests, loadInbox, notify]);

  React.useEffect(() => {
    const handler = () => loadOutputs();
    outputsChanged.connect(handler);
    return () => {
      outputsChanged.disconnect(handler);
    };
  }, [outputsChanged, loadOutputs]);

  // The tagged outputs follow the workspace by themselves: the kernel writes them directly.
  useWatchedOutputs(compat?.ok === true, setOutputs);

  // Who I am and where new requests go, shown in the header.
  const [identity, setIdentity] = React.useState('');
  React.useEffect(() => {
    if (!backend) {
      return;
    }
    api.me().then(me => setIdentity(project ? `${me.username} · project ${project}` : me.username), notify);
  }, [backend, project, notify]);

  // Stable: the request view reloads whenever the callbacks it is given change.
  const upsert = React.useCallback(
    (r: RequestOut) =>
      setRequests(cur => (cur.some(x => x.id === r.id) ? cur.map(x => (x.id === r.id ? r : x)) : [r, ...cur])),
    []
  );

  return (
    <div className="trevor-panel">
      <header className="trevor-header">
        <h2>Airlock</h2>
        {identity && (
          <span className="trevor-whoami" title="Signed in to the airlock as">
            {identity}
          </span>
        )}
        {backend && (
          <span className={`trevor-live trevor-live-${live.split(':')[0]}`} title={live}>
            ●
          </span>
        )}
      </header>
      {compat?.message && (
        <div className={`trevor-notice ${compat.ok ? 'trevor-notice-info' : 'trevor-notice-error'}`} role="alert">
          {compat.message}
        </div>
      )}
      {notices.map(n => (
        <div key={n.id} className={`trevor-notice trevor-notice-${n.tone}`} role="alert">
          <span>{n.text}</span>
          <button className="trevor-link" aria-label="Dismiss" onClick={() => dismiss(n.id)}>
            ×
          </button>
        </div>
      ))}
      {compat?.ok && openRid === null && (
        <>
          {review && <ReviewSection model={review.model} onOpen={review.open} />}
          <OutputsSection
            outputs={outputs}
            requests={requests}
            backend={backend}
            project={project}
            notify={notify}
            onReload={loadOutputs}
            onRequestChanged={upsert}
            onOpen={setOpenRid}
          />
          {backend && <RequestsSection requests={requests} onOpen={setOpenRid} onReload={loadRequests} />}
          <InboxSection
            app={app}
            files={inbox}
            backend={backend}
            notify={notify}
            onFiles={setInbox}
            onReload={loadInbox}
          />
        </>
      )}
      {compat?.ok && openRid !== null && (
        <RequestView
          key={openRid}
          rid={openRid}
          reloadSignal={reloadKey}
          outputs={outputs}
          statbarns={statbarns}
          notify={notify}
          onBack={() => setOpenRid(null)}
          onChanged={upsert}
        />
      )}
    </div>
  );
}

// -- outputs ------------------------------------------------------------------------------------

function OutputsSection(props: {
  outputs: TaggedOutput[];
  requests: RequestOut[];
  backend: boolean;
  project: string;
  notify: (e: unknown, tone?: 'error' | 'info') => void;
  onReload: () => void;
  onRequestChanged: (r: RequestOut) => void;
  onOpen: (rid: string) => void;
}): JSX.Element {
  const { outputs, requests, backend, notify } = props;
  const [selected, setSelected] = React.useState<Set<string>>(new Set());
  const [target, setTarget] = React.useState<string>('new');
  const [title, setTitle] = React.useState('');
  const [busy, setBusy] = React.useState(false);
  const editable = requests.filter(r => allowedActions(r).includes('add_outputs'));

  // Without a configured project (TREVOR_PROJECT) the researcher picks one of theirs.
  const [projects, setProjects] = React.useState<Array<{ id: string; name: string }>>([]);
  const [chosenProject, setChosenProject] = React.useState('');
  React.useEffect(() => {
    if (!backend || props.project) {
      return;
    }
    api.projects().then(items => {
      const mine = items.filter(p => !p.my_role || p.my_role === 'researcher');
      setProjects(mine);
      if (mine.length === 1) {
        setChosenProject(mine[0].id);
      }
    }, notify);
  }, [backend, props.project, notify]);
  const project = props.project || chosenProject;

  const toggle = (id: string) =>
    setSelected(prev => {
      const next = new Set(prev);
      if (next.has(id)) {
        next.delete(id);
      } else {
        next.add(id);
      }
      return next;
    });

  const add = async () => {
    setBusy(true);
    try {
      let rid = target;
      if (target === 'new') {
        if (!project) {
          notify('Choose the project the new request belongs to.');
          return;
        }
        const created = await api.createRequest({
          project,
          title: title.trim() || 'Outputs',
          description: ''
        });
        rid = created.id;
      }
      const failures: string[] = [];
      for (const id of selected) {
        try {
          await api.addOutput(rid, id);
        } catch (e) {
          failures.push(`${id}: ${describeError(e)}`);
        }
      }
      const updated = await api.request(rid);
      props.onRequestChanged(updated);
      setSelected(new Set());
      if (failures.length) {
        notify(`Some outputs were not added — ${failures.join('; ')}`);
      } else {
        props.onOpen(rid);
      }
    } catch (e) {
      notify(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="trevor-section">
      <div className="trevor-section-head">
        <h3>Tagged outputs</h3>
        <button className="trevor-link" onClick={props.onReload}>
          Refresh
        </button>
      </div>
      {outputs.length === 0 && (
        <p className="trevor-empty">
          No tagged outputs yet. Use <code>trevor.tag(...)</code> in a notebook or the cell menu “Add output to
          airlock”.
        </p>
      )}
      <ul className="trevor-list">
        {outputs.map(o => (
          <li key={o.id} className="trevor-output">
            <label>
              <input type="checkbox" checked={selected.has(o.id)} disabled={!backend} onChange={() => toggle(o.id)} />
              <span className="trevor-title">{o.title || o.filename}</span>
            </label>
            <VerdictBadge verdict={o.verdict} />
            <div className="trevor-sub">
              {o.statbarn ?? 'no statbarn'} · {o.filename}
              {o.version ? ` · v${o.version} in notebook` : ''}
              {o.provenance?.notebook_path ? ` · ${o.provenance.notebook_path}` : ''}
              {o.created_at && (
                <>
                  {' · tagged '}
                  <When iso={o.created_at} />
                </>
              )}
            </div>
            {verdictFindings(o.verdict).length > 0 && (
              <ul className="trevor-findings">
                {verdictFindings(o.verdict).map((f, i) => (
                  <li key={i}>{describeFinding(f)}</li>
                ))}
              </ul>
            )}
          </li>
        ))}
      </ul>
      {backend && selected.size > 0 && (
        <div className="trevor-add">
          <select value={target} onChange={e => setTarget(e.target.value)} aria-label="Target request">
            <option value="new">New request…</option>
            {editable.map(r => (
              <option key={r.id} value={r.id}>
                {r.title} ({statusBadge(r.status).label})
              </option>
            ))}
          </select>
          {target === 'new' && !props.project && (
            <select value={chosenProject} onChange={e => setChosenProject(e.target.value)} aria-label="Project">
              <option value="">Project…</option>
              {projects.map(p => (
                <option key={p.id} value={p.id}>
                  {p.name}
                </option>
              ))}
            </select>
          )}
          {target === 'new' && (
            <input
              placeholder="Request title"
              value={title}
              onChange={e => setTitle(e.target.value)}
              aria-label="New request title"
            />
          )}
          <button className="jp-mod-styled jp-mod-accept" disabled={busy} onClick={add}>
            Add {selected.size} to request
          </button>
        </div>
      )}
    </section>
  );
}

// -- requests -----------------------------------------------------------------------------------

function RequestsSection(props: {
  requests: RequestOut[];
  onOpen: (rid: string) => void;
  onReload: () => void;
}): JSX.Element {
  return (
    <section className="trevor-section">
      <div className="trevor-section-head">
        <h3>My requests</h3>
        <button className="trevor-link" onClick={props.onReload}>
          Refresh
        </button>
      </div>
      {props.requests.length === 0 && <p className="trevor-empty">No requests yet.</p>}
      <ul className="trevor-list">
        {props.requests.map(r => (
          <li key={r.id} className="trevor-request">
            <button className="trevor-link trevor-title" onClick={() => props.onOpen(r.id)}>
              {r.title}
            </button>
            <StatusBadge status={r.status} />
            <div className="trevor-sub">
              {r.project} · revision {r.revision} · {currentObjects(r.objects).length} object(s)
            </div>
          </li>
        ))}
      </ul>
    </section>
  );
}

function RequestView(props: {
  rid: string;
  /** Changes whenever a live event says this request changed. */
  reloadSignal: number;
  outputs: TaggedOutput[];
  statbarns: Statbarn[] | null;
  notify: (e: unknown, tone?: 'error' | 'info') => void;
  onBack: () => void;
  onChanged: (r: RequestOut) => void;
}): JSX.Element {
  const { rid, notify, onChanged } = props;
  const [req, setReq] = React.useState<RequestOut | null>(null);
  const [feedback, setFeedback] = React.useState<{
    reviews: ReviewOut[] | null;
    report: AgentReportOut | null;
    note: string[];
  }>({ reviews: null, report: null, note: [] });
  const [release, setRelease] = React.useState<ReleaseOut | null>(null);
  const [busy, setBusy] = React.useState(false);
  // Objects whose description is missing, after a refused submit: their forms open with an error.
  const [mustDescribe, setMustDescribe] = React.useState<Set<string>>(new Set());

  const load = React.useCallback(() => {
    api.request(rid).then(r => {
      setReq(r);
      onChanged(r);
    }, notify);
  }, [rid, notify, onChanged]);

  React.useEffect(load, [load, props.reloadSignal]);

  // Feedback follows the request's state and revision, not every reload of the same request.
  const status = req?.status;
  const revision = req?.revision;
  React.useEffect(() => {
    if (!status || status === 'DRAFT') {
      return;
    }
    // Feedback and the agent report exist only once a request was submitted; failures are
    // shown where the feedback would be.
    const note: string[] = [];
    Promise.all([
      api.reviews(rid).catch(e => {
        note.push(`Checker feedback unavailable: ${describeError(e)}`);
        return null;
      }),
      api.report(rid).catch(e => {
        note.push(`Automatic report unavailable: ${describeError(e)}`);
        return null;
      })
    ]).then(([reviews, report]) => setFeedback({ reviews, report, note }));
    if (status === 'RELEASED') {
      api.release(rid).then(setRelease, notify);
    }
  }, [rid, status, revision, notify]);

  if (!req) {
    return (
      <section className="trevor-section">
        <button className="trevor-link" onClick={props.onBack}>
          ← Back
        </button>
        <p>Loading…</p>
      </section>
    );
  }
  const actions = allowedActions(req);
  const blockers = submitBlockers(req);

  const act = async (action: 'submit' | 'withdraw' | 'resubmit') => {
    if (action === 'withdraw' && !window.confirm('Withdraw this request? This cannot be undone.')) {
      return;
    }
    if (action !== 'withdraw') {
      // Checkers cannot judge an output nobody described: refused here, before the backend.
      const undescribed = currentObjects(req.objects).filter(o => !(o.metadata.description ?? '').trim());
      setMustDescribe(new Set(undescribed.map(o => o.id)));
      if (undescribed.length > 0) {
        const names = undescribed.map(o => o.metadata.title || o.filename).join(', ');
        notify(`Describe every output for the output checkers before submitting: ${names}.`);
        return;
      }
    }
    setBusy(true);
    try {
      const r = await api.transition(rid, action);
      setReq(r);
      props.onChanged(r);
    } catch (e) {
      notify(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="trevor-section trevor-request-view">
      <button className="trevor-link" onClick={props.onBack}>
        ← All requests
      </button>
      <h3>
        {req.title} <StatusBadge status={req.status} />
      </h3>
      <div className="trevor-sub">
        {req.project} · revision {req.revision} · created by {req.created_by}
      </div>
      {req.description && <p>{req.description}</p>}

      <div className="trevor-actions">
        {actions.includes('submit') && (
          <button className="jp-mod-styled jp-mod-accept" disabled={busy} onClick={() => act('submit')}>
            Submit for review
          </button>
        )}
        {actions.includes('resubmit') && (
          <button className="jp-mod-styled jp-mod-accept" disabled={busy} onClick={() => act('resubmit')}>
            Resubmit
          </button>
        )}
        {actions.includes('download_release') && release?.url && (
          // Through the server extension: a TRE browser cannot reach the backend itself.
          <a
            className="jp-mod-styled jp-mod-accept trevor-download"
            href={api.releaseDownloadUrl(rid)}
            download={release.filename ?? true}
          >
            Download released package ({formatBytes(release.size)})
          </a>
        )}
        {actions.includes('download_release') && release?.url && (
          <span className="trevor-sub">
            {release.filename} · sha256 {release.sha256.slice(0, 12)}… ·{' '}
            {release.expires_at ? <When iso={release.expires_at} prefix="link expires" /> : 'link never expires'}
          </span>
        )}
        {actions.includes('download_release') && release && !release.url && (
          <span className="trevor-sub">The release link has expired; ask an administrator to refresh it.</span>
        )}
      </div>
      {(req.status === 'DRAFT' || req.status === 'CHANGES_REQUESTED') && blockers.length > 0 && (
        <ul className="trevor-blockers">
          {blockers.map(b => (
            <li key={b}>{b}</li>
          ))}
        </ul>
      )}
      {feedback.note.map(n => (
        <p key={n} className="trevor-sub">
          {n}
        </p>
      ))}
      {agentSummary(feedback.report) && (
        <p className="trevor-report">Automatic check: {agentSummary(feedback.report)}</p>
      )}
      <ReviewSummary reviews={feedback.reviews} />

      <ul className="trevor-list">
        {currentObjects(req.objects).map(o => (
          <ObjectCard
            key={o.id}
            rid={rid}
            obj={o}
            req={req}
            editable={actions.includes('edit_metadata')}
            outputs={props.outputs}
            statbarns={props.statbarns}
            comments={publicComments(feedback.reviews, o.id)}
            agent={agentResult(feedback.report, o.id)}
            mustDescribe={mustDescribe.has(o.id)}
            notify={notify}
            onChanged={load}
          />
        ))}
      </ul>
      {actions.includes('withdraw') && (
        // Apart from Submit, and confirmed: withdrawing cannot be undone.
        <div className="trevor-danger">
          <button className="jp-mod-styled jp-mod-warn" disabled={busy} onClick={() => act('withdraw')}>
            Withdraw request…
          </button>
        </div>
      )}
    </section>
  );
}

function formatBytes(n: number): string {
  const units = ['bytes', 'KB', 'MB', 'GB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return i === 0 ? `${n} bytes` : `${v.toFixed(1)} ${units[i]}`;
}

function metadataForm(o: ObjectOut): MetadataForm {
  return {
    title: o.metadata.title ?? '',
    description: o.metadata.description ?? '',
    statbarn: o.metadata.statbarn ?? '',
    justification: o.metadata.justification ?? '',
    suppression_notes: o.metadata.suppression_notes ?? ''
  };
}

function ObjectCard(props: {
  rid: string;
  obj: ObjectOut;
  req: RequestOut;
  editable: boolean;
  outputs: TaggedOutput[];
  statbarns: Statbarn[] | null;
  comments: string[];
  agent: ReturnType<typeof agentResult>;
  mustDescribe: boolean;
  notify: (e: unknown, tone?: 'error' | 'info') => void;
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

// -- inbox --------------------------------------------------------------------------------------

function InboxSection(props: {
  app: JupyterFrontEnd;
  files: InboxFile[];
  backend: boolean;
  notify: (e: unknown, tone?: 'error' | 'info') => void;
  onFiles: (f: InboxFile[]) => void;
  onReload: () => void;
}): JSX.Element {
  const [busy, setBusy] = React.useState(false);
  const check = async () => {
    setBusy(true);
    try {
      const r = await api.deliverInbox();
      props.onFiles(r.items);
      const delivered = r.results.filter(x => x.status === 'delivered').length;
      const problems = r.results.filter(x => x.status === 'rejected' || x.status === 'failed');
      for (const p of problems) {
        props.notify(`Delivery of ${p.filename} ${p.status}: ${p.detail ?? ''}`);
      }
      props.notify(delivered ? `${delivered} file(s) delivered.` : 'No new deliveries.', 'info');
    } catch (e) {
      props.notify(e);
    } finally {
      setBusy(false);
    }
  };
  const open = (path: string) => {
    props.app.commands.execute('filebrowser:go-to-path', { path }).catch(props.notify);
  };
  return (
    <section className="trevor-section">
      <div className="trevor-section-head">
        <h3>Inbox</h3>
        {props.backend && (
          <button className="trevor-link" disabled={busy} onClick={check}>
            Check for deliveries
          </button>
        )}
      </div>
      {props.files.length === 0 && <p className="trevor-empty">No delivered files.</p>}
      <ul className="trevor-list">
        {props.files.map(f => (
          <li key={f.path}>
            <button className="trevor-link" onClick={() => open(f.path)} title={f.path}>
              {f.filename}
            </button>
            <span className="trevor-sub">
              {' '}
              · request {f.request_id} · {f.size} bytes
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}

export class AirlockWidget extends ReactWidget {
  review: Review | undefined;

  constructor(private readonly props: PanelProps) {
    super();
    this.addClass('trevor-airlock');
    this.id = 'trevor-airlock';
    this.title.caption = 'Airlock';
  }

  render(): JSX.Element {
    return <AirlockPanel {...this.props} review={this.review} />;
  }
}
