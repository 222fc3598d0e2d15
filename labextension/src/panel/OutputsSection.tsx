/**
 * The tagged outputs with their pre-check verdicts, and adding the chosen ones to a new or an
 * editable request.
 */
import * as React from 'react';

import { api } from '../api';
import type { RequestOut } from '../contract.gen';
import { allowedActions, statusBadge } from '../logic/actions';
import type { TaggedOutput } from '../logic/types';
import { describeFinding, verdictFindings } from '../logic/verdict';
import { describeError } from '../problem';
import { VerdictBadge } from './badges';
import type { Notify } from './useNotices';
import { When } from './when';

type Project = { id: string; name: string };

/** The projects the user is a researcher on; the only one is chosen for them. */
function useMyProjects(enabled: boolean, notify: Notify): [Project[], string, (id: string) => void] {
  const [projects, setProjects] = React.useState<Project[]>([]);
  const [chosen, setChosen] = React.useState('');
  React.useEffect(() => {
    if (!enabled) {
      return;
    }
    api.projects().then(items => {
      const mine = items.filter(p => !p.my_role || p.my_role === 'researcher');
      setProjects(mine);
      if (mine.length === 1) {
        setChosen(mine[0].id);
      }
    }, notify);
  }, [enabled, notify]);
  return [projects, chosen, setChosen];
}

export function OutputsSection(props: {
  outputs: TaggedOutput[];
  requests: RequestOut[];
  backend: boolean;
  project: string;
  notify: Notify;
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
  const [projects, chosenProject, setChosenProject] = useMyProjects(backend && !props.project, notify);
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
