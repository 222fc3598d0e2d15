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

import type { Decision, ObjectAgentReport, ObjectOut } from '../contract.gen';
import { currentObjects } from '../logic/actions';
import { describeError, TrevorAPIError } from '../problem';
import { AgentFindings } from './AgentFindings';
import { reviewApi } from './api';
import { reviewsToShow } from './blinding';
import { DECISION_LABEL, DecisionForm } from './DecisionForm';
import { draftKey, objectDraft, prepareReview, updateObject, type Draft } from './draft';
import { keyCommand, move } from './keys';
import type { ReviewModel } from './model';
import { ObjectPane } from './ObjectPane';
import { EarlierReviews, Submitted } from './ReviewsList';
import { useDraft, useReviewedRequest } from './useReview';

const VERDICT_ICON = { pass: '✓', review: '?', fail: '✗' } as const;

export interface ReviewViewProps {
  rid: string;
  model: ReviewModel;
  state: IStateDB | null;
}

export function ReviewView({ rid, model, state }: ReviewViewProps): JSX.Element {
  const { data, loadError, load } = useReviewedRequest(rid, model);
  const [selected, setSelected] = React.useState(0);
  const [problem, setProblem] = React.useState<{ text: string; fields: Record<string, string> } | null>(null);
  const [busy, setBusy] = React.useState(false);
  // The revision this view submitted a review for (the reviews list may lag behind it).
  const [submitted, setSubmitted] = React.useState<number | null>(null);
  const me = model.state.me?.username ?? '';

  const objects: ObjectOut[] = React.useMemo(() => currentObjects(data?.req.objects ?? []), [data?.req]);
  const objectIds = React.useMemo(() => objects.map(o => o.id), [objects]);
  const revision = data?.req.revision ?? 0;

  const [draft, saveDraft] = useDraft(rid, data !== null, revision, objectIds, state);
  const change = (next: Draft) => {
    saveDraft(next);
    setProblem(null);
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
