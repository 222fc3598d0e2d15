/**
 * The split-pane review view (a main-area widget): objects on the left, the selected object
 * in the centre, the agent's report and the decision form on the right. Keyboard: j/k move,
 * a/c/r decide, Ctrl/⌘+Enter submits (keys.ts); every action has a button too.
 *
 * The form is a draft kept in JupyterLab's state database until it is submitted, so neither a
 * live reload of the request nor closing the view loses it. Blinding: before the checker's own
 * review of this revision is in, nothing of another review of it is shown (blinding.ts).
 */
import type { IStateDB } from '@jupyterlab/statedb';
import * as React from 'react';

import type {
  AgentReport,
  Decision,
  ObjectAgentReport,
  ObjectOut,
  RequestOut,
  ReviewList,
  ReviewOut
} from '../contract.gen';
import { currentObjects } from '../logic/actions';
import { describeError, TrevorAPIError } from '../problem';
import { reviewApi } from './api';
import { reviewsToShow } from './blinding';
import {
  draftKey,
  emptyDraft,
  objectDraft,
  prepareReview,
  restoreDraft,
  suggestedOverall,
  updateObject,
  type Draft
} from './draft';
import { keyCommand, move } from './keys';
import type { ReviewModel } from './model';
import { ObjectPane } from './ObjectPane';

export const DECISION_LABEL: Record<Decision, string> = {
  approve: 'Approve',
  changes_requested: 'Request changes',
  reject: 'Reject'
};
const DECISION_KEY: Record<Decision, string> = { approve: 'a', changes_requested: 'c', reject: 'r' };
const VERDICT_ICON = { pass: '✓', review: '?', fail: '✗' } as const;

interface Loaded {
  req: RequestOut;
  report: AgentReport | null;
  reviews: ReviewList | null;
}

export interface ReviewViewProps {
  rid: string;
  model: ReviewModel;
  state: IStateDB | null;
}

export function ReviewView({ rid, model, state }: ReviewViewProps): JSX.Element {
  // The queue already holds the request: render from it at once (the objects start loading)
  // while the full request, the report and the reviews are fetched.
  const [data, setData] = React.useState<Loaded | null>(() => {
    const queued = model.state.items?.find(i => i.request.id === rid)?.request;
    return queued ? { req: queued, report: null, reviews: null } : null;
  });
  const [loadError, setLoadError] = React.useState<string | null>(null);
  const [selected, setSelected] = React.useState(0);
  const [draft, setDraft] = React.useState<Draft | null>(null);
  const [problem, setProblem] = React.useState<{ text: string; fields: Record<string, string> } | null>(null);
  const [busy, setBusy] = React.useState(false);
  // The revision this view submitted a review for (the reviews list may lag behind it).
  const [submitted, setSubmitted] = React.useState<number | null>(null);
  const me = model.state.me?.username ?? '';

  const load = React.useCallback(async () => {
    try {
      const [req, report, reviews] = await Promise.all([
        reviewApi.request(rid),
        reviewApi.report(rid).catch(() => null),
        reviewApi.reviews(rid).catch(() => null)
      ]);
      setData({ req, report: report?.report ?? null, reviews });
      setLoadError(null);
    } catch (e) {
      setLoadError(describeError(e));
    }
  }, [rid]);

  React.useEffect(() => {
    void load();
    // Reload in place when the event stream says the request changed; the draft is separate
    // state and survives it.
    const onChange = (_: unknown, changed: string) => {
      if (changed === rid) {
        void load();
      }
    };
    model.requestChanged.connect(onChange);
    return () => {
      model.requestChanged.disconnect(onChange);
    };
  }, [load, model, rid]);

  const objects: ObjectOut[] = React.useMemo(() => currentObjects(data?.req.objects ?? []), [data?.req]);
  const objectIds = React.useMemo(() => objects.map(o => o.id), [objects]);
  const revision = data?.req.revision ?? 0;

  // The draft of this revision: read once from the state database, then written on change.
  React.useEffect(() => {
    if (!data) {
      return;
    }
    if (draft && draft.revision === revision) {
      return;
    }
    const fresh = emptyDraft(rid, revision);
    if (!state) {
      setDraft(fresh);
      return;
    }
    state.fetch(draftKey(rid, revision)).then(
      raw => setDraft(restoreDraft(raw, rid, revision, objectIds) ?? fresh),
      () => setDraft(fresh)
    );
  }, [data, draft, revision, rid, state, objectIds]);

  const change = (next: Draft) => {
    setDraft(next);
    setProblem(null);
    if (state) {
      void state.save(draftKey(rid, next.revision), next as unknown as never);
    }
  };

  const shown = reviewsToShow(data?.reviews, revision);
  const mineIn = shown.mine !== null || submitted === revision;
  const current = objects[Math.min(selected, Math.max(0, objects.length - 1))];

  const decide = (oid: string, decision: Decision) => {
    if (draft && !mineIn) {
      change(updateObject(draft, oid, { decision }));
    }
  };

  const submit = async () => {
    if (!draft || mineIn || busy) {
      return;
    }
    const prepared = prepareReview(draft, objectIds);
    if (!prepared.body) {
      const titles = new Map(objects.map(o => [o.id, o.metadata.title || o.filename]));
      setProblem({
        text:
          'Not submitted: ' +
          prepared.problems.map(p => (p.objectId ? `${titles.get(p.objectId)} ${p.detail}` : p.detail)).join('; '),
        fields: {}
      });
      return;
    }
    setBusy(true);
    try {
      const result = await reviewApi.submit(rid, prepared.body);
      setSubmitted(result.review.revision);
      if (state) {
        await state.remove(draftKey(rid, revision));
      }
      await load();
      void model.reload();
    } catch (e) {
      const fields: Record<string, string> = {};
      if (e instanceof TrevorAPIError) {
        for (const err of e.problem.errors ?? []) {
          fields[err.pointer] = err.detail;
        }
      }
      // Shown next to the form, never swallowed: 409 already reviewed, 403, field errors…
      setProblem({ text: describeError(e), fields });
    } finally {
      setBusy(false);
    }
  };

  const onKeyDown = (e: React.KeyboardEvent) => {
    const t = e.target as HTMLElement;
    const inTextField = ['INPUT', 'TEXTAREA', 'SELECT'].includes(t.tagName) || t.isContentEditable;
    const cmd = keyCommand({ key: e.key, ctrlKey: e.ctrlKey, metaKey: e.metaKey, altKey: e.altKey, inTextField });
    if (!cmd) {
      return;
    }
    e.preventDefault();
    e.stopPropagation();
    if (cmd.kind === 'move') {
      setSelected(i => move(i, cmd.delta, objects.length));
    } else if (cmd.kind === 'decide' && current) {
      decide(current.id, cmd.decision);
    } else if (cmd.kind === 'submit') {
      void submit();
    }
  };

  if (loadError && !data) {
    return (
      <div className="trevor-review" role="alert">
        {loadError}
      </div>
    );
  }
  if (!data || !draft) {
    return <div className="trevor-review">Loading…</div>;
  }
  const agentFor = (oid: string): ObjectAgentReport | undefined => data.report?.objects?.[oid];

  return (
    <div className="trevor-review" onKeyDown={onKeyDown} tabIndex={-1}>
      <header className="trevor-review-head">
        <h2>{data.req.title}</h2>
        <span className="trevor-sub">
          {data.req.project} · revision {revision} · by {data.req.created_by} · {data.req.status.replace(/_/g, ' ')}
        </span>
        {data.report && (
          <span className={`trevor-badge trevor-verdict-${data.report.recommendation}`}>
            Automatic check: {data.report.recommendation}
          </span>
        )}
        <span className="trevor-sub trevor-keys" aria-hidden="true">
          j/k next/previous · a/c/r decide · Ctrl+Enter submit
        </span>
      </header>
      {loadError && (
        <div className="trevor-notice trevor-notice-error" role="alert">
          {loadError}
        </div>
      )}
      <div className="trevor-review-panes">
        <nav className="trevor-review-objects" aria-label="Objects">
          <ul
            role="listbox"
            aria-label={`Objects (${objects.length})`}
            aria-activedescendant={current ? `trevor-obj-${current.id}` : undefined}
            tabIndex={0}
          >
            {objects.map((o, i) => {
              const verdict = agentFor(o.id)?.status;
              const mine = objectDraft(draft, o.id).decision;
              return (
                <li
                  key={o.id}
                  id={`trevor-obj-${o.id}`}
                  role="option"
                  aria-selected={i === selected}
                  className={i === selected ? 'trevor-selected' : ''}
                  onClick={() => setSelected(i)}
                >
                  <span
                    className={`trevor-verdict-icon trevor-verdict-${verdict ?? 'none'}`}
                    title={`Automatic check: ${verdict ?? 'none'}`}
                  >
                    {verdict ? VERDICT_ICON[verdict] : '·'}
                  </span>{' '}
                  <span className="trevor-title">{o.metadata.title || o.filename}</span>
                  <div className="trevor-sub">
                    {o.metadata.statbarn ?? 'no statbarn'} · v{o.version}
                    {mine ? ` · ${DECISION_LABEL[mine]}` : ''}
                  </div>
                </li>
              );
            })}
          </ul>
        </nav>
        <main className="trevor-review-centre" aria-label="Selected object">
          {current ? (
            <ObjectPane key={current.id} rid={rid} obj={current} agent={agentFor(current.id)} me={me} />
          ) : (
            <p>No current objects.</p>
          )}
        </main>
        <aside className="trevor-review-side" aria-label="Automatic report and decision">
          {current && <AgentFindings agent={agentFor(current.id)} report={data.report} />}
          {mineIn ? (
            <Submitted shown={reviewsToShow(data.reviews, revision)} objects={objects} />
          ) : (
            <DecisionForm
              draft={draft}
              objects={objects}
              current={current}
              busy={busy}
              problem={problem}
              onDecide={decide}
              onChange={change}
              onSubmit={() => void submit()}
            />
          )}
          {!mineIn && shown.others.length > 0 && <EarlierReviews reviews={shown.others} objects={objects} />}
        </aside>
      </div>
    </div>
  );
}

function AgentFindings({
  agent,
  report
}: {
  agent: ObjectAgentReport | undefined;
  report: AgentReport | null;
}): JSX.Element {
  return (
    <section className="trevor-review-block" aria-label="Automatic report for this object">
      <h4>Automatic check</h4>
      {!agent && <p className="trevor-sub">No automatic result for this object.</p>}
      {agent && (
        <>
          <p>
            <span className={`trevor-badge trevor-verdict-${agent.status}`}>{agent.status}</span> {agent.summary}
          </p>
          <ul className="trevor-findings">
            {(agent.findings ?? []).map((f, i) => (
              <li key={i} className={`trevor-finding-${f.status}`}>
                <b>{f.rule}</b> ({f.status}): {f.message}
                {f.value != null || f.limit != null ? (
                  <span className="trevor-sub">
                    {' '}
                    — value {String(f.value ?? '—')}, limit {String(f.limit ?? '—')}
                  </span>
                ) : null}
              </li>
            ))}
          </ul>
          {agent.suppression && (
            <p className="trevor-sub">
              Suggestion: {agent.suppression.method.replace(/_/g, ' ')} of {(agent.suppression.primary ?? []).length}{' '}
              cell(s)
              {(agent.suppression.secondary ?? []).length
                ? ` and ${(agent.suppression.secondary ?? []).length} more to protect them`
                : ''}
              {agent.suppression.rounding_base ? `, or rounding to base ${agent.suppression.rounding_base}` : ''}.
            </p>
          )}
          {(agent.notes ?? []).map((n, i) => (
            <p key={i} className="trevor-sub">
              {n}
            </p>
          ))}
        </>
      )}
      {report?.narrative && (
        <details>
          <summary>Narrative (generated; it does not decide)</summary>
          <p>{report.narrative}</p>
        </details>
      )}
    </section>
  );
}

function DecisionForm(props: {
  draft: Draft;
  objects: ObjectOut[];
  current: ObjectOut | undefined;
  busy: boolean;
  problem: { text: string; fields: Record<string, string> } | null;
  onDecide: (oid: string, d: Decision) => void;
  onChange: (d: Draft) => void;
  onSubmit: () => void;
}): JSX.Element {
  const { draft, current, objects } = props;
  const o = current ? objectDraft(draft, current.id) : null;
  const index = current ? objects.findIndex(x => x.id === current.id) : -1;
  const fieldError = (name: string) => props.problem?.fields[`/objects/${index}/${name}`];
  const suggested = suggestedOverall(
    draft,
    objects.map(x => x.id)
  );
  const decided = objects.filter(x => objectDraft(draft, x.id).decision !== null).length;
  return (
    <form
      className="trevor-review-block trevor-decision"
      aria-label="Your review"
      onSubmit={e => {
        e.preventDefault();
        props.onSubmit();
      }}
    >
      <h4>Your decision</h4>
      {current && o && (
        <fieldset>
          <legend>{current.metadata.title || current.filename}</legend>
          <div role="radiogroup" aria-label="Decision for this object" className="trevor-decision-buttons">
            {(Object.keys(DECISION_LABEL) as Decision[]).map(d => (
              <button
                key={d}
                type="button"
                role="radio"
                aria-checked={o.decision === d}
                className={`jp-mod-styled trevor-decide-${d}${o.decision === d ? ' trevor-chosen' : ''}`}
                onClick={() => props.onDecide(current.id, d)}
                aria-keyshortcuts={DECISION_KEY[d]}
              >
                {DECISION_LABEL[d]} <kbd>{DECISION_KEY[d]}</kbd>
              </button>
            ))}
          </div>
          {fieldError('decision') && <span className="trevor-field-error">{fieldError('decision')}</span>}
          <Field label="Comment">
            {id => (
              <textarea
                id={id}
                value={o.comment}
                onChange={e => props.onChange(updateObject(draft, current.id, { comment: e.target.value }))}
              />
            )}
          </Field>
          {fieldError('comment') && <span className="trevor-field-error">{fieldError('comment')}</span>}
          <Field label="Who sees the comment">
            {id => (
              <select
                id={id}
                value={o.visibility}
                onChange={e =>
                  props.onChange(
                    updateObject(draft, current.id, { visibility: e.target.value as 'public' | 'private' })
                  )
                }
              >
                <option value="public">Public: the researcher sees it</option>
                <option value="private">Private: checkers only</option>
              </select>
            )}
          </Field>
        </fieldset>
      )}
      <p className="trevor-sub">
        {decided} of {objects.length} object(s) decided.
      </p>
      <Field label="Overall decision">
        {id => (
          <select
            id={id}
            value={draft.overall ?? ''}
            onChange={e => props.onChange({ ...draft, overall: (e.target.value || null) as Decision | null })}
          >
            <option value="">
              {suggested ? `From the objects: ${DECISION_LABEL[suggested]}` : 'From the objects (decide each first)'}
            </option>
            {(Object.keys(DECISION_LABEL) as Decision[]).map(d => (
              <option key={d} value={d}>
                {DECISION_LABEL[d]}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field label="Summary (the researcher sees it once the round closes)">
        {id => (
          <textarea
            id={id}
            value={draft.summary}
            onChange={e => props.onChange({ ...draft, summary: e.target.value })}
          />
        )}
      </Field>
      {props.problem && (
        <div className="trevor-notice trevor-notice-error trevor-submit-error" role="alert">
          {props.problem.text}
        </div>
      )}
      <button
        type="submit"
        className="jp-mod-styled jp-mod-accept"
        disabled={props.busy}
        aria-keyshortcuts="Control+Enter"
      >
        Submit review
      </button>
    </form>
  );
}

/** A labelled control whose accessible name is the label alone (a label wrapping a textarea
 * would add the text typed so far to the name). */
function Field(props: { label: string; children: (id: string) => JSX.Element }): JSX.Element {
  const id = React.useId();
  return (
    <div className="trevor-field">
      <label htmlFor={id}>{props.label}</label>
      {props.children(id)}
    </div>
  );
}

function reviewList(reviews: ReviewOut[], objects: ObjectOut[]): JSX.Element {
  const titles = new Map(objects.map(o => [o.id, o.metadata.title || o.filename]));
  return (
    <ul className="trevor-list">
      {reviews.map(r => (
        <li key={r.id} className="trevor-other-review">
          <b>{r.mine ? 'You' : r.reviewer}</b> (revision {r.revision}): {DECISION_LABEL[r.decision]}
          {r.summary ? ` — ${r.summary}` : ''}
          <ul>
            {r.objects.map(d => (
              <li key={d.object_id}>
                {titles.get(d.object_id) ?? `earlier version ${d.object_id}`}: {DECISION_LABEL[d.decision]}
                {d.comment ? ` — “${d.comment}” (${d.visibility})` : ''}
              </li>
            ))}
          </ul>
        </li>
      ))}
    </ul>
  );
}

function Submitted({ shown, objects }: { shown: ReturnType<typeof reviewsToShow>; objects: ObjectOut[] }): JSX.Element {
  return (
    <section className="trevor-review-block trevor-submitted" aria-label="Reviews">
      <h4>Your review is in</h4>
      {shown.mine && reviewList([shown.mine], objects)}
      <h4>Other reviews</h4>
      {shown.others.length === 0 ? <p className="trevor-sub">None yet.</p> : reviewList(shown.others, objects)}
    </section>
  );
}

function EarlierReviews({ reviews, objects }: { reviews: ReviewOut[]; objects: ObjectOut[] }): JSX.Element {
  return (
    <details className="trevor-review-block">
      <summary>Reviews of earlier revisions</summary>
      {reviewList(reviews, objects)}
    </details>
  );
}
